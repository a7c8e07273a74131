import crypto from 'node:crypto';
import { Argument, Command, Option } from 'commander';
import { openInBrowser } from '../browser.js';
import type { SessionJson, SkahaClient } from '../client.js';
import { colourStatus, relativeTime, Spinner, table } from '../format.js';
import { confirm, print, printJson, UsageError, withClient } from '../run.js';
import { LAUNCHABLE_TYPES, SESSION_TYPE_TABLE, type LaunchableType } from '../../sessions/model.js';

/** The session types a launch can ask for (spec §3.5). */
/** The types `skaha create` launches, from the platform's one table of session types. */
export const SESSION_TYPES = [...LAUNCHABLE_TYPES];
const FINAL = new Set(['Succeeded', 'Completed', 'Failed']);

const collect = (value: string, previous: string[]) => [...previous, value];

function sessionRows(sessions: SessionJson[]): string {
  return table(
    ['ID', 'NAME', 'TYPE', 'STATUS', 'IMAGE', 'STARTED', 'EXPIRES'],
    sessions.map((s) => [s.id, s.name, s.type, colourStatus(s.status), s.image, relativeTime(s.startTime), relativeTime(s.expiryTime)]),
  );
}

/** The MESSAGE cell of the last row of a view=events table (spec §3.6), if any. */
export function lastEventMessage(table: string): string | undefined {
  const lines = table.split('\n').filter((l) => l.trim());
  const header = lines[0] ?? '';
  const from = header.indexOf('MESSAGE');
  const to = header.indexOf('FIRST-TIME');
  const last = lines.length > 1 ? lines[lines.length - 1]! : '';
  if (from < 0 || to < 0 || !last) return undefined;
  return last.slice(from, to).trim() || undefined;
}

/** What a wait shows of one session or app: its status and, while Pending, what it waits for. */
interface Progress {
  id: string;
  status: string;
  note?: string | undefined;
}

/**
 * Poll until every item is `done` or in a final state, with a spinner on a terminal (one line per
 * change otherwise); returns their last status by ID.
 */
