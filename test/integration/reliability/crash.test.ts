import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { LABEL } from '../../../src/backends/podman/objects.js';
import { engine, HEADLESS_IMAGE, removeNetworks, testInstance } from '../../helpers/platform.js';
import { adminToken, serveProcess, type ServerProcess } from '../../helpers/server-process.js';

/** 50 launches and 50 deletes by default; CRASH_OPS, CRASH_SEED and CRASH_KILL_CHANCE vary the run. */
const OPS = Number(process.env.CRASH_OPS ?? 100);
const SEED = Number(process.env.CRASH_SEED ?? 16);
const KILL_CHANCE = Number(process.env.CRASH_KILL_CHANCE ?? 0.3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** mulberry32: a small seeded generator, so that a failing run can be run again. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Issue 16, "crash": the built server, killed with SIGKILL at random instants (seeded) while it
 * handles launches and deletes, and started again each time on the same data. Afterwards the API,
 * the engine's labelled containers and the data directory agree: no acknowledged deletion comes
 * back, no acknowledged launch is lost, no container or session file is left without its session.
 */
describe('kill -9 at random instants during launches and deletes', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-crash-'));
  const instance = testInstance(dataDir);
  const configFile = `${dataDir}.json`;
  // Room for every job at once: this is about crashes, not the queue or the per-user limits.
  fs.writeFileSync(
    configFile,
    JSON.stringify({ ...instance, podman: { ...instance.podman, headlessQuota: { cores: 1000, ramGiB: 10_000 } }, sessions: { maxHeadlessJobs: 100 } }),
  );
  const env = { ...process.env, SKAHA_CONFIG: configFile };
  let server: ServerProcess | undefined;
  const tokens = ['crasha', 'crashb'].map((name) => adminToken(dataDir, env, name));

  after(async () => {
    if (server) {
      for (const token of tokens) {
        const listed = (await (await fetch(`${server.url}/skaha/v0/session`, { headers: { authorization: `Bearer ${token}` } })).json()) as Array<{
          id: string;
        }>;
        await Promise.all(
          listed.map((s) => fetch(`${server!.url}/skaha/v0/session/${s.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })),
        );
      }
      await server.stop();
    }
    for (const c of await engine().listContainers({ all: true, filters: { label: [`${LABEL.instance}=${instance.podman.network}`] } }))
      await engine().getContainer(c.Id).remove({ force: true });
    await removeNetworks(instance.podman.network);
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(configFile, { force: true });
  });

  it('0 resurrected, 0 lost, 0 orphaned containers or files', async () => {
    const rand = random(SEED);
    server = await serveProcess(dataDir, env);
    const ackedLaunches = new Map<string, string>(); // id → token
    const ackedDeletes = new Set<string>();
    const uncertainDeletes = new Set<string>(); // the server died while deleting: either outcome, but one
    let unansweredLaunches = 0;
    let launches = 0;
    let deletes = 0;
    let kills = 0;
    const live = () => [...ackedLaunches.keys()].filter((id) => !ackedDeletes.has(id) && !uncertainDeletes.has(id));

    while (launches + deletes < OPS) {
      const launching = deletes >= OPS / 2 || (launches < OPS / 2 && (live().length === 0 || rand() < 0.5));
      const token = tokens[Math.floor(rand() * tokens.length)]!;
      const killAfterMs = rand() < KILL_CHANCE ? Math.floor(rand() * 150) : undefined;
      const current: ServerProcess = server;
      const killing = killAfterMs === undefined ? undefined : sleep(killAfterMs).then(() => current.kill9());
      const auth = { authorization: `Bearer ${token}` };
      if (launching) {
        launches++;
        try {
          const r = await fetch(`${current.url}/skaha/v0/session`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ name: `c${launches}`, image: HEADLESS_IMAGE, type: 'headless', cmd: 'sleep', args: '600', cores: '1', ram: '1' }),
          });
          const body = (await r.text()).trim();
          if (r.status === 200) ackedLaunches.set(body, token);
          else if (!killing) assert.fail(`launch answered ${r.status} ${body}`);
          else unansweredLaunches++;
        } catch {
          unansweredLaunches++; // the connection died with the server
        }
      } else {
        deletes++;
        const candidates = live().filter((id) => ackedLaunches.get(id) === token);
        const pool = candidates.length ? candidates : live();
        const id = pool[Math.floor(rand() * pool.length)]!;
        const owner = { authorization: `Bearer ${ackedLaunches.get(id)}` };
        try {
          const r = await fetch(`${current.url}/skaha/v0/session/${id}`, { method: 'DELETE', headers: owner });
          await r.text();
          if (r.status === 200) ackedDeletes.add(id);
          else if (!killing) assert.fail(`delete ${id} answered ${r.status}`);
          else uncertainDeletes.add(id);
        } catch {
          uncertainDeletes.add(id);
        }
      }
      if (killing) {
        await killing;
        kills++;
        server = await serveProcess(dataDir, env);
      }
    }

    // Time passes: the session files of launches that died half-way are old enough to be swept
    // by the reaper pass of the next start.
    await server.stop();
    const sessionsDir = path.join(dataDir, 'sessions');
    const aged = new Date(Date.now() - 10 * 60_000);
    for (const dir of fs.existsSync(sessionsDir) ? fs.readdirSync(sessionsDir) : []) fs.utimesSync(path.join(sessionsDir, dir), aged, aged);
    server = await serveProcess(dataDir, env);

    const list = async () => {
      const all = new Map<string, string>();
      for (const token of tokens) {
        const listed = (await (await fetch(`${server!.url}/skaha/v0/session`, { headers: { authorization: `Bearer ${token}` } })).json()) as Array<{
          id: string;
          status: string;
        }>;
        for (const s of listed) all.set(s.id, s.status);
      }
      return all;
    };
    const containers = async () =>
      new Set(
        (await engine().listContainers({ all: true, filters: { label: [`${LABEL.instance}=${instance.podman.network}`] } })).map((c) => c.Labels[LABEL.id]!),
      );
    // Deletions acknowledged (and those the restarts resumed) finish within their grace.
    let api = await list();
    for (let i = 0; i < 300 && [...api.values()].some((s) => s === 'Terminating'); i++) {
      await sleep(200);
      api = await list();
    }
    const engineIds = await containers();
    const files = fs.existsSync(sessionsDir) ? fs.readdirSync(sessionsDir) : [];

    const resurrected = [...ackedDeletes].filter((id) => api.has(id) || engineIds.has(id));
    const lost = live().filter((id) => !api.has(id) || !engineIds.has(id));
    const orphanContainers = [...engineIds].filter((id) => !api.has(id));
    const sessionsWithoutContainer = [...api.keys()].filter((id) => !engineIds.has(id));
    const orphanFiles = files.filter((dir) => !api.has(dir.split('-')[0]!));
    const halfDeleted = [...uncertainDeletes].filter((id) => api.has(id) !== engineIds.has(id));
    console.log(
      `crash: seed ${SEED}, ${launches} launches (${ackedLaunches.size} acknowledged, ${unansweredLaunches} cut off), ${deletes} deletes (${ackedDeletes.size} acknowledged, ${uncertainDeletes.size} cut off), ${kills} kills; afterwards ${api.size} sessions, ${engineIds.size} containers, ${files.length} session directories`,
    );
    assert.ok(kills >= Math.floor(OPS * KILL_CHANCE * 0.5), `the server was killed often enough (${kills})`);
    assert.deepEqual(
      { resurrected, lost, orphanContainers, sessionsWithoutContainer, orphanFiles, halfDeleted },
      { resurrected: [], lost: [], orphanContainers: [], sessionsWithoutContainer: [], orphanFiles: [], halfDeleted: [] },
    );
  });
});
