import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { RegistryClient } from '../../../src/catalog/registry/client.js';
import { RegistryCatalog } from '../../../src/catalog/registry/registry.js';
import { installRegistryAuthorities } from '../../../src/catalog/sources.js';
import { LABEL } from '../../../src/backends/podman/objects.js';
import { DEFAULT_ENGINE_HOME } from '../../../src/common/paths.js';
import { cleanupList, engine, HEADLESS_IMAGE, launch, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { slowPathTo, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { DESKTOP_IMAGE, TERMINAL_IMAGE } from '../../helpers/sessions.js';

/** Push a local image to `target` through the engine, as `docker push` does. */
async function push(docker: Docker, source: string, target: string, auth: { username: string; password: string; serveraddress: string }) {
  const [repo, tag] = [target.slice(0, target.lastIndexOf(':')), target.slice(target.lastIndexOf(':') + 1)];
  await docker.getImage(source).tag({ repo, tag });
  const stream = await docker.getImage(target).push({ authconfig: auth });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, out: Array<{ error?: string }>) => {
      const failed = err ?? out.find((o) => o.error);
      return failed ? reject(new Error(String((failed as { error?: string }).error ?? failed))) : resolve();
    }),
  );
  // Not in the engine any more: a launch must really pull it.
  await docker.getImage(target).remove();
}

/**
 * Remove every engine image name under one of `hosts` (registry host:port), by name: an image
 * that also has another name (a reference image pushed here) keeps it.
 */
async function removeEngineImages(docker: Docker, hosts: string[]): Promise<void> {
  const names = (await docker.listImages()).flatMap((image) => image.RepoTags ?? []).filter((tag) => hosts.some((h) => tag.startsWith(`${h}/`)));
  for (const name of names)
    await docker
      .getImage(name)
      .remove()
      .catch(() => undefined);
}

