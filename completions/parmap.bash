# Bash completion for parmap: subcommands, each subcommand's options, the values of the options
# that take a fixed set, and file names where a file is expected. The options are read from the
# subcommand's own --help, so that this file cannot fall behind the command line.
_parmap() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local subs="run plan verify status report config demo" sub="" w
  for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case $w in run|plan|verify|status|report|config|demo) sub=$w; break ;; esac
  done
  if [[ -z $sub ]]; then
    COMPREPLY=($(compgen -W "$subs --help --version" -- "$cur"))
    return
  fi
  case $prev in
    --mode) COMPREPLY=($(compgen -W "append truncate create" -- "$cur")); return ;;
    --progress) COMPREPLY=($(compgen -W "auto live plain json none" -- "$cur")); return ;;
    --output|-o)
      # report writes its page to a file; the others print text or json.
      if [[ $sub == report ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
      else
        COMPREPLY=($(compgen -W "text json" -- "$cur"))
      fi
      return ;;
    --progress-file|--log-file|--report|--reject-file|--dir)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then
    local opts
    opts=$("${COMP_WORDS[0]}" "$sub" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u)
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    # Job files.
    COMPREPLY=($(compgen -f -X '!*.@(yaml|yml)' -- "$cur") $(compgen -d -- "$cur"))
  fi
}
complete -F _parmap parmap
