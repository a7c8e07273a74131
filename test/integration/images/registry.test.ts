import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { RegistryClient } from '../../../src/catalog/registry/client.js';
import { RegistryCatalog } from '../../../src/catalog/registry/registry.js';
import { installRegistryAuthorities } from '../../../src/catalog/sources.js';
import { DEFAULT_ENGINE_HOME } from '../../../src/server/paths.js';
import { cleanupList, engine, HEADLESS_IMAGE, launch, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { startRegistry, type TestRegistry } from '../../helpers/registry.js';

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

/** A headless image with a layer of its own (random bytes), so its pull downloads something. */
async function buildUniqueImage(docker: Docker, ref: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-unique-'));
  fs.writeFileSync(path.join(dir, 'blob'), Buffer.alloc(8 * 1024 * 1024, Math.random().toString()));
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

  before(async () => {
    reg = await startRegistry({ auth: 'token', users: { pusher: 'push-secret', lister: 'list-secret' }, publicPrefixes: ['pub/'] });
    cleanup.add(() => reg.stop());
    pusher = { username: 'pusher', password: 'push-secret', serveraddress: reg.host };
    tp = await startPlatform(cleanup.add, {
      registryHosts: ['images.canfar.net', reg.host],
      catalog: {
        sources: [
          { kind: 'local' },
          { kind: 'registry', url: reg.url, caFile: reg.caFile, username: 'lister', password: 'list-secret', repositories: ['pub/', 'private/'] },
        ],
      },
    });
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

  it('lists the registry images with the types from their canfar.net/types label, beside the engine\'s', async () => {
    const r = await tp.request('GET', '/skaha/v0/image', { token: (await tp.newUser()).token });
    assert.equal(r.status, 200);
    const images = JSON.parse(r.body) as Array<{ id: string; types: string[]; digest: string }>;
    const pub = images.find((i) => i.id === `${reg.host}/pub/headless:1.0`);
    assert.deepEqual(pub?.types, ['headless', 'notebook']);
    assert.match(pub!.digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(images.some((i) => i.id === HEADLESS_IMAGE), 'local images stay listed');
    assert.ok(!images.some((i) => i.id.includes('/hidden/')), 'repositories outside the configured prefixes are not listed');
    const notebooks = JSON.parse((await tp.request('GET', '/skaha/v1/image', { token: (await tp.newUser()).token, query: { type: 'notebook' } })).body) as Array<{ id: string }>;
    assert.ok(notebooks.some((i) => i.id === `${reg.host}/pub/headless:1.0`));
    assert.deepEqual(JSON.parse((await tp.request('GET', '/skaha/v0/repository', { token: (await tp.newUser()).token })).body), ['images.canfar.net', reg.host]);
  });

  it('launches an image by its registry reference: answered at once, pulled with progress in view=events, then run', async () => {
    const user = await tp.newUser();
    const unique = (JSON.parse((await tp.request('GET', '/skaha/v0/image', { token: user.token, query: { type: 'headless' } })).body) as Array<{ id: string }>)
      .find((i) => i.id.startsWith(`${reg.host}/pub/unique:`))!.id;
    const id = await launch(tp, user.token, { name: 'pulled', image: unique, type: 'headless', cmd: 'ls', args: '-l /opt/blob' });
    const status = await tp.waitStatus(user.token, id, ['Succeeded', 'Failed'], 120_000);
    assert.equal(status, 'Succeeded');
    const events = (await tp.request('GET', `/skaha/v0/session/${id}`, { token: user.token, query: { view: 'events' } })).body;
    assert.match(events, /Pulling\s+Pulling image "[^"]+pub\/unique:/);
    assert.match(events, /Pulled\s+Successfully pulled image "[^"]+" in [\d.]+s/);
    const logs = (await tp.request('GET', `/skaha/v0/session/${id}`, { token: user.token, query: { view: 'logs' } })).body;
    assert.match(logs, /8388608 .*\/opt\/blob/);
    await docker.getImage(unique).remove({ force: true }).catch(() => undefined);
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
    const r = await tp.request('POST', '/skaha/v0/session', { token: user.token, form: { name: 'withauth', image, type: 'headless', cmd: 'true' }, headers: header });
    assert.equal(r.status, 200, r.body);
    assert.equal(await tp.waitStatus(user.token, r.body.trim(), ['Succeeded', 'Failed'], 60_000), 'Succeeded');
    // The credentials went to the engine for the pull only.
    const dataFiles = fs.readdirSync(tp.dataDir, { recursive: true }).map(String).filter((f) => fs.statSync(path.join(tp.dataDir, f)).isFile());
    for (const f of dataFiles) assert.ok(!fs.readFileSync(path.join(tp.dataDir, f)).includes('push-secret'), `secret written to ${f}`);
    await docker.getImage(image).remove({ force: true }).catch(() => undefined);
  });

  it('stored registry credentials (sealed at rest, never shown) pull a user\'s private images without the header, for that user only', async () => {
    const alice = await tp.newUser();
    const bob = await tp.newUser();
    const image = `${reg.host}/private/headless:1.0`;
    const cli = (args: string[], extra: Record<string, string> = {}) => skaha(args, { SKAHA_URL: tp.base, SKAHA_TOKEN: alice.token, ...extra });

    const stored = await cli(['registry', 'login', reg.host, '-u', 'pusher'], { SKAHA_REGISTRY_SECRET: 'push-secret' });
    assert.equal(stored.code, 0, stored.stderr);
    const listed = JSON.parse((await cli(['registry', 'ls', '--json'])).stdout) as Array<Record<string, string>>;
    assert.deepEqual(listed.map((c) => [c.host, c.username]), [[reg.host, 'pusher']]);
    assert.ok(!JSON.stringify(listed).includes('push-secret'));
    const db = fs.readFileSync(path.join(tp.dataDir, 'skaha.db'));
    const wal = fs.existsSync(path.join(tp.dataDir, 'skaha.db-wal')) ? fs.readFileSync(path.join(tp.dataDir, 'skaha.db-wal')) : Buffer.alloc(0);
    assert.ok(!db.includes('push-secret') && !wal.includes('push-secret'), 'the secret is sealed at rest');

    const mine = await launch(tp, alice.token, { name: 'stored', image, type: 'headless', cmd: 'true' });
    assert.equal(await tp.waitStatus(alice.token, mine, ['Succeeded', 'Failed'], 60_000), 'Succeeded');
    await docker.getImage(image).remove({ force: true }).catch(() => undefined);
    const theirs = await launch(tp, bob.token, { name: 'notmine', image, type: 'headless', cmd: 'true' });
    assert.equal(await tp.waitStatus(bob.token, theirs, ['Succeeded', 'Failed'], 60_000), 'Failed', 'alice\'s credentials are not bob\'s');

    // Bad input: one line, nothing stored.
    const bad = await tp.request('PUT', `/auth/registry/${reg.host}`, { token: bob.token, query: { username: 'x', secret: 'in-the-url' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body, 'a registry username is required (without \':\')\n');
    const unknownHost = await tp.request('PUT', '/auth/registry/elsewhere.example', { token: bob.token, form: { username: 'x', secret: 'y' } });
    assert.equal(unknownHost.status, 400);
    assert.match(unknownHost.body, /^not a registry of this platform: elsewhere\.example/);
    assert.deepEqual(JSON.parse((await tp.request('GET', '/auth/registry', { token: bob.token })).body), []);

    assert.equal((await cli(['registry', 'logout', reg.host])).code, 0);
    assert.equal((await cli(['registry', 'logout', reg.host])).code, 1);
    assert.deepEqual(JSON.parse((await cli(['registry', 'ls', '--json'])).stdout), []);
  });

  it('an unlisted image needs credentials before anything is made (v0)', async () => {
    const user = await tp.newUser();
    const r = await tp.request('POST', '/skaha/v0/session', { token: user.token, form: { name: 'hidden', image: `${reg.host}/hidden/headless:1.0`, type: 'headless' } });
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
    const listed = (JSON.parse((await tp.request('GET', '/skaha/v0/image', { token: (await tp.newUser()).token })).body) as Array<{ id: string; types: string[]; digest: string }>).find((i) => i.id === target);
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
    assert.deepEqual(await listing.fetch(), [{ id: `${reg.host}/team/headless:2.0`, types: ['headless'], digest: (await listing.fetch())[0]!.digest }]);
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
