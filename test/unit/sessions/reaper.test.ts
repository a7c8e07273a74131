import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, it } from 'node:test';
import type { SessionRecord } from '../../../src/sessions/model.js';
import type { SessionService } from '../../../src/sessions/service.js';
import { ActivityTracker } from '../../../src/proxy/activity.js';
import { MemoryBackend, serviceOn } from '../../helpers/memory-backend.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function record(id: string, over: Partial<SessionRecord>): SessionRecord {
  return {
    id,
    username: 'alice',
    name: id,
    type: 'notebook',
    image: 'x',
    uid: 1,
    gid: 1,
    supplementalGroups: [],
    status: 'Running',
    createdAt: new Date(T0),
    startedAt: new Date(T0),
    deadlineSeconds: 3600,
    resources: { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 },
    ...over,
  };
}

/** The records on an in-memory backend; `deleted` lists what the reaper deleted. */
function memoryBackend(records: SessionRecord[], opts: { enforcesLifetimes?: boolean } = {}) {
  const backend = new MemoryBackend(records, opts.enforcesLifetimes);
  return { backend, deleted: backend.deleted };
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function service(backend: MemoryBackend): Promise<SessionService> {
  const { service, dir } = await serviceOn(backend);
  dirs.push(dir);
  return service;
}

describe('the reaper', () => {
  it('stops expired sessions and removes finished ones after their listing time', async () => {
    const { backend, deleted } = memoryBackend([
      record('expired1', { deadlineSeconds: 60 }),
      record('fresh001', { deadlineSeconds: 7200 }),
      record('jobdone1', { type: 'headless', status: 'Succeeded', finishedAt: new Date(T0 + 100_000) }),
      record('jobdone2', { type: 'headless', status: 'Failed', finishedAt: new Date(T0 + 3_100_000) }),
      record('leaving1', { deadlineSeconds: 1, status: 'Terminating' }),
    ]);
    await (await service(backend)).reap(T0 + 3_600_000);
    assert.deepEqual(deleted.sort(), ['expired1', 'jobdone1']);
  });

  it('leaves expiry and removal to an engine that enforces them (Kubernetes), and still culls idle notebooks', async () => {
    const { backend, deleted } = memoryBackend(
      [
        record('expired1', { deadlineSeconds: 60 }),
        record('jobdone1', { type: 'headless', status: 'Succeeded', finishedAt: new Date(T0 + 100_000) }),
        record('idlenb01', { deadlineSeconds: 7200 }),
      ],
      { enforcesLifetimes: true },
    );
    const svc = await service(backend);
    const activity = new ActivityTracker();
    activity.touch('idlenb01', T0);
    svc.setActivity(activity, 300);
    await svc.reap(T0 + 3_600_000);
    assert.deepEqual(deleted, ['idlenb01'], "the expired and the finished session are the engine's to end and remove");
  });

  it('culls notebooks idle longer than the setting, and nothing else', async () => {
    const { backend, deleted } = memoryBackend([
      record('idlenb01', {}),
      record('busynb01', {}),
      record('contrib1', { type: 'contributed' }),
      record('headless', { type: 'headless' }),
    ]);
    const svc = await service(backend);
    const activity = new ActivityTracker();
    activity.touch('idlenb01', T0 + 1000);
    activity.touch('busynb01', T0 + 590_000);
    svc.setActivity(activity, 300);
    await svc.reap(T0 + 600_000);
    assert.deepEqual(deleted, ['idlenb01']);
    svc.setActivity(activity, 0);
    await svc.reap(T0 + 3_000_000 - 1);
    assert.deepEqual(deleted, ['idlenb01'], 'culling off: nothing more');
  });

  it('deletes an expired desktop once, its apps with it; an app past its own deadline goes alone', async () => {
    const { backend, deleted } = memoryBackend([
      record('desktop1', { type: 'desktop', deadlineSeconds: 60 }),
      record('desktop1', { type: 'desktop-app', appId: 'ab1', deadlineSeconds: 60 }),
      record('desktop2', { type: 'desktop', deadlineSeconds: 7200 }),
      record('desktop2', { type: 'desktop-app', appId: 'cd2', deadlineSeconds: 60 }),
    ]);
    await (await service(backend)).reap(T0 + 600_000);
    assert.deepEqual(deleted.sort(), ['desktop1', 'desktop2/cd2']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      backend.list().map((r) => (r.appId ? `${r.id}/${r.appId}` : r.id)),
      ['desktop2'],
      "the expired desktop's app went with it",
    );
  });
});