/** A headless image with a layer of its own (random bytes), so its pull downloads something. */
async function buildUniqueImage(docker: Docker, ref: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-unique-'));
  // Random bytes: they do not compress, so the pushed layer is really 8 MiB to pull.
  fs.writeFileSync(path.join(dir, 'blob'), crypto.randomBytes(8 * 1024 * 1024));
  fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${HEADLESS_IMAGE}\nCOPY blob /opt/blob\n`);
  const stream = await docker.buildImage({ context: dir, src: ['Dockerfile', 'blob'] }, { t: ref, labels: { 'canfar.net/types': 'headless' } });
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
  fs.rmSync(dir, { recursive: true, force: true });
}

const BIN = path.resolve('bin/skaha.js');

/** Run the built `skaha` command; resolves with its exit code and output. */
function skaha(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, timeout: 240_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('images from a real OCI registry (docker-registry with TLS and token auth)', () => {
  const cleanup = cleanupList();
  const docker = engine();
  let reg: TestRegistry;
  let tp: TestPlatform;
  let pusher: { username: string; password: string; serveraddress: string };
  const registrySource = () => ({
    kind: 'registry' as const,
    url: reg.url,
    caFile: reg.caFile,
    username: 'lister',
    password: 'list-secret',
    repositories: ['pub/', 'private/'],
  });

  let slow: Awaited<ReturnType<typeof slowPathTo>>;
  /** Every line the server logs, with its level. */
  const logged: string[] = [];
  const log = {
    info: (m: string) => void logged.push(`info ${m}`),
    warn: (m: string) => void logged.push(`warn ${m}`),
    error: (m: string) => void logged.push(`error ${m}`),
  };
  /** No registry secret, nor its Basic form, in anything the server logged so far. */
  const assertNoSecretLogged = () => {
    assert.ok(
      logged.some((l) => / \/skaha\/v0\/session /.test(l)),
      'request lines are logged (and so checked)',
    );
    for (const [user, secret] of Object.entries(reg.users)) {
      const forms = [secret, Buffer.from(`${user}:${secret}`).toString('base64')];
      const line = logged.find((l) => forms.some((f) => l.includes(f)));
      assert.equal(line, undefined, `${user}'s secret is in the server's log`);
    }
  };

  before(async () => {
    reg = await startRegistry({ auth: 'token', users: { pusher: 'push-secret', lister: 'list-secret', robert: 'robert-secret' }, publicPrefixes: ['pub/'] });
    cleanup.add(() => reg.stop());
    slow = await slowPathTo(reg, 4_000_000);
    cleanup.add(() => slow.close());
    // Whatever a test pulled or pushed from these registries leaves the engine with them (the
    // desktop's Astro Software menu lists the engine's images).
    cleanup.add(() => removeEngineImages(docker, [reg.host, slow.host]));
    installRegistryAuthorities([{ kind: 'registry', url: slow.url, caFile: reg.caFile }], DEFAULT_ENGINE_HOME);
    pusher = { username: 'pusher', password: 'push-secret', serveraddress: reg.host };
    tp = await startPlatform(
      cleanup.add,
      {
        registryHosts: ['images.canfar.net', reg.host, slow.host],
        catalog: {
          sources: [{ kind: 'local' }, registrySource()],
        },
      },
      { log },
    );
    installRegistryAuthorities([{ kind: 'registry', url: reg.url, caFile: reg.caFile }], DEFAULT_ENGINE_HOME);
    await push(docker, HEADLESS_IMAGE, `${reg.host}/pub/headless:1.0`, pusher);
    await push(docker, HEADLESS_IMAGE, `${reg.host}/private/headless:1.0`, pusher);
    await push(docker, HEADLESS_IMAGE, `${reg.host}/hidden/headless:1.0`, pusher);
    const unique = `${reg.host}/pub/unique:${Date.now()}`;
    await buildUniqueImage(docker, unique);
    await push(docker, unique, unique, pusher);
    // One image, two session types: set by rewriting its config label in the registry.
    const client = new RegistryClient({ url: reg.url, caFile: reg.caFile, username: 'pusher', password: 'push-secret' });
    await client.relabel('pub/headless', '1.0', { 'canfar.net/types': 'headless,notebook' });
    await client.close();
    await tp.platform.catalog.refresh();
  });
  after(() => cleanup.run());

  it("lists the registry images with the types from their canfar.net/types label, beside the engine's", async () => {
    const r = await tp.request('GET', '/skaha/v0/image', { token: (await tp.newUser()).token });
    assert.equal(r.status, 200);
    const images = JSON.parse(r.body) as Array<{ id: string; types: string[]; digest: string }>;
    const pub = images.find((i) => i.id === `${reg.host}/pub/headless:1.0`);
    assert.deepEqual(pub?.types, ['headless', 'notebook']);
    assert.match(pub!.digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(
      images.some((i) => i.id === HEADLESS_IMAGE),
      'local images stay listed',
    );
    assert.ok(!images.some((i) => i.id.includes('/hidden/')), 'repositories outside the configured prefixes are not listed');
    const notebooks = JSON.parse(
      (await tp.request('GET', '/skaha/v1/image', { token: (await tp.newUser()).token, query: { type: 'notebook' } })).body,
    ) as Array<{ id: string }>;
    assert.ok(notebooks.some((i) => i.id === `${reg.host}/pub/headless:1.0`));
    assert.deepEqual(JSON.parse((await tp.request('GET', '/skaha/v0/repository', { token: (await tp.newUser()).token })).body), [
      'images.canfar.net',
      reg.host,
      slow.host,
    ]);
  });

  it('launches an image by its registry reference: answered at once, pulled with progress in view=events, then run', async () => {
    const user = await tp.newUser();
    const unique = (
      JSON.parse((await tp.request('GET', '/skaha/v0/image', { token: user.token, query: { type: 'headless' } })).body) as Array<{ id: string }>
    ).find((i) => i.id.startsWith(`${reg.host}/pub/unique:`))!.id;
    const id = await launch(tp, user.token, { name: 'pulled', image: unique, type: 'headless', cmd: 'ls', args: '-l /opt/blob' });
    const status = await tp.waitStatus(user.token, id, ['Succeeded', 'Failed'], 120_000);
    const events = (await tp.request('GET', `/skaha/v0/session/${id}`, { token: user.token, query: { view: 'events' } })).body;
    assert.equal(status, 'Succeeded', events);
    assert.match(events, /Pulling\s+Pulling image "[^"]+pub\/unique:/);
    assert.match(events, /Pulled\s+Successfully pulled image "[^"]+" in [\d.]+s/);
    const logs = (await tp.request('GET', `/skaha/v0/session/${id}`, { token: user.token, query: { view: 'logs' } })).body;
    assert.match(logs, /8388608 .*\/opt\/blob/);
    await docker
      .getImage(unique)
      .remove({ force: true })
      .catch(() => undefined);
  });

  it("shows a slow pull's progress in bytes while the session is Pending, from the engine's own progress messages", async () => {
    const user = await tp.newUser();
    const image = `${reg.host}/pub/progress:${Date.now()}`;
    await buildUniqueImage(docker, image);
    await push(docker, image, image, pusher);
    // The same image through the slow path (4 MB/s): its 8 MiB layer takes two seconds or more.
    const id = await launch(tp, user.token, { name: 'slowpull', image: image.replace(reg.host, slow.host), type: 'headless', cmd: 'true' }, 'v1'); // v1: not in the catalog by this host
    const seen: string[] = [];
    for (let i = 0; i < 600; i++) {
      const r = await tp.request('GET', `/skaha/v0/session/${id}`, { token: user.token });
      assert.equal(r.status, 200, `${id}: ${r.body}`);
      const session = JSON.parse(r.body) as { status: string };
      if (session.status !== 'Pending') break;
      const events = (await tp.request('GET', `/skaha/v0/session/${id}`, { token: user.token, query: { view: 'events' } })).body;
      const progress = /Pulling image "[^"]+": ([\d.]+ of [\d.]+ [kMG]?B), \d+ of \d+ layers/.exec(events)?.[1];
      if (progress) seen.push(progress);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await tp.waitStatus(user.token, id, ['Succeeded', 'Failed'], 120_000), 'Succeeded');
    assert.ok(seen.length > 0, 'bytes read of bytes known were shown while it pulled');
    assert.ok(
      seen.some((p) => /of [\d.]+ MB$/.test(p) && Number(/of ([\d.]+) MB/.exec(p)![1]) >= 8),
      `the 8 MiB layer is counted: ${[...new Set(seen)].join(' | ')}`,
    );
    await docker
      .getImage(image.replace(reg.host, slow.host))
      .remove({ force: true })
      .catch(() => undefined);
  });

  it('a private image fails unauthorized without credentials (reason in view=events) and runs with x-skaha-registry-auth', async () => {
    const user = await tp.newUser();
    const image = `${reg.host}/private/headless:1.0`;
    const denied = await launch(tp, user.token, { name: 'noauth', image, type: 'headless', cmd: 'true' });
    assert.equal(await tp.waitStatus(user.token, denied, ['Failed', 'Succeeded'], 60_000), 'Failed');
    const events = (await tp.request('GET', `/skaha/v0/session/${denied}`, { token: user.token, query: { view: 'events' } })).body;
    assert.match(events, /Warning\s+Failed\s+Failed to pull image "[^"]+": unauthorized/);
    const info = JSON.parse((await tp.request('GET', `/skaha/v0/session/${denied}`, { token: user.token })).body) as { status: string };
    assert.equal(info.status, 'Failed');

    const header = { 'x-skaha-registry-auth': Buffer.from('pusher:push-secret').toString('base64') };
    const r = await tp.request('POST', '/skaha/v0/session', {
      token: user.token,
      form: { name: 'withauth', image, type: 'headless', cmd: 'true' },
      headers: header,
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(await tp.waitStatus(user.token, r.body.trim(), ['Succeeded', 'Failed'], 60_000), 'Succeeded');
    // The credentials went to the engine for the pull only.
    const dataFiles = fs
      .readdirSync(tp.dataDir, { recursive: true })
      .map(String)
      .filter((f) => fs.statSync(path.join(tp.dataDir, f)).isFile());
    for (const f of dataFiles) assert.ok(!fs.readFileSync(path.join(tp.dataDir, f)).includes('push-secret'), `secret written to ${f}`);
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
    assertNoSecretLogged();
  });

  it("stored registry credentials (sealed at rest, never shown) pull a user's private images without the header, for that user only", async () => {
    const alice = await tp.newUser();
    const bob = await tp.newUser();
    const image = `${reg.host}/private/headless:1.0`;
    const cli = (args: string[], extra: Record<string, string> = {}) => skaha(args, { SKAHA_URL: tp.base, SKAHA_TOKEN: alice.token, ...extra });

    const stored = await cli(['registry', 'login', reg.host, '-u', 'pusher'], { SKAHA_REGISTRY_SECRET: 'push-secret' });
    assert.equal(stored.code, 0, stored.stderr);
    const listed = JSON.parse((await cli(['registry', 'ls', '--json'])).stdout) as Array<Record<string, string>>;
    assert.deepEqual(
      listed.map((c) => [c.host, c.username]),
      [[reg.host, 'pusher']],
    );
    assert.ok(!JSON.stringify(listed).includes('push-secret'));
    const db = fs.readFileSync(path.join(tp.dataDir, 'skaha.db'));
    const wal = fs.existsSync(path.join(tp.dataDir, 'skaha.db-wal')) ? fs.readFileSync(path.join(tp.dataDir, 'skaha.db-wal')) : Buffer.alloc(0);
    assert.ok(!db.includes('push-secret') && !wal.includes('push-secret'), 'the secret is sealed at rest');

    const mine = await launch(tp, alice.token, { name: 'stored', image, type: 'headless', cmd: 'true' });
    assert.equal(await tp.waitStatus(alice.token, mine, ['Succeeded', 'Failed'], 60_000), 'Succeeded');
    // Alice's credentials are not bob's, and neither is the copy her launch left in the engine.
    const theirs = await tp.request('POST', '/skaha/v0/session', { token: bob.token, form: { name: 'notmine', image, type: 'headless', cmd: 'true' } });
    assert.equal(theirs.status, 400);
    assert.match(theirs.body, /^Failed to pull image "[^"]+": unauthorized: /);

    // Bad input: one line, nothing stored.
    const bad = await tp.request('PUT', `/auth/registry/${reg.host}`, { token: bob.token, query: { username: 'x', secret: 'in-the-url' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body, "a registry username is required (without ':')\n");
    const unknownHost = await tp.request('PUT', '/auth/registry/elsewhere.example', { token: bob.token, form: { username: 'x', secret: 'y' } });
    assert.equal(unknownHost.status, 400);
    assert.match(unknownHost.body, /^not a registry of this platform: elsewhere\.example/);
    assert.deepEqual(JSON.parse((await tp.request('GET', '/auth/registry', { token: bob.token })).body), []);

    assert.equal((await cli(['registry', 'logout', reg.host])).code, 0);
    assert.equal((await cli(['registry', 'logout', reg.host])).code, 1);
    assert.deepEqual(JSON.parse((await cli(['registry', 'ls', '--json'])).stdout), []);
    assertNoSecretLogged();
  });

  it('an image pulled with credentials stays private in the engine: every later launch proves access to it, also after a restart (KEP-2535)', async () => {
    const image = `${reg.host}/private/kep:${Date.now()}`;
    await push(docker, HEADLESS_IMAGE, image, pusher);
    const config = { registryHosts: [reg.host], catalog: { sources: [{ kind: 'local' }, registrySource()] } };
    const auth = (username: string, secret: string) => ({ 'x-skaha-registry-auth': Buffer.from(`${username}:${secret}`).toString('base64') });
    const job = (name: string, ref = image) => ({ name, image: ref, type: 'headless', cmd: 'true' });

    // Alice's launch pulls it with her credentials; then the server restarts on the same data.
    const firstRun = cleanupList();
    const first = await startPlatform(firstRun.add, config, { keepData: true });
    const alice = await first.newUser('alice');
    const pulled = await first.request('POST', '/skaha/v0/session', { token: alice.token, form: job('alice'), headers: auth('pusher', 'push-secret') });
    assert.equal(pulled.status, 200, pulled.body);
    assert.equal(await first.waitStatus(alice.token, pulled.body.trim(), ['Succeeded', 'Failed'], 60_000), 'Succeeded');
    await first.request('DELETE', `/skaha/v0/session/${pulled.body.trim()}`, { token: alice.token });
    await firstRun.run();
    const again = await startPlatform(cleanup.add, config, { dataDir: first.dataDir });
    const bob = await again.newUser('bob');
    const launchAsBob = (form: Record<string, string>, headers: Record<string, string> = {}, version = 'v0') =>
      again.request('POST', `/skaha/${version}/session`, { token: bob.token, form, headers });
    const bobHasNothing = async (why: string) => {
      assert.deepEqual(
        again.platform.backend.list().filter((s) => s.username === bob.username),
        [],
        why,
      );
      assert.deepEqual(await docker.listContainers({ all: true, filters: { label: [`${LABEL.username}=${bob.username}`] } }), [], why);
    };

    // The copy in the engine is listed (v0's check passes), but it is not bob's without access:
    // no credentials, wrong ones, or the same image by its digest (v1 leaves it to the engine).
    const refused = `Failed to pull image "${image}": unauthorized: `;
    const anonymous = await launchAsBob(job('anon'));
    assert.equal(anonymous.status, 400);
    assert.ok(anonymous.body.startsWith(refused), anonymous.body);
    assert.equal(anonymous.body.split('\n').length, 2, 'one line');
    assert.ok(!anonymous.body.includes('secret'));
    const wrong = await launchAsBob(job('wrong'), auth('robert', 'not-his-secret'));
    assert.equal(wrong.status, 400);
    assert.ok(wrong.body.startsWith(refused), wrong.body);
    const digestRef = (await docker.getImage(image).inspect()).RepoDigests.find((d) => d.startsWith(`${reg.host}/private/kep@`))!;
    const byDigest = await launchAsBob(job('digest', digestRef), {}, 'v1');
    assert.equal(byDigest.status, 400, byDigest.body);
    assert.match(byDigest.body, /^Failed to pull image "[^"]+@sha256:[0-9a-f]{64}": unauthorized: /);
    await bobHasNothing('a refused launch leaves nothing behind');

    // The same bytes under a name pulled without credentials stay everyone's, registry or not
    // (pub/kep is a copy of the private image); the private name cannot be checked while the
    // registry is down: 503, nothing made.
    const publicImage = `${reg.host}/pub/kep:${Date.now()}`;
    await push(docker, HEADLESS_IMAGE, publicImage, pusher);
    await again.platform.catalog.refresh();
    const carol = await again.newUser('carol');
    const pulledAnonymously = await launch(again, carol.token, job('pub', publicImage));
    assert.equal(await again.waitStatus(carol.token, pulledAnonymously, ['Succeeded', 'Failed'], 60_000), 'Succeeded');
    await reg.pause();
    try {
      const cached = await launch(again, carol.token, job('cached', publicImage));
      assert.equal(await again.waitStatus(carol.token, cached, ['Succeeded', 'Failed'], 60_000), 'Succeeded');
      const down = await launchAsBob(job('down'), auth('robert', 'robert-secret'));
      assert.equal(down.status, 503, down.body);
      assert.match(down.body, /^temporarily unavailable: the image registry 127\.0\.0\.1:\d+ could not be asked/);
      await bobHasNothing('a launch the registry could not check leaves nothing behind');
    } finally {
      await reg.resume();
    }

    // With access of his own, bob runs the cached copy.
    const own = await launchAsBob(job('own'), auth('robert', 'robert-secret'));
    assert.equal(own.status, 200, own.body);
    assert.equal(await again.waitStatus(bob.token, own.body.trim(), ['Succeeded', 'Failed'], 60_000), 'Succeeded');
    for (const s of again.platform.backend.list().filter((s) => s.image === image || s.image === publicImage)) await again.platform.backend.delete(s.id);
    for (const ref of [image, publicImage])
      await docker
        .getImage(ref)
        .remove({ force: true })
        .catch(() => undefined);
  });

  it("a desktop-app image is held to the registry hosts and pulled with the user's stored credentials, as a session's", async () => {
    const user = await tp.newUser('apps');
    const image = `${reg.host}/private/terminal:${Date.now()}`;
    await push(docker, TERMINAL_IMAGE, image, pusher);
    const stored = await tp.request('PUT', `/auth/registry/${reg.host}`, { token: user.token, form: { username: 'pusher', secret: 'push-secret' } });
    assert.equal(stored.status, 200, stored.body);
    const desktop = await launch(tp, user.token, { name: 'desk', image: DESKTOP_IMAGE, type: 'desktop' });
    assert.equal(await tp.waitStatus(user.token, desktop, ['Running']), 'Running');

    const elsewhere = await tp.request('POST', `/skaha/v0/session/${desktop}/app`, { token: user.token, form: { image: 'docker.io/library/debian:12' } });
    assert.deepEqual(
      [elsewhere.status, elsewhere.body],
      [400, `session image 'docker.io/library/debian:12' must come from one of [images.canfar.net, ${reg.host}, ${slow.host}]\n`],
    );

    const app = await tp.request('POST', `/skaha/v0/session/${desktop}/app`, { token: user.token, form: { image } });
    assert.equal(app.status, 200, app.body);
    let status = '';
    for (let i = 0; i < 240 && status !== 'Running' && status !== 'Failed'; i++) {
      status = (JSON.parse((await tp.request('GET', `/skaha/v0/session/${desktop}/app/${app.body.trim()}`, { token: user.token })).body) as { status: string })
        .status;
      if (status !== 'Running') await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(status, 'Running', 'the private app image was pulled with the stored credentials');
    assert.equal((await tp.request('DELETE', `/skaha/v0/session/${desktop}`, { token: user.token })).status, 200);
    await tp.request('DELETE', `/auth/registry/${reg.host}`, { token: user.token });
    assertNoSecretLogged();
  });

  it('a launch of a tag the registry does not have ends Failed, "not found" in view=events; a container that cannot start after its pull says so', async () => {
    const user = await tp.newUser();
    // v1 has no catalog check before the engine: the pull is what finds out.
    const missing = await launch(tp, user.token, { name: 'missing', image: `${reg.host}/pub/headless:no-such-tag`, type: 'headless', cmd: 'true' }, 'v1');
    assert.equal(await tp.waitStatus(user.token, missing, ['Failed', 'Succeeded'], 60_000), 'Failed');
    const events = (await tp.request('GET', `/skaha/v0/session/${missing}`, { token: user.token, query: { view: 'events' } })).body;
    assert.match(events, /Warning\s+Failed\s+Failed to pull image "[^"]+\/pub\/headless:no-such-tag": not found: /);

    const image = `${reg.host}/pub/nostart:${Date.now()}`;
    await push(docker, HEADLESS_IMAGE, image, pusher);
    const broken = await launch(tp, user.token, { name: 'nostart', image, type: 'headless', cmd: '/no/such/command' }, 'v1');
    assert.equal(await tp.waitStatus(user.token, broken, ['Failed', 'Succeeded'], 60_000), 'Failed');
    const brokenEvents = (await tp.request('GET', `/skaha/v0/session/${broken}`, { token: user.token, query: { view: 'events' } })).body;
    assert.match(brokenEvents, /Pulled\s+Successfully pulled image/);
    assert.match(brokenEvents, /Warning\s+Failed\s+Pulled image "[^"]+", but its container could not be started: .*\/no\/such\/command/);
    assert.doesNotMatch(brokenEvents, /Failed to pull image/);
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
  });

  it('lists the good images of a registry when some of its tags are broken, and says which it skipped, once per refresh', async () => {
    const client = new RegistryClient({ url: reg.url, caFile: reg.caFile, username: 'pusher', password: 'push-secret' });
    try {
      // A listed tag whose content is gone (as a tag deleted during a walk is): its config blob,
      // made its own first (labels are remembered by manifest digest, shared by equal images).
      await push(docker, HEADLESS_IMAGE, `${reg.host}/pub/broken:1.0`, pusher);
      await client.relabel('pub/broken', '1.0', { 'skaha.test/broken': String(Date.now()) });
      const config = (await client.manifest('pub/broken', '1.0')).json.config!.digest;
      await reg.remove(`/v2/pub/broken/blobs/${config}`, 'pusher');
      // Odd artifacts: an image index with nothing in it, a manifest whose config is not JSON.
      const index = 'application/vnd.oci.image.index.v1+json';
      await client.putManifest('pub/odd', 'empty', index, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: index, manifests: [] })));
      const blob = await client.putBlob('pub/odd', Buffer.from('not json'));
      const manifest = 'application/vnd.oci.image.manifest.v1+json';
      await client.putManifest(
        'pub/odd',
        'artifact',
        manifest,
        Buffer.from(
          JSON.stringify({ schemaVersion: 2, mediaType: manifest, config: { mediaType: 'application/x-skaha-test', digest: blob, size: 8 }, layers: [] }),
        ),
      );
    } finally {
      await client.close();
    }

    const warnings: string[] = [];
    const catalog = new RegistryCatalog({
      url: reg.url,
      caFile: reg.caFile,
      username: 'lister',
      password: 'list-secret',
      repositories: ['pub/'],
      log: { warn: (m) => warnings.push(m) },
    });
    try {
      for (let refresh = 0; refresh < 2; refresh++) {
        warnings.length = 0;
        const ids = (await catalog.fetch()).map((i) => i.id);
        assert.ok(ids.includes(`${reg.host}/pub/headless:1.0`), 'the good images are listed');
        assert.ok(!ids.some((id) => id.includes('/pub/broken:') || id.includes('/pub/odd:')), ids.join());
        assert.deepEqual(
          warnings.map((w) => /skipping (\S+): /.exec(w)?.[1]).sort(),
          ['pub/broken:1.0', 'pub/odd:artifact', 'pub/odd:empty'],
          warnings.join('\n'),
        );
        assert.ok(!warnings.join('\n').includes('list-secret'));
      }
    } finally {
      await catalog.close();
    }
    // The platform's registry source is not stuck on its last list: it refreshes without a problem.
    await tp.platform.catalog.refresh();
    assert.equal(tp.platform.catalog.problem(), undefined);
    const listed = JSON.parse((await tp.request('GET', '/skaha/v0/image', { token: (await tp.newUser()).token })).body) as Array<{ id: string }>;
    assert.ok(listed.some((i) => i.id === `${reg.host}/pub/headless:1.0`));
  });

  it('an unlisted image needs credentials before anything is made (v0)', async () => {
    const user = await tp.newUser();
    const r = await tp.request('POST', '/skaha/v0/session', {
      token: user.token,
      form: { name: 'hidden', image: `${reg.host}/hidden/headless:1.0`, type: 'headless' },
    });
    assert.equal(r.status, 400);
    assert.match(r.body, /^No authentication provided for unknown or private image/);
    assert.equal(tp.platform.backend.list().filter((s) => s.username === user.username).length, 0);
  });

  it('skaha image publish checks, pushes and sets the types; skaha image types shows and changes them', async () => {
    const target = `${reg.host}/pub/published:${Date.now()}`;
    const env = { SKAHA_REGISTRY_USERNAME: 'pusher', SKAHA_REGISTRY_SECRET: 'push-secret', SKAHA_REGISTRY_CA: reg.caFile };
    // The check runs for the types asked, not the image's label: a headless image is no notebook.
    const notANotebook = await skaha(['image', 'publish', HEADLESS_IMAGE, target, '--types', 'notebook'], env);
    assert.equal(notANotebook.code, 1);
    assert.match(notANotebook.stdout, /FAIL +notebook: /);
    assert.match(notANotebook.stderr, /^skaha: .* does not follow the container rules; fix it or use --skip-check\n$/);

    const published = await skaha(['image', 'publish', HEADLESS_IMAGE, target, '--types', 'headless', '--json'], env);
    assert.equal(published.code, 0, published.stderr);
    const result = JSON.parse(published.stdout) as { image: string; types: string[]; digest: string };
    assert.deepEqual(result.types, ['headless']);
    assert.ok(!published.stderr.includes('push-secret') && !published.stdout.includes('push-secret'));
    await assert.rejects(docker.getImage(target).inspect(), 'the push tag is not left in the engine');

    await tp.platform.catalog.refresh();
    const listed = (
      JSON.parse((await tp.request('GET', '/skaha/v0/image', { token: (await tp.newUser()).token })).body) as Array<{
        id: string;
        types: string[];
        digest: string;
      }>
    ).find((i) => i.id === target);
    assert.deepEqual(listed, { id: target, types: ['headless'], digest: result.digest });

    const changed = await skaha(['image', 'types', target, '--set', 'headless,contributed'], env);
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(changed.stdout.trim(), `${target}: headless, contributed`);
    const shown = await skaha(['image', 'types', target, '--json'], env);
    assert.deepEqual(JSON.parse(shown.stdout), { image: target, types: ['headless', 'contributed'] });

    const badType = await skaha(['image', 'publish', HEADLESS_IMAGE, target, '--types', 'spaceship'], env);
    assert.equal(badType.code, 2);
    assert.match(badType.stderr, /^skaha: invalid session type\(s\): spaceship; choose from /);
    const noRegistry = await skaha(['image', 'publish', HEADLESS_IMAGE, 'just-a-name:1', '--types', 'headless'], env);
    assert.equal(noRegistry.code, 2);
    const refused = await skaha(['image', 'types', target, '--set', 'headless'], { ...env, SKAHA_REGISTRY_SECRET: 'wrong' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^skaha: .*401/);
  });

  it('skaha admin image pull fills the engine ahead of launches, and names the reason when it cannot', async () => {
    const image = `${reg.host}/pub/headless:1.0`;
    const pulled = await skaha(['admin', 'image', 'pull', image], { SKAHA_REGISTRY_CA: reg.caFile });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stdout, /^pulled 127\.0\.0\.1:\d+\/pub\/headless:1\.0 in [\d.]+ s \(.*layers\)\n$/);
    const inspect = await docker.getImage(image).inspect();
    assert.equal(inspect.Config.Labels?.['canfar.net/types'], 'headless,notebook');
    await docker.getImage(image).remove();
    const missing = await skaha(['admin', 'image', 'pull', `${reg.host}/pub/nothing:1.0`], { SKAHA_REGISTRY_CA: reg.caFile });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr.trim().split('\n').pop()!, /^skaha: 127\.0\.0\.1:\d+\/pub\/nothing:1\.0: (not found|unauthorized): /);
  });

  it('keeps the last good list while the registry is down, and says so in /availability', async () => {
    await reg.pause();
    try {
      await tp.platform.catalog.refresh();
      const images = JSON.parse((await tp.request('GET', '/skaha/v0/image', { token: (await tp.newUser()).token })).body) as Array<{ id: string }>;
      assert.ok(images.some((i) => i.id === `${reg.host}/pub/headless:1.0`));
      const availability = await (await fetch(`${tp.base}/skaha/availability`)).text();
      assert.match(availability, /Image catalog: registry 127\.0\.0\.1:\d+: .*(ECONNREFUSED|connect)/);
      assert.ok(
        logged.some((l) => l.startsWith('warn ') && l.includes(`registry ${reg.host}`)),
        "the failing registry is in the server's log",
      );
    } finally {
      await reg.resume();
    }
    await tp.platform.catalog.refresh();
    assert.equal(tp.platform.catalog.problem(), undefined);
  });
});

describe('a registry with Basic auth (htpasswd), as a plain docker-registry deployment has', () => {
  const docker = engine();
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ auth: 'basic', users: { carol: 'carol-secret' } });
    installRegistryAuthorities([{ kind: 'registry', url: reg.url, caFile: reg.caFile }], DEFAULT_ENGINE_HOME);
    await docker.ping().catch(() => undefined);
  });
  after(() => reg.stop());

  it('lists with the account, says why without it, and verifies TLS against the given authority only', async () => {
    await push(docker, HEADLESS_IMAGE, `${reg.host}/team/headless:2.0`, { username: 'carol', password: 'carol-secret', serveraddress: reg.host });
    const listing = new RegistryCatalog({ url: reg.url, caFile: reg.caFile, username: 'carol', password: 'carol-secret' });
    // The image config's OCI title and description come along (the portal shows them).
    assert.deepEqual(await listing.fetch(), [
      {
        id: `${reg.host}/team/headless:2.0`,
        types: ['headless'],
        title: 'skaha-headless',
        description: 'Minimal Debian bookworm session image for skaha headless jobs (python3, libnss-sss)',
        digest: (await listing.fetch())[0]!.digest,
      },
    ]);
    await listing.close();
    const anonymous = new RegistryCatalog({ url: reg.url, caFile: reg.caFile });
    await assert.rejects(anonymous.fetch(), /credentials required/);
    await anonymous.close();
    const wrong = new RegistryCatalog({ url: reg.url, caFile: reg.caFile, username: 'carol', password: 'nope' });
    await assert.rejects(wrong.fetch(), (err: Error) => /401/.test(err.message) && !err.message.includes('nope'));
    await wrong.close();
    const untrusted = new RegistryCatalog({ url: reg.url, username: 'carol', password: 'carol-secret' });
    await assert.rejects(untrusted.fetch(), /certificate|self.signed|unable to verify/i);
    await untrusted.close();
  });
});
