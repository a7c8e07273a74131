import { Command, Argument } from 'commander';
import { print } from '../run.js';

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

export function bashCompletion(program: Command): string {
  const cases = [...words(program)]
    .map(([path, list]) => `    "${path}") opts="${list.join(' ')}" ;;`)
    .join('\n');
  return `# skaha bash completion: eval "$(skaha completion bash)"
_skaha() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) path="\${path:+$path }\${COMP_WORDS[i]}" ;; esac
  done
  local opts=""
  case "$path" in
${cases}
  esac
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
