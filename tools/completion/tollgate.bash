# bash completion for tollgate(8). Installed to
# share/bash-completion/completions/tollgate. tests/tools/docs_test.cc checks
# that every subcommand in the CLI table is listed here.
_tollgate() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  }
  local commands="hash keygen db compile diff sign verify-sig status report log replay approve revoke check mode refresh trust-debs import-blocklist sweep doctor help"
  local common="--config --help"
  if [[ $cword -eq 1 ]]; then
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return
  fi
  case $prev in
    --config|--db|--log|--pubkey|-o|--output|--out|--key|--sign-key|--event-log)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --socket) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --since) COMPREPLY=($(compgen -W "30m 1h 24h 7d 30d all" -- "$cur")); return ;;
    --type) COMPREPLY=($(compgen -W "decision scan start reload install rollback mode overflow read_error mark finding kill" -- "$cur")); return ;;
    --proc-root|--sysctl-dir) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "sha256sum csv" -- "$cur")); return ;;
    --to) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --as) COMPREPLY=($(compgen -W "exec loader library script" -- "$cur")); return ;;
    --label|--ticket|--expires|--sha256|--max-events|--poll-ms|--jobs|-j|--sample-ms) return ;;
    --kill) COMPREPLY=($(compgen -W "$(ls /proc 2>/dev/null | grep -E '^[0-9]+$')" -- "$cur")); return ;;
  esac
  local opts=""
  case ${words[1]} in
    report)  opts="--since --json --yaml --no-scan --log" ;;
    log)     opts="--follow --denied-only --type --json --since --max-events --poll-ms --log" ;;
    replay)  opts="--db --since --pubkey --json --log" ;;
    approve) opts="--label --ticket --expires --recursive --force --sha256 --from-report --since -o --output --interactive --deb --log --socket" ;;
    revoke)  opts="--socket" ;;
    check)   opts="--as --db --pubkey --json" ;;
    mode)
      if [[ $cur != -* ]]; then COMPREPLY=($(compgen -W "audit enforce" -- "$cur")); return; fi
      opts="--force --since --for --db --log --socket" ;;
    refresh) opts="--pre --syslog --db --socket" ;;
    trust-debs)
      if [[ $cur != -* ]]; then COMPREPLY=($(compgen -f -X '!*.deb' -- "$cur")); return; fi
      opts="--apt-hook --socket" ;;
    import-blocklist) opts="--format -o --output" ;;
    status)  opts="--socket --json" ;;
    sweep)   opts="--json --kill --kill-all --yes --sample-ms --db --socket" ;;
    doctor)  opts="--json --fix --proc-root --sysctl-dir --socket" ;;
    compile) opts="-o --output --sign-key --jobs --dry-run --json --dpkg-admindir --strict --install --socket" ;;
    db)
      if [[ $cword -eq 2 ]]; then COMPREPLY=($(compgen -W "verify dump rollback" -- "$cur")); return; fi
      if [[ ${words[2]} == rollback ]]; then opts="--to --socket"; else opts="--pubkey --json"; fi ;;
    diff)    opts="--json" ;;
    sign)    opts="--key --sidecar" ;;
    verify-sig) opts="--pubkey" ;;
    keygen)  opts="--out --force" ;;
    hash)    opts="--json" ;;
    help)    COMPREPLY=($(compgen -W "$commands" -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts $common" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _tollgate tollgate
