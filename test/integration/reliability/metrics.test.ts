import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupList, HEADLESS_IMAGE, launch, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';
import { openThroughProxy } from '../../helpers/sessions.js';
import { eventually } from '../../helpers/wait.js';

/** `name{labels} value` lines of a Prometheus text exposition, as a lookup. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('/metrics (Prometheus)', () => {
  let tp: TestPlatform;
  let token: string;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add);
    token = (await tp.newUser()).token;
  });
  after(() => cleanups.run());

  const scrape = async (headers: Record<string, string> = {}) => {
    const r = await tp.request('GET', '/metrics', { headers });
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return r.body;
  };

  it('counts real launches by type and outcome, sessions by state, proxy traffic, and the process', async () => {
    const job = await launch(tp, token, { name: 'metered', image: HEADLESS_IMAGE, type: 'headless', cmd: 'true' });
    const web = await launch(tp, token, { name: 'metered-web', image: WEB_IMAGE, type: 'contributed' });
    const refused = await tp.request('POST', '/skaha/v0/session', { token, form: { name: 'bad', image: 'images.canfar.net/skaha/HEADLESS:1.0' } });
    assert.equal(refused.status, 400);
    assert.equal(await tp.waitStatus(token, job, ['Succeeded', 'Failed'], 120_000), 'Succeeded');
    const page = await openThroughProxy(tp, `/session/contrib/${web}/`, { authorization: `Bearer ${token}` }, 120_000);
    assert.equal(page.status, 200, await page.text());
    await page.arrayBuffer().catch(() => undefined);

    const text = await eventually(
      'the proxied request is counted',
      () => scrape(),
      (t) => (sample(t, 'skaha_proxy_requests_total', { kind: 'http', code: '200' }) ?? 0) >= 1,
    );
    assert.equal(sample(text, 'skaha_session_launch_duration_seconds_count', { type: 'headless', outcome: 'success', reason: 'ok' }), 1);
    assert.equal(sample(text, 'skaha_session_launch_duration_seconds_count', { type: 'contributed', outcome: 'success', reason: 'ok' }), 1);
    assert.equal(sample(text, 'skaha_session_launch_duration_seconds_count', { type: 'headless', outcome: 'failure', reason: 'image_rejected' }), 1);
    assert.ok(
      (sample(text, 'skaha_session_launch_duration_seconds_sum', { type: 'headless', outcome: 'success', reason: 'ok' }) ?? 0) > 0,
      'durations are recorded',
    );
    assert.equal(
      sample(text, 'skaha_session_launch_duration_seconds_count', { type: 'notebook', outcome: 'success', reason: 'ok' }),
      0,
      'known label values exist from the start',
    );
    assert.ok((sample(text, 'skaha_sessions', { type: 'headless', state: 'Succeeded' }) ?? 0) >= 1);
    assert.ok((sample(text, 'skaha_sessions', { type: 'contributed', state: 'Running' }) ?? 0) >= 1);
    assert.equal(sample(text, 'skaha_sessions', { type: 'carta', state: 'Failed' }), 0);
    assert.ok((sample(text, 'skaha_proxy_bytes_total', { direction: 'sent' }) ?? 0) > 0);
    assert.ok((sample(text, 'skaha_proxy_bytes_total', { direction: 'received' }) ?? 0) > 0);
    assert.equal(sample(text, 'skaha_headless_queue_length'), 0);
    assert.equal(sample(text, 'skaha_engine_up'), 1);
    assert.equal(sample(text, 'skaha_engine_errors_total'), undefined, 'no engine error yet (the counter has no series until one)');
    assert.ok((sample(text, 'skaha_api_errors_total', { reason: 'image_rejected' }) ?? 0) >= 1);
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0, 'default process metrics');
    assert.ok(sample(text, 'nodejs_eventloop_lag_seconds') !== undefined);
  });

  it('answers a direct loopback peer, and otherwise only an administrator', async () => {
    const relayed = { 'x-forwarded-for': '203.0.113.7' };
    const anonymous = await tp.request('GET', '/metrics', { headers: relayed });
    assert.equal(anonymous.status, 401, 'a request relayed by a local reverse proxy is not a local scraper');
    assert.equal(anonymous.body.split('\n').length, 2, 'one line');
    const user = await tp.request('GET', '/metrics', { token, headers: relayed });
    assert.equal(user.status, 403);
    const admin = await tp.newUser('adm');
    await tp.platform.store.addToGroup(admin.username, 'skaha-admins');
    const withoutScope = await tp.request('GET', '/metrics', { token: admin.token, headers: relayed });
    assert.equal(withoutScope.status, 403, "an administrator's token without the admin scope");
    const adminToken = (await tp.platform.store.createToken(admin.username, 'scrape', { scopes: ['read', 'admin'] })).token;
    assert.match(await scrape({ ...relayed, authorization: `Bearer ${adminToken}` }), /^skaha_sessions\{/m);
  });
});
