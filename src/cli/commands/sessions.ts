import crypto from 'node:crypto';
import { Command, Option } from 'commander';
import { openInBrowser } from '../browser.js';
import type { SessionJson, SkahaClient } from '../client.js';
import { colourStatus, relativeTime, Spinner, table } from '../format.js';
import { confirm, print, printJson, UsageError, withClient } from '../run.js';

const TYPES = ['notebook', 'desktop', 'carta', 'contributed', 'firefly', 'headless'];
const FINAL = new Set(['Succeeded', 'Failed']);

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

/** Poll until every session reaches one of `want` (or a final state); returns their last status. */
export async function waitFor(client: SkahaClient, ids: string[], want: (s: SessionJson) => boolean, label: string): Promise<Map<string, string>> {
  const spinner = new Spinner().start(`${label}…`);
  const last = new Map<string, string>();
  try {
    for (;;) {
      const sessions = await Promise.all(ids.map((id) => client.session(id)));
      for (const s of sessions) last.set(s.id, s.status);
      const pending = sessions.filter((s) => !want(s) && !FINAL.has(s.status));
      // A Pending session says what it waits for (e.g. its image pull) in its last event.
      const notes = await Promise.all(sessions.map(async (s) => (s.status === 'Pending' ? lastEventMessage(await client.events(s.id).catch(() => '')) : undefined)));
      spinner.update(`${label}: ${sessions.map((s, i) => `${s.id} ${s.status}${notes[i] ? ` (${notes[i]})` : ''}`).join(', ')}`);
      if (pending.length === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    spinner.stop();
  }
  return last;
}

export function sessionCommands(program: Command): void {
  program
    .command('ps')
    .alias('ls')
    .description('list your sessions (Pending and Running unless --all)')
    .option('-a, --all', 'include finished sessions')
    .addOption(new Option('-t, --type <type>', 'only this session type').choices([...TYPES, 'desktop-app']))
    .option('-s, --status <status>', 'only this status (Pending, Running, Succeeded, Failed, Terminating)')
    .option('-q, --quiet', 'print IDs only')
    .option('--json', 'print the server\'s session objects')
    .addHelpText('after', '\nExamples:\n  skaha ps\n  skaha ps --all --type headless\n  skaha ps --json | jq -r ".[].id"')
    .action(withClient(async (client, opts: { all?: boolean; type?: string; status?: string; quiet?: boolean; json?: boolean }) => {
      let sessions = await client.sessions({ ...(opts.type ? { type: opts.type } : {}), ...(opts.status ? { status: opts.status } : {}) });
      if (!opts.all && !opts.status) sessions = sessions.filter((s) => s.status === 'Pending' || s.status === 'Running');
      sessions.sort((a, b) => a.startTime.localeCompare(b.startTime));
      if (opts.json) return printJson(sessions);
      if (opts.quiet) return print(sessions.map((s) => s.id).join('\n'));
      print(sessions.length ? sessionRows(sessions) : 'no sessions');
    }));

  program
    .command('create')
    .alias('launch')
    .description('launch a session; for headless jobs, the command follows --')
    .argument('<type>', `session type: ${TYPES.join(', ')}`)
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
    .addHelpText('after', '\nExamples:\n  skaha create contributed images.canfar.net/skaha/webapp:1.0 --name web1 --wait\n  skaha create headless images.canfar.net/skaha/headless:1.0 -r 4 --wait -- python3 -c "print(42)"')
    .action(withClient(async (client, type: string, image: string, command: string[], opts: { name?: string; cores?: string; ram?: string; gpus?: string; env: string[]; replicas: string; wait?: boolean; open?: boolean; json?: boolean }) => {
      const replicas = Number(opts.replicas);
      if (!Number.isInteger(replicas) || replicas < 1 || replicas > 512) throw new UsageError('--replicas takes a whole number from 1 to 512');
      if (replicas > 1 && (type === 'desktop' || type === 'firefly')) throw new UsageError(`${type} sessions cannot have replicas`);
      const name = opts.name ?? `${type}-${crypto.randomBytes(2).toString('hex')}`;
      const [cmd, ...args] = command;
      const ids: string[] = [];
      for (let i = 1; i <= replicas; i++) {
        ids.push(await client.create({
          name: replicas > 1 ? `${name}-${i}` : name,
          image,
          type,
          cores: opts.cores,
          ram: opts.ram,
          gpus: opts.gpus,
          cmd,
          args: args.length ? args.join(' ') : undefined,
          env: [...opts.env, ...(replicas > 1 ? [`REPLICA_ID=${i}`, `REPLICA_COUNT=${replicas}`] : [])],
        }));
      }
      if (opts.wait || opts.open) {
        const target = type === 'headless' ? (s: SessionJson) => FINAL.has(s.status) : (s: SessionJson) => s.status === 'Running';
        const last = await waitFor(client, ids, target, 'starting');
        const failed = [...last].filter(([, status]) => status === 'Failed');
        if (failed.length) throw new Error(`${failed.map(([id]) => id).join(', ')} failed: see skaha events ${failed[0]![0]}`);
      }
      if (opts.json) printJson(ids);
      else print(ids.join('\n'));
      if (opts.open) for (const id of ids) openInBrowser((await client.session(id)).connectURL);
    }));

  program
    .command('info')
    .description('everything about sessions')
    .argument('<id...>')
    .option('--json', 'print the server\'s session objects')
    .action(withClient(async (client, ids: string[], opts: { json?: boolean }) => {
      const sessions = await Promise.all(ids.map((id) => client.session(id)));
      if (opts.json) return printJson(sessions.length === 1 ? sessions[0] : sessions);
      print(sessions.map((s) => {
        const fields = Object.entries(s).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]);
        fields.push(['expires', relativeTime(s.expiryTime)]);
        return table(['FIELD', 'VALUE'], fields);
      }).join('\n\n'));
    }));

  program
    .command('logs')
    .description('the output of a session (a desktop\'s includes its apps)')
    .argument('<id>')
    .option('-f, --follow', 'keep printing new output until the session ends')
    .action(withClient(async (client, id: string, opts: { follow?: boolean }) => {
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
    }));

  program
    .command('events')
    .description('what the engine recorded about sessions')
    .argument('<id...>')
    .action(withClient(async (client, ids: string[]) => {
      for (const id of ids) {
        if (ids.length > 1) print(`== ${id}`);
        process.stdout.write(await client.events(id));
      }
    }));

  program
    .command('renew')
    .description('extend sessions to the full lifetime from now')
    .argument('<id...>')
    .action(withClient(async (client, ids: string[]) => {
      for (const id of ids) {
        await client.renew(id);
        print(`${id} renewed, expires ${relativeTime((await client.session(id)).expiryTime)}`);
      }
    }));

  program
    .command('delete')
    .alias('rm')
    .description('delete sessions')
    .argument('<id...>')
    .option('-y, --yes', 'do not ask')
    .action(withClient(async (client, ids: string[], opts: { yes?: boolean }) => {
      if (!opts.yes && !(await confirm(`delete ${ids.join(', ')}?`))) return print('nothing deleted');
      for (const id of ids) {
        await client.delete(id);
        print(`${id} deleted`);
      }
    }));

  program
    .command('prune')
    .description('delete sessions by name prefix, type and status (default: finished headless jobs)')
    .argument('[prefix]', 'only names starting with this (case-insensitive: names are stored lower-case)', '')
    .option('-t, --type <type>', 'session type', 'headless')
    .option('-s, --status <status>', 'status', 'Succeeded')
    .option('-y, --yes', 'do not ask')
    .option('--json', 'print the deleted IDs as JSON')
    .action(withClient(async (client, prefix: string, opts: { type: string; status: string; yes?: boolean; json?: boolean }) => {
      const matching = (await client.sessions({ type: opts.type, status: opts.status })).filter((s) => s.name.startsWith(prefix.toLowerCase()));
      if (matching.length === 0) return opts.json ? printJson([]) : print('nothing to prune');
      if (!opts.yes && !(await confirm(`delete ${matching.length} ${opts.status} ${opts.type} session(s)?`))) return print('nothing deleted');
      for (const s of matching) await client.delete(s.id);
      if (opts.json) printJson(matching.map((s) => s.id));
      else print(matching.map((s) => `${s.id} ${s.name} deleted`).join('\n'));
    }));

  program
    .command('stats')
    .description('platform statistics')
    .option('--json', 'print the server\'s object')
    .action(withClient(async (client, opts: { json?: boolean }) => {
      const stats = (await client.stats()) as { instances?: Record<string, number>; cores?: Record<string, unknown>; ram?: Record<string, unknown> };
      if (opts.json) return printJson(stats);
      const i = stats.instances ?? {};
      const cores = (stats.cores ?? {}) as { requestedCPUCores?: number; cpuCoresAvailable?: number };
      const ram = (stats.ram ?? {}) as { requestedRAM?: string; ramAvailable?: string };
      print(table(['', 'VALUE'], [
        ['sessions', String(i.session ?? 'N/A')], ['desktop apps', String(i.desktopApp ?? 'N/A')], ['headless', String(i.headless ?? 'N/A')], ['total running', String(i.total ?? 'N/A')],
        ['cores requested / available', `${cores.requestedCPUCores ?? 'N/A'} / ${cores.cpuCoresAvailable ?? 'N/A'}`],
        ['RAM requested / available', `${ram.requestedRAM ?? 'N/A'} / ${ram.ramAvailable ?? 'N/A'}`],
      ]));
    }));

  program
    .command('open')
    .description('print a session\'s connect URL and open it in a browser')
    .argument('<id>')
    .action(withClient(async (client, id: string) => {
      const url = (await client.session(id)).connectURL;
      if (!/^https?:/.test(url)) throw new Error(`session ${id} has no URL to open (${url || 'headless'})`);
      print(url);
      openInBrowser(url);
    }));
}
