import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { cleanupList, launch, projectScript, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { eventually } from '../../helpers/wait.js';
import type { SessionBackend } from '../../../src/backends/backend.js';

/**
 * One suite, every backend (issue 9; style.md: test/contract): what a user and the session
 * service can rely on, whatever runs the sessions. Each case goes through the real API of a real
 * platform wired to the backend under test, so the session service's rules (limits, ownership,
 * the reaper) are part of what is checked, as they are in production.
 */
interface ContractTarget {
  /** Start the engine or cluster the platforms of this suite use. */
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** Platform configuration that selects and configures this backend. */
  config(): Record<string, unknown>;
  /** A backend instance every platform of the suite uses instead of the configured one (in-memory). */
  backend?(): SessionBackend;
  images: { web: string; headless: string; desktop: string; terminal: string; notebook: string };
  /**
   * A headless job launched with `cmd` `true` (exit 0) or `false` (exit 1) ends with that code:
   * on Podman its command does it; Kubernetes under kwok runs no container and is told to.
   */
  finish(sessionId: string, exitCode: number): Promise<void>;
  /**
   * Something answering HTTP at the session's address: on Podman the web image does; under kwok
   * nothing runs in pods, so the test listens on the pod's (loopback) IP itself. Returns a stop.
   */
  serve(address: { host: string; port: number }, body: string): Promise<() => Promise<void>>;
  /** Stop the engine's API (Podman service, kube-apiserver) and start it again. */
  restartEngine(): Promise<void>;
  /** Engine-side checks of a desktop-app: it shares its desktop's display and belongs to it. */
  checkDesktopApp(desktopId: string, appId: string): Promise<void>;
  /** Engine-side check of a deadline (durable where the engine keeps it). */
  deadlineOf(sessionId: string): Promise<number | undefined>;
  /** Whether `view=logs` shows what the container printed (no: simulated nodes run nothing). */
  logsAreReal: boolean;
  /**
   * Wait until what the last case deleted has really left the engine: on a small real node a
   * pod still terminating holds the cores the next case's sessions need.
   */
  settle?(): Promise<void>;
}

type Session = { id: string; status: string; name: string; type: string; startTime: string; expiryTime: string; appid: string; userid: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getSession(tp: TestPlatform, token: string, id: string): Promise<Session | undefined> {
  const r = await tp.request('GET', `/skaha/v0/session/${id}`, { token });
  return r.status === 200 ? (JSON.parse(r.body) as Session) : undefined;
}

export function describeBackendContract(name: string, target: ContractTarget): void {
  describe(`backend contract: ${name}`, () => {
    const cleanups = cleanupList();
    let tp: TestPlatform;
    const start = (overrides: Record<string, unknown> = {}, opts: { dataDir?: string; keepData?: boolean } = {}, onCleanup = cleanups.add) =>
      startPlatform(
        onCleanup,
        { ...target.config(), ...overrides, sessions: { reaperIntervalMs: 500, ...(overrides.sessions as object) } },
        { ...opts, ...(target.backend ? { backend: target.backend() } : {}) },
      );

    before(async () => {
      await target.setUp();
      tp = await start();
    });
    afterEach(async () => {
      await target.settle?.();
    });
    after(async () => {
      await cleanups.run();
      await target.tearDown();
    });

    const web = () => ({ name: 'web', image: target.images.web, type: 'contributed' });
    const headless = (exitCode: number) => ({ name: 'job', image: target.images.headless, type: 'headless', cmd: exitCode === 0 ? 'true' : 'false' });
    const running = async (p: TestPlatform, token: string, id: string): Promise<Session> =>
      (await eventually(
        `session ${id} Running`,
        () => getSession(p, token, id),
        (s) => s?.status === 'Running',
      )) as Session;

    it('creates, lists and gets a session; the proxy reaches it at the address the backend gives', async () => {
      const alice = await tp.newUser();
      const id = await launch(tp, alice.token, web(), 'v1');
      assert.match(id, /^[a-z][a-z0-9]{7}$/);
      // Seen at once (no wait for the engine's events), Pending or already Running.
      const first = await getSession(tp, alice.token, id);
      assert.ok(first, 'listed as soon as create returns');
      assert.match(first.status, /^(Pending|Running)$/);
      const list = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token: alice.token })).body) as Session[];
      assert.deepEqual(
        list.map((s) => [s.id, s.name, s.type, s.userid]),
        [[id, 'web', 'contributed', alice.username]],
      );

      const s = await running(tp, alice.token, id);
      assert.equal(new Date(s.expiryTime).getTime() - new Date(s.startTime).getTime(), 345600 * 1000, 'expiry = start + deadline');
      const address = tp.platform.backend.address(id, 5000);
      assert.ok(address, 'a running session has an address');
      const stop = await target.serve(address, 'contract-upstream');
      try {
        const through = await eventually(
          'the proxy answers',
          () => fetch(`${tp.base}/session/contrib/${id}/`, { headers: { authorization: `Bearer ${alice.token}` } }),
          (r) => r.status === 200,
        );
        assert.match(await through.text(), /contract-upstream|<html|<!DOCTYPE/i);
      } finally {
        await stop();
      }
      await tp.request('DELETE', `/skaha/v1/session/${id}`, { token: alice.token });
    });

    it('runs notebook, CARTA and Firefly sessions on their own ports, reached through the proxy at their connect URLs', async () => {
      const frank = await tp.newUser();
      // Each type's recipe: its image's start, its port, and the path the proxy passes on.
      for (const [type, port, image, real] of [
        ['notebook', 8888, target.images.notebook, /JupyterLab/],
        ['carta', 6901, target.images.web, undefined],
        ['firefly', 8080, target.images.web, undefined],
      ] as const) {
        const id = await launch(tp, frank.token, { name: type, image, type }, 'v1');
        const s = (await running(tp, frank.token, id)) as Session & { connectURL: string };
        assert.equal(s.type, type);
        const address = tp.platform.backend.address(id, port);
        assert.ok(address, `a running ${type} session has an address on port ${port}`);
        const stop = await target.serve(address, `contract-${type}`);
        try {
          const connect = new URL(s.connectURL);
          const through = await eventually(
            `the proxy answers for ${type}`,
            () => fetch(`${tp.base}${connect.pathname}${connect.search}`, { headers: { authorization: `Bearer ${frank.token}` } }),
            (r) => r.status === 200,
            60_000,
          );
          const body = await through.text();
          assert.match(body, new RegExp(`contract-${type}|<html`, 'i'));
          // Where the app is real, it shows itself: JupyterLab's page, or the web app's report of
          // the whole path it saw (CARTA and Firefly serve under it).
          if (target.logsAreReal) assert.match(body, real ?? new RegExp(`/session/${type}/${id}/`));
        } finally {
          await stop();
        }
        assert.equal((await tp.request('DELETE', `/skaha/v1/session/${id}`, { token: frank.token })).status, 200);
        await target.settle?.();
      }
    });

    it('runs headless jobs to Succeeded or Failed, with events and logs', async () => {
      const bob = await tp.newUser();
      const ok = await launch(tp, bob.token, { ...headless(0), cmd: '/bin/echo', args: 'contract-hello' }, 'v1');
      const bad = await launch(tp, bob.token, headless(1), 'v1');
      await Promise.all([target.finish(ok, 0), target.finish(bad, 1)]);
      await eventually(
        'job Succeeded',
        () => getSession(tp, bob.token, ok),
        (s) => s?.status === 'Succeeded',
      );
      await eventually(
        'job Failed',
        () => getSession(tp, bob.token, bad),
        (s) => s?.status === 'Failed',
      );
      const events = (await tp.request('GET', `/skaha/v0/session/${ok}`, { token: bob.token, query: { view: 'events' } })).body;
      const lines = events.trimEnd().split('\n');
      assert.match(lines[0]!, /^TYPE {3,}REASON {3,}MESSAGE {3,}FIRST-TIME {3,}LAST-TIME$/, events);
      assert.ok(lines.length >= 2 && lines.slice(1).every((l) => l.split(/\s{2,}/).length === 5), events);
      const logs = await tp.request('GET', `/skaha/v0/session/${ok}`, { token: bob.token, query: { view: 'logs' } });
      assert.equal(logs.status, 200);
      if (target.logsAreReal) assert.match(logs.body, /contract-hello/);
      else assert.match(logs.body, /^$|^logs of this session are not available: .+\n$/, 'a clear line, not an error');
    });

    it("keeps what a job writes in the user's home for their next session", { skip: !target.logsAreReal && 'nothing runs in this target' }, async () => {
      const kim = await tp.newUser();
      const job = async (script: string) => {
        const id = await launch(tp, kim.token, { ...headless(0), cmd: '/bin/sh', args: projectScript(tp, script) }, 'v1');
        await eventually(
          'job ended',
          () => getSession(tp, kim.token, id),
          (s) => s?.status === 'Succeeded' || s?.status === 'Failed',
        );
        return (await tp.request('GET', `/skaha/v0/session/${id}`, { token: kim.token, query: { view: 'logs' } })).body;
      };
      await job('echo "kept by $(id -u)" > "$HOME/contract-kept.txt"');
      assert.match(await job('cat "$HOME/contract-kept.txt"; id -u'), /^kept by (\d+)\n\1\n$/, 'the next session reads it, as the same uid');
    });

    it('renews: the deadline moves to expiry-from-now, on the engine', async () => {
      const carol = await tp.newUser();
      const id = await launch(tp, carol.token, web(), 'v1');
      const before = await running(tp, carol.token, id);
      await sleep(2100);
      const r = await tp.request('POST', `/skaha/v0/session/${id}`, { token: carol.token, form: { action: 'renew' } });
      assert.equal(r.status, 200, r.body);
      const after = (await eventually(
        'expiry moved',
        () => getSession(tp, carol.token, id),
        (s) => !!s && s.expiryTime > before.expiryTime,
      )) as Session;
      const moved = (new Date(after.expiryTime).getTime() - new Date(before.expiryTime).getTime()) / 1000;
      assert.ok(moved >= 2 && moved < 60, `moved by ${moved} s`);
      const onEngine = await target.deadlineOf(id);
      if (onEngine !== undefined) assert.equal(onEngine, 345600 + moved);
      await tp.request('DELETE', `/skaha/v1/session/${id}`, { token: carol.token });
    });

    it('deletes: Terminating then gone; deleting again changes nothing', async () => {
      const dave = await tp.newUser();
      const id = await launch(tp, dave.token, web(), 'v1');
      await running(tp, dave.token, id);
      assert.equal((await tp.request('DELETE', `/skaha/v1/session/${id}`, { token: dave.token })).status, 200);
      const right = await getSession(tp, dave.token, id);
      assert.ok(!right || right.status === 'Terminating', `right after delete: ${right?.status}`);
      await eventually(
        'session gone',
        () => getSession(tp, dave.token, id),
        (s) => s === undefined,
      );
      assert.equal((await tp.request('DELETE', `/skaha/v1/session/${id}`, { token: dave.token })).status, 404);
      const again = await tp.platform.backend.delete(id);
      assert.deepEqual(await again.removed, [], 'the backend takes a second delete as done');
    });

    it('attaches a desktop-app to its desktop, and removes it with the desktop', async () => {
      const erin = await tp.newUser();
      const desktop = await launch(tp, erin.token, { name: 'desk', image: target.images.desktop, type: 'desktop' }, 'v1');
      await running(tp, erin.token, desktop);
      const r = await tp.request('POST', `/skaha/v0/session/${desktop}/app`, { token: erin.token, form: { image: target.images.terminal } });
      assert.equal(r.status, 200, r.body);
      const appId = r.body.trim();
      await eventually(
        'app Running',
        async () => (await tp.request('GET', `/skaha/v0/session/${desktop}/app/${appId}`, { token: erin.token })).body,
        (b) => /"status": "Running"/.test(b),
      );
      await target.checkDesktopApp(desktop, appId);
      assert.equal((await tp.request('DELETE', `/skaha/v0/session/${desktop}`, { token: erin.token })).status, 200);
      await eventually(
        'app gone with its desktop',
        async () => (await tp.request('GET', `/skaha/v0/session/${desktop}/app/${appId}`, { token: erin.token })).status,
        (s) => s === 404,
      );
      await eventually(
        'desktop gone',
        () => getSession(tp, erin.token, desktop),
        (s) => s === undefined,
      );
    });

    it('expires a session at its deadline', async () => {
      const short = await start({ sessions: { expirySeconds: 3 } });
      const fay = await short.newUser();
      const id = await launch(short, fay.token, web(), 'v1');
      const end = await eventually(
        'expired',
        () => getSession(short, fay.token, id),
        (s) => s === undefined || s.status === 'Failed',
        45_000,
      );
      assert.ok(end === undefined || end.status === 'Failed');
    });

    it('culls an idle notebook, and nothing else', async () => {
      const culling = await start({ sessions: { idleCullSeconds: 3 } });
      const lee = await culling.newUser();
      const notebook = await launch(culling, lee.token, { name: 'nb', image: target.images.notebook, type: 'notebook' }, 'v1');
      const app = await launch(culling, lee.token, web(), 'v1');
      await running(culling, lee.token, notebook);
      await running(culling, lee.token, app);
      await eventually(
        'the idle notebook culled',
        () => getSession(culling, lee.token, notebook),
        (s) => s === undefined,
      );
      assert.equal((await getSession(culling, lee.token, app))?.status, 'Running', 'a web app is never culled');
      await culling.request('DELETE', `/skaha/v1/session/${app}`, { token: lee.token });
    });

    it('limits interactive sessions per user, never headless ones', async () => {
      const limited = await start({ sessions: { maxUserSessions: 1 } });
      const gus = await limited.newUser();
      const first = await launch(limited, gus.token, web(), 'v1');
      const second = await limited.request('POST', '/skaha/v1/session', { token: gus.token, form: web() });
      assert.equal(second.status, 400);
      assert.equal(second.body, `User ${gus.username} has reached the maximum of 1 active sessions.\n`);
      const job = await limited.request('POST', '/skaha/v1/session', { token: gus.token, form: headless(0) });
      assert.equal(job.status, 200, job.body);
      for (const id of [first, job.body.trim()]) await limited.request('DELETE', `/skaha/v1/session/${id}`, { token: gus.token });
    });

    it("keeps users apart: another user's session is not found, and untouched", async () => {
      const owner = await tp.newUser();
      const other = await tp.newUser();
      const id = await launch(tp, owner.token, web(), 'v1');
      assert.equal((await tp.request('GET', `/skaha/v0/session/${id}`, { token: other.token })).status, 404);
      assert.equal((await tp.request('DELETE', `/skaha/v0/session/${id}`, { token: other.token })).status, 404);
      assert.equal((await tp.request('POST', `/skaha/v0/session/${id}`, { token: other.token, form: { action: 'renew' } })).status, 400);
      assert.equal((await tp.request('POST', `/skaha/v0/session/${id}/app`, { token: other.token, form: { image: target.images.terminal } })).status, 404);
      assert.deepEqual(JSON.parse((await tp.request('GET', '/skaha/v0/session', { token: other.token })).body), []);
      const mine = await getSession(tp, owner.token, id);
      assert.ok(mine && mine.status !== 'Terminating', 'the owner still has it');
      await tp.request('DELETE', `/skaha/v1/session/${id}`, { token: owner.token });
    });

    it('rebuilds its index from the engine when our server restarts', async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-contract-'));
      let closeFirst: (() => Promise<void>) | undefined;
      const first = await start({}, { dataDir, keepData: true }, (fn) => void (closeFirst = fn));
      const hal = await first.newUser();
      const id = await launch(first, hal.token, web(), 'v1');
      const job = await launch(first, hal.token, headless(0), 'v1');
      await target.finish(job, 0);
      const started = await running(first, hal.token, id);
      await eventually(
        'job Succeeded',
        () => getSession(first, hal.token, job),
        (s) => s?.status === 'Succeeded',
      );
      await sleep(1100);
      assert.equal((await first.request('POST', `/skaha/v0/session/${id}`, { token: hal.token, form: { action: 'renew' } })).status, 200);
      const renewed = <Session>await eventually(
        'renewed',
        () => getSession(first, hal.token, id),
        (s) => !!s && s.expiryTime > started.expiryTime,
      );
      await closeFirst!();

      const second = await start({}, { dataDir });
      const back = await getSession(second, hal.token, id);
      assert.ok(back, 'listed after the restart');
      assert.deepEqual([back.name, back.status, back.expiryTime], ['web', 'Running', renewed.expiryTime], 'name, state and renewed deadline survive');
      assert.equal((await getSession(second, hal.token, job))?.status, 'Succeeded');
      assert.ok(second.platform.backend.address(id, 5000), 'the proxy can route to it again');
      for (const s of [id, job]) await second.request('DELETE', `/skaha/v1/session/${s}`, { token: hal.token });
      await eventually(
        'deleted after restart',
        () => getSession(second, hal.token, id),
        (s) => s === undefined,
      );
    });

    it('follows the engine again after its API restarts', async () => {
      const ivy = await tp.newUser();
      const before = await launch(tp, ivy.token, web(), 'v1');
      await running(tp, ivy.token, before);
      await target.restartEngine();
      const avail = await eventually(
        'available again',
        async () => (await tp.request('GET', '/skaha/availability')).body,
        (b) => b.includes('<vosi:available>true</vosi:available>'),
        90_000,
      );
      assert.match(avail, /available>true</);
      assert.equal((await getSession(tp, ivy.token, before))?.status, 'Running', 'kept across the restart');
      // Changes after the restart reach the index: a new session runs, a deletion shows.
      const after = await launch(tp, ivy.token, headless(0), 'v1');
      await target.finish(after, 0);
      await eventually(
        'new job Succeeded',
        () => getSession(tp, ivy.token, after),
        (s) => s?.status === 'Succeeded',
      );
      assert.equal((await tp.request('DELETE', `/skaha/v1/session/${before}`, { token: ivy.token })).status, 200);
      await eventually(
        'deletion seen',
        () => getSession(tp, ivy.token, before),
        (s) => s === undefined,
      );
    });
  });
}
