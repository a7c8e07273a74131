import { Command, Argument } from 'commander';
import { print } from '../run.js';
import { SESSION_TYPES } from './sessions.js';

/** Words to complete after each command path ("" is the top level), from the command tree itself. */
function words(program: Command): Map<string, string[]> {
  const table = new Map<string, string[]>();
  const walk = (cmd: Command, path: string) => {
    const subs = cmd.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    const flags = cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f)));
    table.set(path, [...subs, ...flags, '--help']);
    for (const c of cmd.commands) for (const name of [c.name(), ...c.aliases()]) walk(c, path ? `${path} ${name}` : name);
  };
  walk(program, '');
  return table;
}

/** Flags that take a value (`--name <name>`): the word after them is no command. */
function valueFlags(program: Command): string[] {
  const flags = new Set<string>();
  const walk = (cmd: Command) => {
    for (const o of cmd.options) if (o.required || o.optional) for (const f of [o.long, o.short]) if (f) flags.add(f);
    cmd.commands.forEach(walk);
  };
  walk(program);
  return [...flags].sort();
}

export function bashCompletion(program: Command): string {
  const table = words(program);
  const cases = [...table].map(([path, list]) => `    "${path}") opts="${list.join(' ')}" ;;`).join('\n');
  return `# skaha bash completion: eval "$(skaha completion bash)"
_skaha() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" i word
  local valued=" ${valueFlags(program).join(' ')} "
  local known="|${[...table.keys()].filter(Boolean).join('|')}|"
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in
      -*=*) ;;
      -*) [[ "$valued" == *" $word "* ]] && ((i++)) ;;
      *) [[ "$known" == *"|\${path:+$path }$word|"* ]] && path="\${path:+$path }$word" ;;
    esac
  done
  local opts=""
  case "$path" in
${cases}
  esac
  if [[ "$cur" != -* ]]; then
    case "$path" in
      info|logs|events|renew|delete|rm|open|"app launch"|"app ps"|"app delete") opts="$opts $(skaha ps -q 2>/dev/null)" ;;
      create|launch) opts="$opts ${SESSION_TYPES.join(' ')}" ;;
    esac
  fi
  COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -o default -F _skaha skaha
`;
}

export function completionCommand(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script')
    .addArgument(new Argument('<shell>').choices(['bash', 'zsh']))
    .addHelpText('after', '\nExamples:\n  eval "$(skaha completion bash)"     # in ~/.bashrc\n  eval "$(skaha completion zsh)"      # in ~/.zshrc')
    .action((shell: string) => {
      const script = bashCompletion(program);
      print(shell === 'zsh' ? `autoload -U +X bashcompinit && bashcompinit\n${script}` : script);
    });
}
