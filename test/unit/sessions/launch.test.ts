import assert from 'node:assert/strict';
import fs from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { SkahaError } from '../../../src/common/errors.js';
import type { SessionServiceOptions } from '../../../src/sessions/service.js';
import type { User } from '../../../src/store/store.js';
import { MemoryBackend, serviceOn } from '../../helpers/memory-backend.js';

/**
 * SessionService.launch on an in-memory backend: the order in which it checks a request (the
 * first problem is the one reported, as skaha reports it), the per-user limits, what it hands a
 * backend, and that a backend's failure leaves nothing behind. The same launches through the real
 * API on Podman and Kubernetes are the backend contract suite's (test/integration/backend-contract).
 */

const NOTEBOOK = 'images.canfar.net/skaha/notebook:1.0';
const JOB = 'images.canfar.net/skaha/headless:1.0';
const IMAGES = [
  { id: NOTEBOOK, types: ['notebook', 'headless'], digest: 'sha256:n' },
  { id: JOB, types: ['headless'], digest: 'sha256:h' },
  { id: 'images.canfar.net/skaha/desktop:1.0', types: ['desktop'], digest: 'sha256:d' },
];
const alice: User = { username: 'alice', uid: 200001, gid: 200001, groups: [{ name: 'astro', gid: 210000 }] };
const bob: User = { username: 'bob', uid: 200002, gid: 200002, groups: [] };

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function setUp(options: Partial<SessionServiceOptions> = {}) {
  const backend = new MemoryBackend();
  const made = await serviceOn(backend, { images: IMAGES, options });
  dirs.push(made.dir);
  return { backend, ...made };
}

/** The message a launch is refused with (failing the test when it is not refused). */
async function refusal(launch: Promise<unknown>): Promise<string> {
  const err = await launch.then(
    () => assert.fail('the launch was not refused'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof SkahaError, `a SkahaError, not ${String(err)}`);
  return `${err.statusCode} ${err.message}`;
}

describe('SessionService.launch', () => {
  it('reports the first problem in skaha order: image, type, cores and RAM, then name', async () => {
    const { service, backend } = await setUp();
    const req = { name: 'bad name!', image: 'docker.io/evil:1', type: 'Notebooks', cores: '999', env: [] };
    assert.match(await refusal(service.launch(alice, req, 'v0')), /^400 .*docker\.io/);
    assert.match(await refusal(service.launch(alice, { ...req, image: NOTEBOOK }, 'v0')), /^400 Invalid session type: Notebooks$/);
    assert.match(await refusal(service.launch(alice, { ...req, image: NOTEBOOK, type: 'notebook' }, 'v0')), /^400 .*cores/);
    assert.match(await refusal(service.launch(alice, { ...req, image: NOTEBOOK, type: 'notebook', cores: '2' }, 'v0')), /^400 .*name/);
    assert.match(await refusal(service.launch(alice, { image: NOTEBOOK, type: 'notebook', env: [] }, 'v0')), /^400 Missing parameter 'name'$/);
    assert.equal(backend.created.length, 0, 'nothing reached the backend');
  });

  it("refuses on v0 an image listed for other types, and lets v1 launch it (skaha's two versions)", async () => {
    const { service } = await setUp();
    assert.match(await refusal(service.launch(alice, { name: 'j', image: JOB, type: 'notebook', env: [] }, 'v0')), /image\/type mismatch/);
    assert.match(await service.launch(alice, { name: 'j', image: JOB, type: 'notebook', env: [] }, 'v1'), /^[a-z0-9]{8}$/);
  });

  it('hands the backend the resolved spec: identity, home, resources, deadline', async () => {
    const { service, backend } = await setUp({ expirySeconds: 1234 });
    const id = await service.launch(alice, { name: 'MyNotebook', image: NOTEBOOK, type: 'notebook', cores: '2', ram: '4', env: [] }, 'v0');
    const spec = backend.created[0]!;
    assert.equal(spec.sessionId, id);
    assert.equal(spec.name, 'mynotebook', 'names are lower-cased');
    assert.deepEqual([spec.uid, spec.gid, spec.supplementalGroups], [200001, 200001, [210000]]);
    assert.equal(spec.deadlineSeconds, 1234);
    assert.deepEqual([spec.resources.coresRequest, spec.resources.ramRequestGiB], [2, 4]);
    assert.ok(
      spec.mounts.some((m) => m.kind === 'storage' && m.containerPath === '/arc/home/alice' && m.subPath === 'home/alice' && !m.readOnly),
      `home mounted read-write: ${JSON.stringify(spec.mounts)}`,
    );
    assert.ok(spec.ports.length > 0);
    assert.equal(backend.get(id)?.status, 'Running');
  });

  it('gives a desktop its fixed resources whatever is asked', async () => {
    const { service, backend } = await setUp();
    await service.launch(alice, { name: 'd', image: 'images.canfar.net/skaha/desktop:1.0', type: 'desktop', cores: '8', ram: '32', env: [] }, 'v0');
    const { coresRequest, ramRequestGiB } = backend.created[0]!.resources;
    assert.deepEqual([coresRequest, ramRequestGiB], [0.25, 1]);
  });

  it('holds the interactive limit per user; jobs and other users do not count', async () => {
    const { service } = await setUp({ maxUserSessions: 2 });
    const nb = (name: string, user = alice) => service.launch(user, { name, image: NOTEBOOK, type: 'notebook', env: [] }, 'v0');
    await nb('one');
    await nb('two');
    await service.launch(alice, { name: 'job', image: JOB, type: 'headless', env: [] }, 'v0');
    await nb('other', bob);
    assert.equal(await refusal(nb('three')), '400 User alice has reached the maximum of 2 active sessions.');
  });

  it('holds the headless job limit', async () => {
    const { service } = await setUp({ maxHeadlessJobs: 1 });
    const job = () => service.launch(alice, { name: 'job', image: JOB, type: 'headless', env: [] }, 'v0');
    await job();
    assert.match(await refusal(job()), /maximum of 1 active headless jobs/);
  });

  it("leaves nothing behind when the backend fails: no record, no session files, the engine's status", async () => {
    const { service, backend, storage } = await setUp();
    backend.failNextCreate = new SkahaError('SKAHA_ERR_BACKEND_UNAVAILABLE', 'the engine is down');
    assert.equal(await refusal(service.launch(alice, { name: 'nb', image: NOTEBOOK, type: 'notebook', env: [] }, 'v0')), '503 the engine is down');
    assert.deepEqual(backend.list(), []);
    assert.deepEqual(storage.sessionKeys(), [], "the session's files are removed");
    assert.match(await service.launch(alice, { name: 'nb', image: NOTEBOOK, type: 'notebook', env: [] }, 'v0'), /^[a-z0-9]{8}$/, 'the next launch works');
  });

  it('removes the files of a session that was in the index at start and leaves it by itself', async () => {
    // A server restarted while a deletion it had acknowledged finishes: the record is there when
    // the service starts, and goes with one change and no other before it.
    const seed = await setUp();
    await seed.service.launch(alice, { name: 'nb', image: NOTEBOOK, type: 'notebook', env: [] }, 'v0');
    const backend = new MemoryBackend();
    await backend.create({ ...seed.backend.created[0]!, sessionId: 'keep0001' });
    const { service, storage, dir } = await serviceOn(backend, { images: IMAGES });
    dirs.push(dir);
    storage.prepareSession('keep0001', alice);
    void service;
    assert.deepEqual(storage.sessionKeys(), ['keep0001']);
    backend.vanish('keep0001');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(storage.sessionKeys(), [], 'its files went with it');
  });
});
