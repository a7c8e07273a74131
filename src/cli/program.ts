import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { adminCommands } from './commands/admin.js';
import { catalogCommands } from './commands/catalog.js';
import { completionCommand } from './commands/completion.js';
import { imageCommands } from './commands/image.js';
import { serveCommand } from './commands/serve.js';
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

/** The whole `skaha` command tree: client commands, `serve`, `admin` and `completion`. */
export function buildProgram(): Command {
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
  imageCommands(program);
  serveCommand(program);
  adminCommands(program);
  completionCommand(program);
  oneLineUsageErrors(program);
  return program;
}