export async function waitUntil(label: string, poll: () => Promise<Progress[]>, done: (status: string) => boolean): Promise<Map<string, string>> {
  const spinner = new Spinner().start(`${label}…`);
  const last = new Map<string, string>();
  try {
    for (;;) {
      const items = await poll();
      for (const item of items) last.set(item.id, item.status);
      spinner.update(`${label}: ${items.map((i) => `${i.id} ${i.status}${i.note ? ` (${i.note})` : ''}`).join(', ')}`);
      if (items.every((i) => done(i.status) || FINAL.has(i.status))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    spinner.stop();
  }
  return last;
}

/** Sessions' progress; a Pending session says what it waits for (e.g. its image pull) in its last event. */
function sessionProgress(client: SkahaClient, ids: string[]): () => Promise<Progress[]> {
  return () =>
    Promise.all(
      ids.map(async (id) => {
        const s = await client.session(id);
        const note = s.status === 'Pending' ? lastEventMessage(await client.events(id).catch(() => '')) : undefined;
        return { id, status: s.status, note };
      }),
    );
}

/** The one-line error for waited-for sessions that failed, naming where to look. */
export function failedOf(last: Map<string, string>): Error | undefined {
  const failed = [...last].filter(([, status]) => status === 'Failed').map(([id]) => id);
  return failed.length ? new Error(`${failed.join(', ')} failed: see skaha events ${failed[0]}`) : undefined;
}

/** Open `url` in a browser, or say it cannot (on stderr: stdout keeps the command's output). */
function openOrSay(url: string): void {
  if (!openInBrowser(url)) process.stderr.write(`no browser opener (xdg-open) here: open ${url}\n`);
}

export function sessionCommands(program: Command): void {
  program
    .command('ps')
    .alias('ls')
    .description('list your sessions (Pending and Running unless --all)')
    .option('-a, --all', 'include finished sessions')
    .addOption(new Option('-t, --type <type>', 'only this session type').choices([...SESSION_TYPES, 'desktop-app']))
    .option('-s, --status <status>', 'only this status (Pending, Running, Succeeded, Failed, Terminating)')
    .option('-q, --quiet', 'print IDs only')
    .option('--json', "print the server's session objects")
    .addHelpText('after', '\nExamples:\n  skaha ps\n  skaha ps --all --type headless\n  skaha ps --json | jq -r ".[].id"')
    .action(
      withClient(async (client, opts: { all?: boolean; type?: string; status?: string; quiet?: boolean; json?: boolean }) => {
        let sessions = await client.sessions({ ...(opts.type ? { type: opts.type } : {}), ...(opts.status ? { status: opts.status } : {}) });
        if (!opts.all && !opts.status) sessions = sessions.filter((s) => s.status === 'Pending' || s.status === 'Running');
        sessions.sort((a, b) => a.startTime.localeCompare(b.startTime));
        if (opts.json) return printJson(sessions);
        if (opts.quiet) return print(sessions.map((s) => s.id).join('\n'));
        print(sessions.length ? sessionRows(sessions) : 'no sessions');
      }),
    );

  program
    .command('create')
    .alias('launch')
    .description('launch a session; for headless jobs, the command follows --')
    .addArgument(new Argument('<type>', 'session type').choices(SESSION_TYPES))
    .argument('<image>', 'image reference, e.g. images.canfar.net/skaha/headless:1.0')
    .argument('[command...]', 'headless: the command and its arguments (after --)')
    .option('-n, --name <name>', 'session name ([A-Za-z0-9-], default: <type>-<random>)')
    .option('-c, --cores <n>', 'cores (one of `skaha context` options)')
    .option('-m, --ram <GiB>', 'RAM in GiB (one of `skaha context` options)')
    .option('-g, --gpus <n>', 'GPUs')
    .option('-e, --env <KEY=VALUE>', 'environment for headless jobs (repeatable)', collect, [])
    .option('-r, --replicas <n>', 'headless: launch N copies named <name>-<i> with REPLICA_ID and REPLICA_COUNT', '1')
    .option('-w, --wait', 'wait until the session runs (headless: until it finishes), showing progress')
    .option('-o, --open', 'open the connect URL in a browser once it runs')
    .option('--json', 'print the new IDs as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  skaha create contributed images.canfar.net/skaha/webapp:1.0 --name web1 --wait\n  skaha create headless images.canfar.net/skaha/headless:1.0 -r 4 --wait -- python3 -c "print(42)"',
    )
    .action(
      withClient(
        async (
          client,
          type: string,
          image: string,
          command: string[],
          opts: { name?: string; cores?: string; ram?: string; gpus?: string; env: string[]; replicas: string; wait?: boolean; open?: boolean; json?: boolean },
        ) => {
          const replicas = Number(opts.replicas);
          if (!Number.isInteger(replicas) || replicas < 1 || replicas > 512) throw new UsageError('--replicas takes a whole number from 1 to 512');
          if (replicas > 1 && !SESSION_TYPE_TABLE[type as LaunchableType].replicas) throw new UsageError(`${type} sessions cannot have replicas`);
          if (opts.open && type === 'headless') throw new UsageError('headless sessions have nothing to open; use --wait');
          const name = opts.name ?? `${type}-${crypto.randomBytes(2).toString('hex')}`;
          const [cmd, ...args] = command;
          const ids: string[] = [];
          for (let i = 1; i <= replicas; i++) {
            ids.push(
              await client.create({
                name: replicas > 1 ? `${name}-${i}` : name,
                image,
                type,
                cores: opts.cores,
                ram: opts.ram,
                gpus: opts.gpus,
                cmd,
                args: args.length ? args.join(' ') : undefined,
                env: [...opts.env, ...(replicas > 1 ? [`REPLICA_ID=${i}`, `REPLICA_COUNT=${replicas}`] : [])],
              }),
            );
          }
          if (opts.wait || opts.open) {
            // Headless jobs are waited for until they finish, the others until they run.
            const last = await waitUntil('starting', sessionProgress(client, ids), (status) => type !== 'headless' && status === 'Running');
            const failed = failedOf(last);
            if (failed) throw failed;
          }
          if (opts.json) printJson(ids);
          else print(ids.join('\n'));
          if (opts.open) for (const id of ids) openOrSay((await client.session(id)).connectURL);
        },
      ),
    );

  program
    .command('info')
    .description('everything about sessions')
    .argument('<id...>')
    .option('--json', "print the server's session objects (one object for one ID)")
    .addHelpText('after', '\nExamples:\n  skaha info abcd1234\n  skaha info abcd1234 --json | jq -r .connectURL')
    .action(
      withClient(async (client, ids: string[], opts: { json?: boolean }) => {
        const sessions = await Promise.all(ids.map((id) => client.session(id)));
        if (opts.json) return printJson(sessions.length === 1 ? sessions[0] : sessions);
        print(
          sessions
            .map((s) => {
              const fields = Object.entries(s).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]);
              fields.push(['expires', relativeTime(s.expiryTime)]);
              return table(['FIELD', 'VALUE'], fields);
            })
            .join('\n\n'),
        );
      }),
    );

  program
    .command('logs')
    .description("the output of a session (a desktop's includes its apps)")
    .argument('<id>')
    .option('-f, --follow', 'keep printing new output until the session ends')
    .option('--json', 'print {"id", "logs"} (not with --follow)')
    .addHelpText('after', '\nExamples:\n  skaha logs abcd1234\n  skaha logs --follow abcd1234')
    .action(
      withClient(async (client, id: string, opts: { follow?: boolean; json?: boolean }) => {
        if (opts.json && opts.follow) throw new UsageError('--json prints the logs once; leave out --follow');
        if (opts.json) return printJson({ id, logs: await client.logs(id) });
        let shown = 0;
        for (;;) {
          const logs = await client.logs(id);
          if (logs.length > shown) process.stdout.write(logs.slice(shown));
          shown = logs.length;
          if (!opts.follow) return;
          const status = (await client.session(id)).status;
          if (FINAL.has(status) || status === 'Terminating') {
            const rest = await client.logs(id);
            if (rest.length > shown) process.stdout.write(rest.slice(shown));
            return;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      }),
    );

  program
    .command('events')
    .description('what the engine recorded about sessions')
    .argument('<id...>')
    .option('--json', 'print [{"id", "events"}] with the server\'s event table as text')
    .addHelpText('after', '\nExamples:\n  skaha events abcd1234\n  skaha events abcd1234 efgh5678')
    .action(
      withClient(async (client, ids: string[], opts: { json?: boolean }) => {
        if (opts.json) return printJson(await Promise.all(ids.map(async (id) => ({ id, events: await client.events(id) }))));
        for (const id of ids) {
          if (ids.length > 1) print(`== ${id}`);
          process.stdout.write(await client.events(id));
        }
      }),
    );

  program
    .command('renew')
    .description('extend sessions to the full lifetime from now')
    .argument('<id...>')
    .option('--json', "print the renewed sessions' objects")
    .addHelpText('after', '\nExample:\n  skaha renew $(skaha ps -q --type notebook)')
    .action(
      withClient(async (client, ids: string[], opts: { json?: boolean }) => {
        const renewed: SessionJson[] = [];
        for (const id of ids) {
          await client.renew(id);
          const session = await client.session(id);
          renewed.push(session);
          if (!opts.json) print(`${id} renewed, expires ${relativeTime(session.expiryTime)}`);
        }
        if (opts.json) printJson(renewed);
      }),
    );

  program
    .command('delete')
    .alias('rm')
    .description('delete sessions')
    .argument('<id...>')
    .option('-y, --yes', 'do not ask')
    .option('--json', 'print the deleted IDs as JSON')
    .addHelpText('after', '\nExamples:\n  skaha delete abcd1234\n  skaha delete --yes $(skaha ps -q --type headless --status Failed)')
    .action(
      withClient(async (client, ids: string[], opts: { yes?: boolean; json?: boolean }) => {
        if (!opts.yes && !(await confirm(`delete ${ids.join(', ')}?`))) return opts.json ? printJson([]) : print('nothing deleted');
        for (const id of ids) {
          await client.delete(id);
          if (!opts.json) print(`${id} deleted`);
        }
        if (opts.json) printJson(ids);
      }),
    );

  program
    .command('prune')
    .description('delete sessions by name prefix, type and status (default: finished headless jobs)')
    .argument('[prefix]', 'only names starting with this (case-insensitive: names are stored lower-case)', '')
    .addOption(new Option('-t, --type <type>', 'session type').choices([...SESSION_TYPES, 'desktop-app']).default('headless'))
    .option('-s, --status <status>', 'status', 'Succeeded')
    .option('-y, --yes', 'do not ask')
    .option('--json', 'print the deleted IDs as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  skaha prune --yes                                   # finished headless jobs\n  skaha prune batch --status Failed --yes\n  skaha prune web --type contributed --status Running --yes',
    )
    .action(
      withClient(async (client, prefix: string, opts: { type: string; status: string; yes?: boolean; json?: boolean }) => {
        const matching = (await client.sessions({ type: opts.type, status: opts.status })).filter((s) => s.name.startsWith(prefix.toLowerCase()));
        if (matching.length === 0) return opts.json ? printJson([]) : print('nothing to prune');
        if (!opts.yes && !(await confirm(`delete ${matching.length} ${opts.status} ${opts.type} session(s)?`))) return print('nothing deleted');
        for (const s of matching) await client.delete(s.id);
        if (opts.json) printJson(matching.map((s) => s.id));
        else print(matching.map((s) => `${s.id} ${s.name} deleted`).join('\n'));
      }),
    );

  program
    .command('stats')
    .description('platform statistics')
    .option('--json', "print the server's object")
    .addHelpText('after', '\nExamples:\n  skaha stats\n  skaha stats --json | jq .cores')
    .action(
      withClient(async (client, opts: { json?: boolean }) => {
        const stats = (await client.stats()) as { instances?: Record<string, number>; cores?: Record<string, unknown>; ram?: Record<string, unknown> };
        if (opts.json) return printJson(stats);
        const i = stats.instances ?? {};
        const cores = (stats.cores ?? {}) as { requestedCPUCores?: number; cpuCoresAvailable?: number };
        const ram = (stats.ram ?? {}) as { requestedRAM?: string; ramAvailable?: string };
        print(
          table(
            ['', 'VALUE'],
            [
              ['sessions', String(i.session ?? 'N/A')],
              ['desktop apps', String(i.desktopApp ?? 'N/A')],
              ['headless', String(i.headless ?? 'N/A')],
              ['total running', String(i.total ?? 'N/A')],
              ['cores requested / available', `${cores.requestedCPUCores ?? 'N/A'} / ${cores.cpuCoresAvailable ?? 'N/A'}`],
              ['RAM requested / available', `${ram.requestedRAM ?? 'N/A'} / ${ram.ramAvailable ?? 'N/A'}`],
            ],
          ),
        );
      }),
    );

  program
    .command('open')
    .description("print a session's connect URL and open it in a browser")
    .argument('<id>')
    .option('--json', 'print {"id", "connectURL"} and open nothing')
    .addHelpText('after', '\nExamples:\n  skaha open abcd1234\n  skaha open abcd1234 --json')
    .action(
      withClient(async (client, id: string, opts: { json?: boolean }) => {
        const url = (await client.session(id)).connectURL;
        if (!/^https?:/.test(url)) throw new Error(`session ${id} has no URL to open (${url || 'headless'})`);
        if (opts.json) return printJson({ id, connectURL: url });
        print(url);
        openOrSay(url);
      }),
    );
}
