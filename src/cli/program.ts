import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { catalogCommands } from './commands/catalog.js';
import { sessionCommands } from './commands/sessions.js';
import { settingsCommands } from './commands/settings.js';
import { storageCommands } from './commands/storage.js';
import { EXIT } from './run.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** `skaha ps` for the `ps` command: what to type to see its help. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command of the tree, depth first (the program itself first). */
export function allCommands(root: Command): Command[] {
  return [root, ...root.commands.flatMap((c) => allCommands(c))];
}

/**
 * A usage error is one line, like every other error (`skaha: unknown option '--x' (see: skaha ps
 * --help)`), exit 2. Commander's own message is multi-line (a hint, then the help); the hint
 * is kept, the help is one `--help` away.
 */
function oneLineUsageErrors(root: Command): void {
  root.configureOutput({ outputError: () => undefined });
  for (const cmd of allCommands(root)) {
    cmd.exitOverride((err: CommanderError) => {
      if (err.exitCode !== 0) {
        const message = err.message
          .replace(/^error: /, '')
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean)
          .join(' ');
        process.stderr.write(`skaha: ${message} (see: ${commandPath(cmd)} --help)\n`);
      }
      process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
    });
  }
}

/**
 * The first command word of the arguments (after the global `--context NAME`), or undefined
 * when there is none (`skaha`, `skaha --version`).
 */
function commandWord(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--context') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/**
 * Whether the operator commands (serve, admin, image, completion: config, stores, engine,
 * registries, PKI) must be loaded for these arguments. A client command (`skaha ps`) or the
 * version does not load them: they took `skaha ps` from about 90 ms to 450 ms (issue 18).
 * Help of the whole tree, completion, and any word that is not a client command load them all.
 */
function needsOperatorCommands(program: Command, argv: string[] | undefined): boolean {
  if (argv === undefined) return true;
  const word = commandWord(argv);
  if (word === undefined) return !argv.some((a) => a === '-V' || a === '--version');
  return !program.commands.some((c) => c.name() === word || c.aliases().includes(word));
}

/**
 * The `skaha` command tree: client commands always; `serve`, `admin`, `image` and `completion`
 * when the arguments need them (`argv` without the node and script paths; omitted: all of them).
 */
export async function buildProgram(argv?: string[]): Promise<Command> {
  const program = new Command()
    .name('skaha')
    .version(version, '-V, --version', 'print the version of this skaha')
    .description(
      'skaha: container sessions for astronomers. Talks to any skaha server (SKAHA_URL + SKAHA_TOKEN, or `skaha login`); `serve` and `admin` run one.',
    )
    .option('--context <name>', 'use this context of the config file instead of SKAHA_URL or the active context')
    .addHelpText(
      'after',
      '\nExamples:\n  skaha login http://127.0.0.1:8555 --token skt_...\n  skaha create notebook images.canfar.net/skaha/notebook:1.0 --wait --open\n  skaha ps\n\nThe manual: docs/cli.md. Exit status: 0 ok, 1 error, 2 usage.',
    );

  settingsCommands(program);
  sessionCommands(program);
  catalogCommands(program);
  storageCommands(program);
  if (needsOperatorCommands(program, argv)) {
    const [{ imageCommands }, { serveCommand }, { adminCommands }, { completionCommand }] = await Promise.all([
      import('./commands/image.js'),
      import('./commands/serve.js'),
      import('./commands/admin.js'),
      import('./commands/completion.js'),
    ]);
    imageCommands(program);
    serveCommand(program);
    adminCommands(program);
    completionCommand(program);
  }
  oneLineUsageErrors(program);
  return program;
}
