import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gson, JavaDouble } from '../../../src/api/gson.js';
import { Params } from '../../../src/api/params.js';
import { eventsTable, publicSessionView, sessionView, statsView } from '../../../src/api/session/views.js';
import type { SessionRecord } from '../../../src/sessions/model.js';

const record: SessionRecord = {
  id: 'vl91sfzz',
  username: 'alice',
  name: 'notebook1',
  type: 'notebook',
  image: 'images.canfar.net/skaha/base-notebook:latest',
  uid: 166169204,
  gid: 166169204,
  supplementalGroups: [34241, 34337],
  status: 'Running',
  createdAt: new Date('2025-03-05T21:48:20.123Z'),
  startedAt: new Date('2025-03-05T21:48:29.999Z'),
  deadlineSeconds: 345600,
  resources: { coresRequest: 2, coresLimit: 2, ramRequestGiB: 8, ramLimitGiB: 8, gpus: 0 },
};

describe('views (spec §3.2-§3.6)', () => {
  it('renders the v0 session object byte for byte like the spec example', () => {
    const text = gson(sessionView(record, { sessionBase: () => 'https://host', layout: { topLevelDir: '/arc' }, version: 'v0' as const }));
    assert.equal(
      text,
      `{
  "id": "vl91sfzz",
  "userid": "alice",
  "runAsUID": "166169204",
  "runAsGID": "166169204",
  "supplementalGroups": [
    34241,
    34337
  ],
  "appid": "<none>",
  "image": "images.canfar.net/skaha/base-notebook:latest",
  "type": "notebook",
  "status": "Running",
  "name": "notebook1",
  "startTime": "2025-03-05T21:48:29Z",
  "expiryTime": "2025-03-09T21:48:29Z",
  "connectURL": "https://host/session/notebook/vl91sfzz/lab/tree/arc/home/alice?token=vl91sfzz",
  "requestedRAM": "8G",
  "requestedCPUCores": "2",
  "requestedGPUCores": "0",
  "ramInUse": "<none>",
  "gpuRAMInUse": "<none>",
  "cpuCoresInUse": "<none>",
  "gpuUtilization": "<none>"
}`,
    );
  });

  it('uses the creation time while pending, so clients can parse it (spec §11.4)', () => {
    const { startedAt: _, ...pending } = record;
    const view = sessionView(
      { ...pending, status: 'Pending', resources: { ...record.resources, coresRequest: 0.25, ramRequestGiB: 1.5 } },
      { sessionBase: () => 'https://host', layout: { topLevelDir: '/arc' }, version: 'v0' as const },
    );
    assert.equal(view.startTime, '2025-03-05T21:48:20Z');
    assert.equal(view.requestedCPUCores, '0.25');
    assert.equal(view.requestedRAM, '1.5G');
    assert.deepEqual(publicSessionView(record, 'v0'), { userid: 'alice', type: 'notebook', status: 'Running', startTime: '2025-03-05T21:48:29Z' });
    // A finished session: Succeeded on v0, Completed on v1 (spec §5.4).
    const done = { ...record, status: 'Succeeded' as const };
    assert.equal(publicSessionView(done, 'v0').status, 'Succeeded');
    assert.equal(publicSessionView(done, 'v1').status, 'Completed');
  });

  it('renders stats with instances and Java doubles', () => {
    const app: SessionRecord = {
      ...record,
      id: 'aaaaaaaa',
      appId: 'abc',
      type: 'desktop-app',
      resources: { ...record.resources, coresRequest: 0.5, ramRequestGiB: 1 },
    };
    const done: SessionRecord = { ...record, id: 'bbbbbbbb', type: 'headless', status: 'Succeeded' };
    const text = gson(statsView([record, app, done], [{ cores: 2, memoryBytes: 24 * 2 ** 30 }]));
    assert.equal(
      text,
      `{
  "instances": {
    "session": 1,
    "desktopApp": 1,
    "headless": 0,
    "total": 2
  },
  "cores": {
    "requestedCPUCores": 2.5,
    "cpuCoresAvailable": 2.0,
    "maxCPUCores": {
      "cpuCores": 2.0,
      "withRam": "24G"
    }
  },
  "ram": {
    "requestedRAM": "9G",
    "ramAvailable": "24G",
    "maxRAM": {
      "ram": "24G",
      "withCPUCores": 2.0
    }
  }
}`,
    );
  });

  it('stats of several nodes: the sum is available, the largest node is the maximum (spec §3.4)', () => {
    const GiB = 2 ** 30;
    const nodes = [
      { cores: 16, memoryBytes: 64 * GiB },
      { cores: 32, memoryBytes: 48 * GiB },
      { cores: 32, memoryBytes: 40 * GiB },
      { cores: 2, memoryBytes: 4.5 * GiB },
    ];
    const stats = JSON.parse(gson(statsView([], nodes))) as { cores: Record<string, unknown>; ram: Record<string, unknown> };
    assert.deepEqual(stats.cores, { requestedCPUCores: 0, cpuCoresAvailable: 82, maxCPUCores: { cpuCores: 32, withRam: '48G' } });
    assert.deepEqual(stats.ram, { requestedRAM: '0G', ramAvailable: '156.5G', maxRAM: { ram: '64G', withCPUCores: 16 } });
    const none = JSON.parse(gson(statsView([], []))) as { cores: Record<string, unknown>; ram: Record<string, unknown> };
    assert.deepEqual(none.cores.maxCPUCores, { cpuCores: 0, withRam: '0G' }, 'no node: zeros, not an error');
  });

  it('prints events as kubectl custom-columns, or <none>', () => {
    assert.equal(eventsTable([]), '<none>\n');
    const t = new Date('2025-03-05T21:48:29Z');
    assert.equal(
      eventsTable([{ type: 'Normal', reason: 'Started', message: 'Started container x', firstTime: t, lastTime: t }]),
      'TYPE         REASON       MESSAGE               FIRST-TIME             LAST-TIME\n' +
        'Normal       Started      Started container x   2025-03-05T21:48:29Z   2025-03-05T21:48:29Z\n',
    );
  });

  it('prints empty containers and doubles as Gson does', () => {
    assert.equal(
      gson({ a: [], b: {}, c: new JavaDouble(0.5), d: new JavaDouble(3), e: '<none>&' }),
      '{\n  "a": [],\n  "b": {},\n  "c": 0.5,\n  "d": 3.0,\n  "e": "<none>&"\n}',
    );
  });
});

describe('parameters (spec §1.2)', () => {
  it('merges query and body, query first, names case-insensitive, repeats accumulate', () => {
    const p = new Params([new URLSearchParams('NAME=q&env=A=1'), new URLSearchParams('name=b&Env=B=2&image=i')]);
    assert.equal(p.first('name'), 'q');
    assert.equal(p.first('IMAGE'), 'i');
    assert.deepEqual(p.all('env'), ['A=1', 'B=2']);
    assert.equal(p.first('missing'), undefined);
    assert.deepEqual(p.all('missing'), []);
  });
});
