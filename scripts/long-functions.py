#!/usr/bin/env python3
"""List C++ functions longer than a limit (default 80 lines) outside tests.

    scripts/long-functions.py            # from the repository root; exit 1 if any
    scripts/long-functions.py --limit 60 --all enforcer policy

Scans the non-test C++ sources (*.cc, *.h under the top-level folders, not
tests/ and not build trees), prints "FILE:LINE: NAME is N lines (limit L)"
for each function body over the limit and exits 1 when there is one that is
not on the ALLOWLIST below. A function's length counts from the line that
holds its name to the line of its closing brace; a lambda or local class
inside a function counts as part of that function.

How it works, and where it can be wrong (good enough for our own style, not
a C++ parser):
  - Comments, string and character literals (also raw strings R"d(...)d")
    are blanked first, so braces inside them do not count.
  - A brace at namespace or class scope opens a function body when the text
    since the previous ';', '{' or '}' has a parameter list and is not a
    class/struct/union/enum/namespace head or an initializer ('= {').
    Constructor init lists with braces ('x_{1}') are followed up to the
    body's brace.
  - Preprocessor lines are ignored; an #if/#else that opens a brace on both
    branches would confuse the count (we have none).
  - Macros that expand to function definitions are not seen.
  - A function-try-block ("f() try {") is counted up to the end of its try
    block; its catch handlers are not counted (we have none).
  - A lambda at namespace scope counts as a function named "lambda".
"""
import argparse
import os
import re
import sys

LIMIT = 80

# Wiring: functions that only build the parts of a binary and pass them
# down (STYLE.md, "Wire in main"). Keep this list short and say why.
ALLOWLIST = {
    # tollgated's run(): parse flags, load config, open the policy, start
    # the engine, the control socket and the signal loop.
    ("enforcer/tollgated.cc", "run"),
}

SOURCE_DIRS = ["common", "hashdb", "policy", "enforcer", "tools", "eventlog", "config", "control"]
EXTENSIONS = (".cc", ".h")

_SCOPE_HEAD = re.compile(r"\b(namespace|class|struct|union|enum)\b")


def blank_comments_and_literals(text):
    """Replaces comments and literals by spaces, keeping newlines."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and i + 1 < n and text[i + 1] == "*":
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and i + 1 < n and text[i + 1] == '"' and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^()\\ ]{0,16})\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i + m.end())
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            # A digit separator (1'000) is not a character literal.
            if c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum() and \
                    re.match(r"[0-9a-fA-F]", text[i - 1]):
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def blank_preprocessor(text):
    lines = text.split("\n")
    out, continued = [], False
    for line in lines:
        is_pp = continued or line.lstrip().startswith("#")
        continued = is_pp and line.rstrip().endswith("\\")
        out.append(" " * len(line) if is_pp else line)
    return "\n".join(out)


def function_name(head):
    """The name before the parameter list of a function head."""
    depth = 0
    # The parameter list is the first top-level '(' after the name; skip
    # template argument lists and attributes.
    for m in re.finditer(r"(operator\s*(\(\)|[^\s(]+)|~?[A-Za-z_]\w*(::~?[A-Za-z_]\w*)*)\s*\(", head):
        name = m.group(1)
        if name in ("if", "for", "while", "switch", "return", "sizeof", "decltype", "alignas", "noexcept"):
            continue
        return re.sub(r"\s+", "", name)
    return "lambda"


def is_function_head(head):
    h = head.strip()
    if not h or "(" not in h:
        return False
    if _SCOPE_HEAD.search(h.split("(")[0]):
        return False
    if re.search(r"=\s*$", h) or re.search(r"\breturn\b", h) or h.startswith("catch"):
        return False
    return True


def scan(path, text):
    """Yields (line, name, length) for each function body in `text`."""
    code = blank_preprocessor(blank_comments_and_literals(text))
    stack = []  # "scope" | "function" | "other"
    head_start = 0
    fn_start_line = fn_name = None
    fn_depth = 0
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if fn_depth:
            if c == "{":
                fn_depth += 1
            elif c == "}":
                fn_depth -= 1
                if fn_depth == 0:
                    end_line = code.count("\n", 0, i) + 1
                    yield fn_start_line, fn_name, end_line - fn_start_line + 1
                    head_start = i + 1
            i += 1
            continue
        if c in ";}":
            if c == "}" and stack:
                stack.pop()
            head_start = i + 1
        elif c == "{":
            head = code[head_start:i]
            if is_function_head(head) and (not stack or stack[-1] == "scope"):
                # A constructor's init list may hold braces (x_{1}): the body
                # is the brace after the last balanced ')' or '}' group.
                m = re.search(r"\)\s*(const|override|final|noexcept|mutable|try|&|&&|->[^{;]*|\s)*$", head)
                init = re.search(r"\)\s*:\s*[^;]*$", head)
                if init and not m and _initializer_open(code, i):
                    i = _skip_braces(code, i)  # a member initializer x_{...}: still the head
                    continue
                if m or init:
                    name = function_name(head)
                    offset = head_start + len(head) - len(head.lstrip())
                    name_pos = code.find(name.split("::")[-1].lstrip("~"), offset, i)
                    fn_start_line = code.count("\n", 0, name_pos if name_pos >= 0 else i) + 1
                    fn_name = name
                    fn_depth = 1
                    i += 1
                    continue
                stack.append("other")
            elif _SCOPE_HEAD.search(head) and "(" not in head.split("{")[0].split("=")[0] or \
                    re.search(r"\bextern\s*$", head.strip()) is not None:
                stack.append("scope")
            else:
                stack.append("other")
            head_start = i + 1
        i += 1


def _skip_braces(code, i):
    """The index just past the brace group that opens at i."""
    depth = 0
    while i < len(code):
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        i += 1
        if depth == 0:
            break
    return i


def _initializer_open(code, i):
    """True when the '{' at i belongs to a member initializer (x_{...})."""
    j = i - 1
    while j >= 0 and code[j].isspace():
        j -= 1
    return j >= 0 and (code[j].isalnum() or code[j] == "_" or code[j] == ">")


def sources(root, dirs):
    for d in dirs:
        base = os.path.join(root, d)
        if not os.path.isdir(base):
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(x for x in dirnames if not x.startswith("build") and x != "tests")
            for f in sorted(filenames):
                if f.endswith(EXTENSIONS) and not f.endswith("_test.cc"):
                    yield os.path.join(dirpath, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="*", help="folders to scan (default: every source folder)")
    ap.add_argument("--limit", type=int, default=LIMIT)
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--all", action="store_true", help="also list allowlisted functions")
    args = ap.parse_args()
    root = os.path.normpath(args.root)
    failing = 0
    for path in sources(root, args.dirs or SOURCE_DIRS):
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for line, name, length in scan(rel, text):
            if length <= args.limit:
                continue
            allowed = (rel, name.split("::")[-1]) in ALLOWLIST
            if allowed and not args.all:
                continue
            print(f"{rel}:{line}: {name} is {length} lines (limit {args.limit}){' [allowlisted: wiring]' if allowed else ''}")
            failing += 0 if allowed else 1
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
