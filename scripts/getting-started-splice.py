#!/usr/bin/env python3
"""Splices a run of scripts/getting-started-run.sh into docs/getting-started.md.

    scripts/getting-started-splice.py RUN.log docs/getting-started.md

The doc's prose stays; each fenced block that starts with "$ COMMAND" is
replaced, in order, by the next step of the run: the command (the config
file and its directory written as $C and $E, as the prose explains), its
output and "# exit N". In the output of `tollgate compile`, runs of four or
more indented list lines are elided to one "…" line. The recording date in
the introduction is updated.

Fails, changing nothing, when the run and the doc have a different number
of steps, when a step failed to run at all, or when the result names a
path of the machine that recorded it (/work/, /home/, /root/, a mktemp
directory).
"""
import re
import sys

BUILD_MACHINE_PATHS = re.compile(r"(/work/|/home/|/root/|/tmp/tmp\.|/tmp/tollgate-test\.)")


def parse_run(text):
    header = re.search(r"^\[recorded (\d{4}-\d{2}-\d{2}) on Debian (\d+)[^ ]* with (.+)\]$", text, re.M)
    paths = re.search(r"^\[C=(\S+) E=(\S+)\]$", text, re.M)
    if not header or not paths:
        sys.exit("getting-started-splice: the run log lacks its [recorded ...] or [C=... E=...] line")
    steps, current = [], None
    for line in text.split("\n"):
        if current is None:
            if line.startswith("$ "):
                current = {"cmd": line[2:], "out": []}
            continue
        end = re.fullmatch(r"(.*)\[exit (\d+)\]", line)
        if end:
            if end.group(1):
                current["out"].append(end.group(1))
            current["exit"] = int(end.group(2))
            steps.append(current)
            current = None
        else:
            current["out"].append(line)
    if current is not None:
        sys.exit(f"getting-started-splice: the run stopped inside '$ {current['cmd']}'")
    return header.group(1), header.group(2), paths.group(1), paths.group(2), steps


def elide_lists(lines):
    out, run = [], []

    def flush():
        if len(run) >= 4:
            out.append(f"  … ({len(run)} lines; --json lists them all)")
        else:
            out.extend(run)
        run.clear()

    for line in lines:
        if line.startswith("  "):
            run.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return out


def render(step, config, config_dir):
    cmd = step["cmd"].replace(config, "$C").replace(config_dir, "$E")
    out = step["out"]
    if cmd.startswith("tollgate compile "):
        out = elide_lists(out)
    if step["exit"] in (126, 127) and any("not found" in line for line in out):
        sys.exit(f"getting-started-splice: '$ {cmd}' did not run: {' '.join(out)}")
    return "\n".join([f"$ {cmd}", *out, f"# exit {step['exit']}"])


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().split("\n\n")[1])
    run_path, doc_path = sys.argv[1], sys.argv[2]
    date, debian, config, config_dir, steps = parse_run(open(run_path, encoding="utf-8").read())
    doc = open(doc_path, encoding="utf-8").read()
    blocks = list(re.finditer(r"^```\n(\$ [^\n]*\n.*?)^```$", doc, re.M | re.S))
    if len(blocks) != len(steps):
        sys.exit(f"getting-started-splice: {doc_path} has {len(blocks)} command blocks, the run {len(steps)} steps; "
                 "make the doc's blocks follow scripts/getting-started-run.sh")
    pieces, last = [], 0
    for block, step in zip(blocks, steps):
        new = render(step, config, config_dir)
        old_cmd = block.group(1).split("\n", 1)[0]
        new_cmd = new.split("\n", 1)[0]
        if old_cmd != new_cmd:
            print(f"getting-started-splice: command changed: {old_cmd!r} -> {new_cmd!r}", file=sys.stderr)
        pieces += [doc[last:block.start(1)], new + "\n"]
        last = block.end(1)
    pieces.append(doc[last:])
    result = "".join(pieces)
    result = re.sub(r"Debian \d+(\s+\S+\s+on\s+)\d{4}-\d{2}-\d{2}", lambda m: f"Debian {debian}{m.group(1)}{date}",
                    result, count=1)
    leaked = sorted({m.group(0) for m in BUILD_MACHINE_PATHS.finditer(result)})
    if leaked:
        sys.exit(f"getting-started-splice: the result names build-machine paths ({', '.join(leaked)}); "
                 f"{doc_path} left unchanged")
    with open(doc_path, "w", encoding="utf-8") as f:
        f.write(result)
    print(f"getting-started-splice: {doc_path}: {len(steps)} blocks from {run_path} (recorded {date})")


if __name__ == "__main__":
    main()
