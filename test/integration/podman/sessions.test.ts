import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupList, engine, HEADLESS_IMAGE, launch, projectScript, runJob, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';

const FIELDS = [
  'id',
  'userid',
  'runAsUID',
  'runAsGID',
  'supplementalGroups',
  'appid',
  'image',
  'type',
  'status',
  'name',
  'startTime',
  'expiryTime',
  'connectURL',
  'requestedRAM',
  'requestedCPUCores',
  'requestedGPUCores',
  'ramInUse',
  'gpuRAMInUse',
  'cpuCoresInUse',
  'gpuUtilization',
];

describe('sessions on real Podman', () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add);
  });
  after(() => cleanups.run());

  it('runs a headless job as the user, never root, with its logs and Succeeded', async () => {
    const alice = await tp.newUser();
    const r = await tp.request('POST', '/skaha/v0/session', {
      token: alice.token,
      // As the Python client sends it: everything in the query string, form content type, empty body.
      query: {
        NAME: 'idjob',
        image: HEADLESS_IMAGE,
        type: 'headless',
        cmd: '/bin/sh',
        args: projectScript(tp, 'id; echo "env:$A$B${C:-}"'),
        env: ['A=1', 'B=2', 'bad', 'C=x=y'],
      },
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(r.body, /^[a-z][a-z0-9]{7}\n$/);
    const id = r.body.trim();
    assert.equal(await tp.waitStatus(alice.token, id, ['Succeeded', 'Failed']), 'Succeeded');

    const obj = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token, query: { view: 'event' } })).body);
    assert.deepEqual(Object.keys(obj), FIELDS);
    const user = (await tp.platform.store.findUser(alice.username))!;
    assert.equal(obj.runAsUID, String(user.uid));
    assert.notEqual(obj.runAsUID, '0');
    assert.equal(obj.name, 'idjob');
    assert.equal(obj.connectURL, 'not-applicable');

    const logs = (await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token, query: { view: 'logs' } })).body;
    assert.match(logs, new RegExp(`uid=${user.uid}\\(${alice.username}\\) gid=${user.gid}`));
    // env: A and B kept, `bad` and `C=x=y` dropped (spec §3.5).
    assert.match(logs, /^env:12$/m);

    // v1 says Completed for the same finished job (spec §5.4); status= takes either word on both.
    const on = async (version: string, query: Record<string, string> = {}) =>
      JSON.parse((await tp.request('GET', `/skaha/${version}/session${query.status ? '' : `/${id}`}`, { token: alice.token, query })).body) as
        { status: string } | { id: string; status: string }[];
    assert.equal(((await on('v1')) as { status: string }).status, 'Completed');
    for (const version of ['v0', 'v1']) {
      for (const word of ['Succeeded', 'completed']) {
        const listed = (await on(version, { status: word })) as { id: string; status: string }[];
        assert.deepEqual(
          listed.filter((x) => x.id === id).map((x) => x.status),
          [version === 'v0' ? 'Succeeded' : 'Completed'],
          `${version} status=${word}`,
        );
      }
    }
  });

  it('reports a failing job as Failed, with its exit code in the events', async () => {
    const alice = await tp.newUser();
    const job = await runJob(tp, alice.token, 'exit 3');
    assert.equal(job.status, 'Failed');
    const events = (await tp.request('GET', `/skaha/v0/session/${job.id}`, { token: alice.token, query: { view: 'events' } })).body;
    const lines = events.trimEnd().split('\n');
    assert.match(lines[0]!, /^TYPE {3,}REASON {3,}MESSAGE {3,}FIRST-TIME {3,}LAST-TIME$/);
    assert.ok(
      lines.some((l) => /^Warning +Failed +.*exited with code 3 +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +\d{4}/.test(l)),
      events,
    );
    // The Python client splits rows on runs of 2+ spaces and keeps rows of exactly 5 cells.
    assert.ok(
      lines.slice(1).every((l) => l.split(/\s{2,}/).length === 5),
      events,
    );
  });

  it('answers view=logs with the last MiB of a long log, read as a stream, ending with its last line', async () => {
    const alice = await tp.newUser();
    // 2.97 MB in 100-byte lines (99 x and a newline), then one last line: more than sessions.logTailBytes (1 MiB by default).
    const { status, logs } = await runJob(tp, alice.token, 'head -c 2970000 /dev/zero | tr "\\0" x | fold -w 99; echo; echo END-OF-JOB');
    assert.equal(status, 'Succeeded');
    const bytes = Buffer.byteLength(logs);
    assert.ok(bytes <= 1048576 + 200 && bytes > 1000000, `${bytes} bytes`);
    const lines = logs.split('\n');
    assert.match(lines[0]!, /^\[earlier output left out: only the last 1048576 bytes of this log are shown\]$/);
    assert.equal(lines[1], 'x'.repeat(99), 'the tail starts at a whole line');
    assert.equal(lines.at(-2), 'END-OF-JOB');
  });

  it('drops all capabilities, forbids privilege gain and applies the requested cores and RAM', async () => {
    const alice = await tp.newUser();
    const job = await runJob(
      tp,
      alice.token,
      'grep -E "CapEff|NoNewPrivs" /proc/self/status; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null; true',
      { cores: '1', ram: '2' },
    );
    assert.equal(job.status, 'Succeeded', job.logs);
    assert.match(job.logs, /CapEff:\s+0000000000000000/);
    assert.match(job.logs, /NoNewPrivs:\s+1/);
    assert.match(job.logs, new RegExp(String(2 * 2 ** 30)));
    const obj = JSON.parse((await tp.request('GET', `/skaha/v0/session/${job.id}`, { token: alice.token })).body);
    assert.equal(obj.requestedRAM, '2G');
    assert.equal(obj.requestedCPUCores, '1');
  });

  it("keeps what a session writes in $HOME for the next session; the home is 0700 and the user's", async () => {
    const alice = await tp.newUser();
    const first = await runJob(tp, alice.token, 'echo persisted > $HOME/note.txt && touch /scratch/s');
    assert.equal(first.status, 'Succeeded', first.logs);
    const second = await runJob(tp, alice.token, 'cat $HOME/note.txt; stat -c %a:%U $HOME; ls /scratch');
    assert.equal(second.status, 'Succeeded', second.logs);
    assert.match(second.logs, /persisted/);
    assert.match(second.logs, new RegExp(`700:${alice.username}`));
    assert.doesNotMatch(second.logs, /^s$/m, 'scratch is per session');
    const hostHome = path.join(tp.dataDir, 'arc', 'home', alice.username);
    assert.equal(fs.statSync(hostHome).mode & 0o777, 0o700);
  });

  it("gives the session the user's supplemental groups, with names in /etc/group", async () => {
    const alice = await tp.newUser();
    const group = await tp.platform.store.addToGroup(alice.username, `g${alice.username}`);
    const job = await runJob(tp, alice.token, 'id');
    assert.match(job.logs, new RegExp(`${group.gid}\\(${group.name}\\)`));
    const obj = JSON.parse((await tp.request('GET', `/skaha/v0/session/${job.id}`, { token: alice.token })).body);
    assert.deepEqual(obj.supplementalGroups, [group.gid]);
  });

  it('runs a contributed web app that answers on its port, listed under v0 and v1, renewable', async () => {
    const alice = await tp.newUser();
    const id = await launch(tp, alice.token, { name: 'Web1', image: WEB_IMAGE, type: 'contributed', cores: '1', ram: '1' }, 'v1');
    assert.equal(await tp.waitStatus(alice.token, id, ['Running']), 'Running');
    const address = tp.platform.backend.address(id, 5000);
    assert.ok(address, 'published on loopback');
    let page = '';
    for (let i = 0; i < 50 && !page; i++) {
      page = await fetch(`http://${address.host}:${address.port}/`)
        .then((r) => r.text())
        .catch(() => '');
      if (!page) await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(page, new RegExp(`<td id="user">${alice.username}</td>`));
    assert.match(page, /<td id="HOME">\/arc\/home\//);

    for (const v of ['v0', 'v1']) {
      const list = JSON.parse((await tp.request('GET', `/skaha/${v}/session`, { token: alice.token })).body) as Array<{
        id: string;
        name: string;
        connectURL: string;
      }>;
      const mine = list.find((s) => s.id === id);
      assert.ok(mine, `${v} lists it`);
      assert.equal(mine.name, 'web1', 'names are stored lower-cased');
      // On its own origin (proxy/origins.ts): <id>.localhost at the platform's port.
      assert.equal(mine.connectURL, `http://${id}.localhost:${new URL(tp.base).port}/session/contrib/${id}/`);
    }
    const before = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token })).body).expiryTime as string;
    await new Promise((r) => setTimeout(r, 1100));
    const renew = await tp.request('POST', `/skaha/v0/session/${id}`, { token: alice.token, form: { action: 'RENEW' } });
    assert.equal(renew.status, 200, renew.body);
    assert.equal(renew.body, '');
    const after = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token })).body).expiryTime as string;
    assert.ok(Date.parse(after) > Date.parse(before), `${after} > ${before}`);

    const del = await tp.request('DELETE', `/skaha/v0/session/${id}`, { token: alice.token });
    assert.equal(del.status, 200);
    let status = 0;
    for (let i = 0; i < 100 && status !== 404; i++) {
      status = (await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token })).status;
      if (status !== 404) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 404, 'deleted session disappears');
    assert.equal(fs.existsSync(path.join(tp.dataDir, 'sessions', id)), false, 'its files are removed');
  });

  it('hides a session from other users: 404 on get, renew, app; their delete changes nothing', async () => {
    const alice = await tp.newUser();
    const bob = await tp.newUser();
    const id = await launch(tp, alice.token, { name: 'private', image: WEB_IMAGE, type: 'contributed' });
    assert.equal(await tp.waitStatus(alice.token, id, ['Running']), 'Running');
    assert.equal((await tp.request('GET', `/skaha/v0/session/${id}`, { token: bob.token })).status, 404);
    assert.equal((await tp.request('GET', `/skaha/v0/session/${id}`, { token: bob.token, query: { view: 'logs' } })).body, '');
    assert.equal((await tp.request('POST', `/skaha/v0/session/${id}`, { token: bob.token, form: { action: 'renew' } })).status, 400);
    assert.equal((await tp.request('POST', `/skaha/v0/session/${id}/app`, { token: bob.token, form: { image: HEADLESS_IMAGE } })).status, 404);
    assert.equal((await tp.request('DELETE', `/skaha/v1/session/${id}`, { token: bob.token })).status, 404);
    const bobs = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token: bob.token })).body) as unknown[];
    assert.deepEqual(bobs, []);
    const still = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token })).body);
    assert.equal(still.status, 'Running');
    // view=all shows everyone's sessions in the four-field public shape, to administrators only.
    const refused = await tp.request('GET', '/skaha/v0/session', { token: bob.token, query: { view: 'all' } });
    assert.deepEqual([refused.status, refused.body], [403, 'Not authorized to view all sessions: administrators only\n']);
    await tp.platform.store.addToGroup(bob.username, 'skaha-admins');
    const adminToken = (await tp.platform.store.createToken(bob.username, 'admin', { scopes: ['read', 'admin'] })).token;
    const all = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token: adminToken, query: { view: 'all' } })).body) as Array<Record<string, string>>;
    const row = all.find((s) => s.userid === alice.username);
    assert.deepEqual(Object.keys(row ?? {}), ['userid', 'type', 'status', 'startTime']);
  });

  it('refuses an interactive launch past the per-user limit, but never a headless one', async () => {
    const carol = await tp.newUser();
    const limited = await startPlatformWithLimit();
    const first = await launch(limited, carol.token, { name: 'one', image: WEB_IMAGE, type: 'contributed' });
    assert.ok(first);
    const second = await limited.request('POST', '/skaha/v0/session', { token: carol.token, form: { name: 'two', image: WEB_IMAGE, type: 'contributed' } });
    assert.equal(second.status, 400);
    assert.equal(second.body, `User ${carol.username} has reached the maximum of 1 active sessions.\n`);
    const job = await limited.request('POST', '/skaha/v0/session', { token: carol.token, form: { name: 'job', image: HEADLESS_IMAGE, cmd: 'true' } });
    assert.equal(job.status, 200, `headless is not limited: ${job.body}`);
    await limited.platform.backend.delete(first);
    await limited.platform.backend.delete(job.body.trim());
  });

  it('stops a session at its expiry (the reaper) and lists stats with instances', async () => {
    const dave = await tp.newUser();
    const short = await startPlatformWithLimit({ sessions: { expirySeconds: 2, reaperIntervalMs: 300, maxUserSessions: 5 } });
    const id = await launch(short, dave.token, { name: 'brief', image: WEB_IMAGE, type: 'contributed' });
    assert.equal(await short.waitStatus(dave.token, id, ['Running']), 'Running');
    const stats = JSON.parse((await short.request('GET', '/skaha/v0/session', { token: dave.token, query: { view: 'stats' } })).body);
    assert.ok(stats.instances.total >= 1);
    assert.ok(stats.cores.cpuCoresAvailable > 0);
    let status = 0;
    for (let i = 0; i < 100 && status !== 404; i++) {
      status = (await short.request('GET', `/skaha/v0/session/${id}`, { token: dave.token })).status;
      if (status !== 404) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 404, 'expired session removed');
  });

  it('leaves nothing behind when a launch fails to start', async () => {
    const erin = await tp.newUser();
    const sessionFiles = () => (fs.existsSync(path.join(tp.dataDir, 'sessions')) ? fs.readdirSync(path.join(tp.dataDir, 'sessions')).sort() : []);
    const filesBefore = sessionFiles();
    const r = await tp.request('POST', '/skaha/v0/session', { token: erin.token, form: { name: 'broken', image: HEADLESS_IMAGE, cmd: '/no/such/program' } });
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /^session failed to start: .+\n$/);
    assert.equal(tp.platform.backend.list().filter((s) => s.username === erin.username).length, 0);
    const containers = await engine().listContainers({ all: true, filters: { label: [`canfar.net/username=${erin.username}`] } });
    assert.deepEqual(containers, []);
    assert.deepEqual(sessionFiles(), filesBefore, 'no per-session files left');
  });

  /** A second platform on the same engine and data dir (so tokens work) with other session settings. */
  async function startPlatformWithLimit(extra: Record<string, unknown> = {}): Promise<TestPlatform> {
    return startPlatform(cleanups.add, { sessions: { maxUserSessions: 1 }, ...extra }, { dataDir: tp.dataDir, keepData: true });
  }
});
