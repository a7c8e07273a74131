import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import type { SkahaClient } from '../client.js';
import { table } from '../format.js';
import { formatBytes, Progress, StorageClient, type StorageEntry } from '../storage.js';
import { print, printJson, UsageError, withClient } from '../run.js';

/**
 * A remote path as users type it: `/home/alice/x`, `home/alice/x`, `arc:home/alice/x` (as the vos
 * tools write it), or relative to the caller's home (`x`, `` for the home itself).
 */
async function remotePath(client: SkahaClient, typed: string): Promise<string> {
  const plain = typed.replace(/^arc:/, '');
  if (plain.startsWith('/')) return plain.replace(/\/+$/, '') || '/';
  if (/^(home|projects)(\/|$)/.test(plain)) return `/${plain.replace(/\/+$/, '')}`;
  const me = await client.whoami();
  if (!me) throw new UsageError(`this server does not say who you are: give a full path (/home/<you>/${plain})`);
  return `/home/${me}${plain ? `/${plain.replace(/\/+$/, '')}` : ''}`;
}

const kind = (e: StorageEntry) => (e.type === 'container' ? 'dir' : e.type === 'link' ? 'link' : 'file');

export function storageCommands(program: Command): void {
  const storage = program
    .command('storage')
    .description('your files on the platform (/arc/home and /arc/projects, as sessions see them)')
    .addHelpText(
      'after',
      '\nPaths: /home/alice/x, projects/survey/x, arc:home/alice/x, or relative to your home.\n\nExamples:\n  skaha storage ls\n  skaha storage put results.fits data/\n  skaha storage get data/results.fits .\n  skaha storage du',
    );

  storage
    .command('ls')
    .description('list a directory (your home by default)')
    .argument('[path]', 'remote path', '')
    .option('-l, --long', 'sizes, dates, owners')
    .option('--json', 'print the entries as JSON')
    .addHelpText('after', '\nExamples:\n  skaha storage ls\n  skaha storage ls -l projects/survey\n  skaha storage ls data --json')
    .action(
      withClient(async (client, typed: string, opts: { long?: boolean; json?: boolean }) => {
        const { node, children } = await new StorageClient(client).node(await remotePath(client, typed));
        const entries = node.type === 'container' ? children : [node];
        if (opts.json) return printJson(entries);
        if (!opts.long) return print(entries.map((e) => (e.type === 'container' ? `${e.name}/` : e.name)).join('\n') || '(empty)');
        print(
          table(
            ['TYPE', 'SIZE', 'MODIFIED', 'OWNER', 'GROUP', 'NAME'],
            entries.map((e) => [
              kind(e),
              e.type === 'data' ? formatBytes(e.size) : '-',
              e.modified.replace(/\.\d+Z$/, 'Z'),
              e.owner ?? '-',
              e.group ?? '-',
              e.name,
            ]),
          ),
        );
      }),
    );

  storage
    .command('get')
    .description('download a file (to the current directory by default)')
    .argument('<path>', 'remote file')
    .argument('[local]', 'local file or directory', '.')
    .option('--json', 'print what was downloaded as JSON')
    .addHelpText('after', '\nExamples:\n  skaha storage get data/cube.fits\n  skaha storage get /home/alice/notes.txt ~/Downloads/')
    .action(
      withClient(async (client, typed: string, local: string, opts: { json?: boolean }) => {
        const remote = await remotePath(client, typed);
        const got = await new StorageClient(client).get(remote, local, (total) => new Progress(path.posix.basename(remote), total));
        if (opts.json) return printJson({ path: remote, ...got });
        print(`${got.file}  ${formatBytes(got.bytes)}`);
      }),
    );

  storage
    .command('put')
    .description('upload files (into a remote directory, or to a remote file name for one file)')
    .argument('<files...>', 'local files, then the remote destination')
    .option('--json', 'print what was uploaded as JSON')
    .addHelpText('after', '\nExamples:\n  skaha storage put cube.fits data/\n  skaha storage put *.csv projects/survey/catalogues/')
    .action(
      withClient(async (client, args: string[], opts: { json?: boolean }) => {
        if (args.length < 2) throw new UsageError('give the local files and then the remote destination');
        const locals = args.slice(0, -1);
        for (const local of locals) if (!fs.existsSync(local) || !fs.statSync(local).isFile()) throw new UsageError(`not a local file: ${local}`);
        const store = new StorageClient(client);
        const destination = await remotePath(client, args[args.length - 1]!);
        const into =
          locals.length > 1 ||
          (await store
            .node(destination, false)
            .then((n) => n.node.type === 'container')
            .catch(() => false));
        const done = [];
        for (const local of locals) {
          const remote = into ? `${destination}/${path.basename(local)}` : destination;
          done.push(await store.put(local, remote, (total) => new Progress(path.basename(local), total)));
        }
        if (opts.json) return printJson(done);
        print(done.map((d) => `${d.path}  ${formatBytes(d.bytes)}`).join('\n'));
      }),
    );

  storage
    .command('mkdir')
    .description('create directories')
    .argument('<paths...>', 'remote directories (their parents must exist)')
    .option('--json', 'print the directories made as JSON')
    .addHelpText('after', '\nExample:\n  skaha storage mkdir data data/raw')
    .action(
      withClient(async (client, typed: string[], opts: { json?: boolean }) => {
        const store = new StorageClient(client);
        const made: string[] = [];
        for (const t of typed) {
          const remote = await remotePath(client, t);
          await store.mkdir(remote);
          made.push(remote);
        }
        if (opts.json) printJson(made);
      }),
    );

  storage
    .command('rm')
    .description('remove files, or directories with everything in them (-r)')
    .argument('<paths...>', 'remote paths')
    .option('-r, --recursive', 'remove directories and what they hold')
    .option('--json', 'print the paths removed as JSON')
    .addHelpText('after', '\nExamples:\n  skaha storage rm data/old.fits\n  skaha storage rm -r data/scratch')
    .action(
      withClient(async (client, typed: string[], opts: { recursive?: boolean; json?: boolean }) => {
        const store = new StorageClient(client);
        const removed: string[] = [];
        for (const t of typed) {
          const remote = await remotePath(client, t);
          const { node } = await store.node(remote, false);
          if (node.type === 'container' && !opts.recursive) throw new UsageError(`${remote} is a directory: add -r to remove it and what it holds`);
          await store.remove(remote);
          removed.push(remote);
        }
        if (opts.json) printJson(removed);
      }),
    );

  storage
    .command('du')
    .description('how much a directory holds (your home, with its quota, by default)')
    .argument('[path]', 'remote path', '')
    .option('--json', 'print the figures as JSON')
    .addHelpText('after', '\nExamples:\n  skaha storage du\n  skaha storage du projects/survey --json')
    .action(
      withClient(async (client, typed: string, opts: { json?: boolean }) => {
        const remote = await remotePath(client, typed);
        const store = new StorageClient(client);
        const { node } = await store.node(remote, false);
        const { bytes, files } = await store.size(remote);
        const figures = { path: remote, bytes, files, ...(node.quota !== undefined ? { quota: node.quota } : {}) };
        if (opts.json) return printJson(figures);
        const quota = node.quota !== undefined ? ` of a ${formatBytes(node.quota)} quota (${Math.round((100 * bytes) / node.quota)}%)` : '';
        print(`${remote}: ${formatBytes(bytes)} in ${files} files${quota}`);
      }),
    );
}
