import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { SessionBackend } from '../../../src/backends/backend.js';
import type { SessionRecord } from '../../../src/sessions/model.js';
import { SessionService } from '../../../src/sessions/service.js';
import { HostStorage } from '../../../src/storage/homes.js';
import { ActivityTracker } from '../../../src/proxy/activity.js';

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

/** A backend double holding records in memory: the reaper's decisions are what is under test. */
function memoryBackend(records: SessionRecord[], opts: { enforcesLifetimes?: boolean } = {}) {
  const deleted: string[] = [];
  const backend = {
    ...opts,
    list: () => records.filter((r) => !deleted.includes(r.id)),
    get: (id: string) => records.find((r) => r.id === id),
    delete: async (id: string) => {
      deleted.push(id);
      return { removed: Promise.resolve([id]) };
    },
    onChange: () => undefined,
  } as unknown as SessionBackend;
  return { backend, deleted };
}

function service(backend: SessionBackend) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-reaper-'));
  return new SessionService(
    backend,
    {} as never,
    new HostStorage(dir, dir, { topLevelDir: '/arc' }, dir),
    {} as never,
    () => ({}) as never,
    {
      registryHosts: [],
      expirySeconds: 3600,
      headlessExpirySeconds: 7200,
      maxUserSessions: 5,
      logTailBytes: 1 << 20,
      maxHeadlessJobs: 0,
      maxHeadlessCores: 0,
      maxHeadlessRamGiB: 0,
      headlessTtlAfterFinishedSeconds: 600,
      interactiveTtlAfterFinishedSeconds: 1200,
      baseUrl: () => 'http://x',
    },
    { info() {}, warn() {} },
  );
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
    await service(backend).reap(T0 + 3_600_000);
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
    const svc = service(backend);
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
    const svc = service(backend);
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
});
