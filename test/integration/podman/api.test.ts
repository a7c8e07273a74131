import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupList, HEADLESS_IMAGE, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';

describe('the skaha API: parameters, errors and service endpoints', () => {
  let tp: TestPlatform;
  let token: string;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add, { registryHosts: ['images.canfar.net', 'registry.example.org'] });
    token = (await tp.newUser()).token;
  });
  after(() => cleanups.run());

  const post = (form: Record<string, string>, headers: Record<string, string> = {}, version = 'v0') =>
    tp.request('POST', `/skaha/${version}/session`, { token, form, headers });

  it('answers 401 Unauthorized without or with a bad credential', async () => {
    for (const headers of [{}, { authorization: 'Bearer skt_nope' }] as Array<Record<string, string>>) {
      const r = await tp.request('GET', '/skaha/v0/session', { headers });
      assert.equal(r.status, 401);
      assert.equal(r.body, 'Unauthorized\n');
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    }
  });

  it("validates a launch in skaha's order, one clear line each, creating nothing", async () => {
    const cases: Array<[Record<string, string>, Record<string, string>, string, string?]> = [
      [{ name: 'bad_name', cores: '99' }, {}, "Missing parameter 'image'"],
      [
        { image: 'docker.io/library/debian:12' },
        {},
        "session image 'docker.io/library/debian:12' must come from one of [images.canfar.net, registry.example.org]",
      ],
      [{ image: HEADLESS_IMAGE, type: 'desktop-app' }, {}, 'Invalid session type: desktop-app'],
      [{ image: HEADLESS_IMAGE, type: 'spaceship' }, {}, 'Invalid session type: spaceship'],
      [{ image: HEADLESS_IMAGE, type: 'notebook' }, {}, `image/type mismatch: ${HEADLESS_IMAGE}/notebook`],
      [
        { image: 'images.canfar.net/skaha/unknown:1' },
        {},
        'No authentication provided for unknown or private image.  Use x-skaha-registry-auth request header with base64Encode(username:secret).',
      ],
      [
        { image: 'images.canfar.net/skaha/unknown:1' },
        { 'x-skaha-registry-auth': Buffer.from('no-colon').toString('base64') },
        'Invalid input.  Must be in form of username:secret',
      ],
      [{ image: HEADLESS_IMAGE, cores: '9999', name: 'bad_name' }, {}, "Invalid value for 'cores': 9999"],
      [{ image: HEADLESS_IMAGE, cores: '1.5' }, {}, "Invalid value for 'cores': 1.5"],
      [{ image: HEADLESS_IMAGE, ram: 'lots' }, {}, "Invalid value for 'ram': lots"],
      [{ image: HEADLESS_IMAGE }, {}, "Missing parameter 'name'"],
      [{ image: HEADLESS_IMAGE, name: 'bad_name' }, {}, "name can only contain alpha-numeric chars and '-'"],
      [{ image: HEADLESS_IMAGE, name: 'x'.repeat(64) }, {}, 'name must be at most 63 characters'],
      [{ image: HEADLESS_IMAGE, name: 'ok', gpus: '1' }, {}, "Invalid value for 'gpus': 1"],
    ];
    for (const [form, headers, message] of cases) {
      const r = await post(form, headers);
      assert.equal(r.status, 400, `${JSON.stringify(form)} → ${r.body}`);
      assert.equal(r.body, `${message}\n`);
    }
    const list = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token })).body) as unknown[];
    assert.deepEqual(list, [], 'nothing was created');
  });

  it('holds a desktop-app image to the registry hosts with the same words as a session launch, before looking for the desktop', async () => {
    const image = 'docker.io/library/debian:12';
    for (const version of ['v0', 'v1']) {
      const session = await post({ name: 'elsewhere', image, type: 'headless' }, {}, version);
      const app = await tp.request('POST', `/skaha/${version}/session/abcdefgh/app`, { token, form: { image } });
      assert.deepEqual([app.status, app.body], [400, session.body]);
      assert.equal(session.body, `session image '${image}' must come from one of [images.canfar.net, registry.example.org]\n`);
    }
    const malformed = await tp.request('POST', '/skaha/v0/session/abcdefgh/app', {
      token,
      form: { image: HEADLESS_IMAGE },
      headers: { 'x-skaha-registry-auth': Buffer.from('no-colon').toString('base64') },
    });
    assert.deepEqual(
      [malformed.status, malformed.body],
      [400, 'Invalid input.  Must be in form of username:secret\n'],
      'the registry credentials header is read as for sessions',
    );
  });

  it('takes only valid references from exactly a configured registry host: 400 with the reason, never 503 (issue 15)', async () => {
    const cases: Array<[string, RegExp]> = [
      ['images.canfar.net.evil.example/x:1', /^session image 'images\.canfar\.net\.evil\.example\/x:1' must come from one of \[/],
      ['images.canfar.net:8443/skaha/headless:1.0', /must come from one of/],
      ['images.canfar.net/skaha/HEADLESS:1.0', /^invalid image reference '.*': the repository must be lower case$/],
      ['images.canfar.net/skaha/headless:1.0 --privileged', /^invalid image reference '.*': it contains spaces/],
      ['images.canfar.net/skaha/headless@sha256:1234', /^invalid image reference '.*': 'sha256:1234' is not a digest/],
      ['images.canfar.net/skaha//headless:1.0', /is not a repository path component/],
    ];
    for (const [image, why] of cases) {
      for (const version of ['v0', 'v1']) {
        const session = await post(
          { name: 'ref', image, type: 'headless', cmd: 'true' },
          { 'x-skaha-registry-auth': Buffer.from('u:p').toString('base64') },
          version,
        );
        assert.equal(session.status, 400, `${version} ${image} → ${session.status} ${session.body}`);
        assert.match(session.body.trimEnd(), why);
        assert.equal(session.body.split('\n').length, 2, 'one line');
        const app = await tp.request('POST', `/skaha/${version}/session/abcdefgh/app`, { token, form: { image } });
        assert.deepEqual([app.status, app.body], [400, session.body], 'a desktop-app launch says the same');
      }
    }
    const list = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token })).body) as unknown[];
    assert.deepEqual(list, [], 'nothing was created');
  });

  it('v1 trusts the type word and accepts decimal cores (spec §11.13)', async () => {
    const r = await post({ name: 'deci', image: HEADLESS_IMAGE, type: 'contributed', cores: '1.5', cmd: 'true' }, {}, 'v1');
    // The headless image has no web app on 5000, but it starts: v1 does not check labels.
    assert.equal(r.status, 200, r.body);
    const id = r.body.trim();
    const obj = JSON.parse((await tp.request('GET', `/skaha/v1/session/${id}`, { token })).body);
    assert.equal(obj.requestedCPUCores, '1.5');
    assert.equal(obj.type, 'contributed');
  });

  it('lists images with a type filter and refuses unknown types', async () => {
    const all = JSON.parse((await tp.request('GET', '/skaha/v0/image', { token })).body) as Array<{ id: string; types: string[]; digest: string }>;
    const headless = all.find((i) => i.id === HEADLESS_IMAGE);
    assert.ok(headless);
    assert.deepEqual(Object.keys(headless), ['id', 'types', 'digest']);
    assert.match(headless.digest, /^sha256:[0-9a-f]{64}$/);
    const web = JSON.parse((await tp.request('GET', '/skaha/v1/image', { token, query: { type: 'contributed' } })).body) as Array<{ id: string }>;
    assert.ok(web.some((i) => i.id === WEB_IMAGE));
    assert.ok(!web.some((i) => i.id === HEADLESS_IMAGE));
    const bad = await tp.request('GET', '/skaha/v0/image', { token, query: { type: 'Notebook' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body, 'unknown type: Notebook\n');
    // The portal asks for the images' OCI title and description; skaha's three keys come first.
    const described = JSON.parse((await tp.request('GET', '/skaha/v1/image', { token, query: { type: 'headless', detail: 'description' } })).body) as Array<
      Record<string, unknown>
    >;
    const job = described.find((i) => i.id === HEADLESS_IMAGE);
    assert.deepEqual(Object.keys(job ?? {}), ['id', 'types', 'digest', 'title', 'description']);
    assert.equal(job?.title, 'skaha-headless');
    assert.match(String(job?.description), /headless jobs/);
    const badDetail = await tp.request('GET', '/skaha/v0/image', { token, query: { detail: 'labels' } });
    assert.equal(badDetail.status, 400);
    assert.equal(badDetail.body, "unknown detail: labels (only 'description')\n");
  });

  it('serves /context trimmed to this machine and /repository in configuration order', async () => {
    const ctx = JSON.parse((await tp.request('GET', '/skaha/v0/context', { token })).body);
    assert.deepEqual(Object.keys(ctx), ['cores', 'memoryGB', 'gpus', 'maxInteractiveSessions']);
    assert.ok(ctx.cores.options.every((c: number) => c <= await_cores()));
    assert.ok(ctx.cores.options.includes(ctx.cores.default));
    const repo = await tp.request('GET', '/skaha/v1/repository', { token });
    assert.match(repo.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(repo.body), ['images.canfar.net', 'registry.example.org']);
  });

  it('answers the fixed refusals and odd paths of spec §2 and §1.1', async () => {
    const cases: Array<[string, string, number, string, Record<string, string>?]> = [
      ['DELETE', '/skaha/v0/session', 400, 'Cannot kill all sessions.'],
      ['POST', '/skaha/v0/session/abcdefgh', 400, 'Cannot modify an existing session'],
      ['POST', '/skaha/v0/session/abcdefgh', 400, 'unrecognized action', { action: 'explode' }],
      ['POST', '/skaha/v0/session/abcdefgh', 400, 'No active job for user', { action: 'renew' }],
      ['DELETE', '/skaha/v0/session/abcdefgh/app', 400, 'Missing app ID'],
      ['POST', '/skaha/v0/session/abcdefgh/app/abc', 400, 'Cannot modify an existing app.'],
      ['GET', '/skaha/v0/session/abcdefgh/app/abc', 404, 'desktop app with session abcdefgh and app ID abc was not found'],
      ['POST', '/skaha/v0/session/abcdefgh/app', 400, "Missing parameter 'image'"],
      ['POST', '/skaha/v0/session/abcdefgh/app', 404, 'session abcdefgh not found', { image: HEADLESS_IMAGE }],
      ['GET', '/skaha/v0/session/abcdefgh', 404, 'session abcdefgh not found'],
      ['GET', '/skaha/v0/session/abcdefgh?view=events', 404, 'session abcdefgh not found.'],
      ['GET', '/skaha/v0/session/', 404, 'session  not found'],
      ['GET', '/skaha/v0/session/a/app/b/c', 400, 'Invalid request: a/app/b/c'],
    ];
    for (const [method, url, status, message, form] of cases) {
      const r = await tp.request(method, url, { token, ...(form ? { form } : {}) });
      assert.equal(r.status, status, `${method} ${url} → ${r.status} ${r.body}`);
      assert.ok(r.body.startsWith(message), `${method} ${url} → ${r.body}`);
      assert.equal(r.body.split('\n').length, 2, 'one line');
    }
    const logs = await tp.request('GET', '/skaha/v0/session/abcdefgh', { token, query: { view: 'logs' } });
    assert.deepEqual([logs.status, logs.body], [200, '']);
  });

  it('serves VOSI capabilities and availability without credentials, and an OpenAPI document', async () => {
    const caps = await tp.request('GET', '/skaha/capabilities');
    assert.equal(caps.status, 200);
    assert.match(caps.headers.get('content-type') ?? '', /xml/);
    assert.ok(caps.body.includes(`<accessURL use="base">${tp.base}/skaha/v0</accessURL>`));
    const avail = await tp.request('GET', '/skaha/availability');
    assert.match(avail.body, /<vosi:available>true<\/vosi:available>/);
    assert.equal((await tp.request('GET', '/skaha')).status, 200);
    const doc = JSON.parse((await tp.request('GET', '/skaha/openapi.json')).body) as { paths: Record<string, unknown> };
    for (const p of ['/skaha/v0/session', '/skaha/v1/session/{id}/app/{appId}', '/skaha/v0/image', '/skaha/v1/context', '/skaha/v0/repository']) {
      assert.ok(doc.paths[p], `OpenAPI has ${p}`);
    }
  });
});

function await_cores(): number {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1024;
}
