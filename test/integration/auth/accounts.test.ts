import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CallbackTokens } from '../../../src/auth/callback.js';
import { fetchLocal, sessionOrigin } from '../../helpers/origins.js';
import { cleanupList, HEADLESS_IMAGE, launch, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';

describe('identity: accounts, cookies with CSRF, scoped tokens, groups', () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add, { authorization: { headlessGroup: 'batch' } });
  });
  after(() => cleanups.run());

  /** Log in with a password as a browser would; returns the cookie and the CSRF token. */
  async function browserLogin(username: string, password: string): Promise<{ cookie: string; csrf: string }> {
    const r = await fetch(`${tp.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password, next: '/' }),
      redirect: 'manual',
    });
    assert.equal(r.status, 303, 'logged in');
    const cookie = r.headers.get('set-cookie')!.split(';')[0]!;
    const session = JSON.parse((await tp.request('GET', '/auth/session', { headers: { cookie } })).body);
    return { cookie, csrf: session.csrfToken };
  }

  it('logs a browser in with a password; state changes need the CSRF token from this site', async () => {
    const { username } = await tp.newUser('pw');
    await tp.platform.store.setPassword(username, 'correct horse battery');
    const wrong = await fetch(`${tp.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password: 'nope-nope' }),
      redirect: 'manual',
    });
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /Wrong username or password/);

    const { cookie, csrf } = await browserLogin(username, 'correct horse battery');
    assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await tp.request('GET', '/skaha/v0/session', { headers: { cookie } })).status, 200);
    const form = { name: 'csrf', image: HEADLESS_IMAGE, type: 'headless', cmd: 'true' };
    const forged = await tp.request('POST', '/skaha/v0/session', { headers: { cookie }, form });
    assert.equal(forged.status, 403, 'a cross-site form post carries no CSRF token');
    assert.match(forged.body, /^CSRF check failed/);
    const otherSite = await tp.request('POST', '/skaha/v0/session', { headers: { cookie, 'x-csrf-token': csrf, origin: 'https://evil.example' }, form });
    assert.equal(otherSite.status, 403, 'a request from another origin is refused even with the token');
    const ok = await tp.request('POST', '/skaha/v0/session', {
      headers: { cookie, 'x-csrf-token': csrf, origin: new URL(tp.base).origin },
      form: { ...form, type: 'contributed', image: WEB_IMAGE },
    });
    assert.equal(ok.status, 200, ok.body);
  });

  it('gives tokens scopes and expiry; revoked and expired tokens are 401', async () => {
    const { username, token } = await tp.newUser('tok');
    const created = await tp.request('POST', '/auth/tokens', { token, form: { name: 'ci', scopes: 'read', expiresDays: '1' } });
    assert.equal(created.status, 200, created.body);
    const readOnly = JSON.parse(created.body) as { token: string; id: string; scopes: string[]; expiresAt: string };
    assert.deepEqual(readOnly.scopes, ['read']);
    assert.ok(Date.parse(readOnly.expiresAt) > Date.now());
    assert.equal((await tp.request('GET', '/skaha/v0/session', { token: readOnly.token })).status, 200);
    const refused = await tp.request('POST', '/skaha/v0/session', { token: readOnly.token, form: { name: 'x', image: WEB_IMAGE, type: 'contributed' } });
    assert.deepEqual([refused.status, refused.body], [403, "this token does not allow 'launch'\n"]);
    const escalate = await tp.request('POST', '/auth/tokens', { token, form: { name: 'more', scopes: 'read,admin' } });
    assert.deepEqual([escalate.status, escalate.body], [400, 'your credential cannot grant: admin\n']);

    const listed = JSON.parse((await tp.request('GET', '/auth/tokens', { token })).body) as Array<{ id: string; name: string }>;
    assert.ok(listed.some((t) => t.id === readOnly.id && t.name === 'ci'));
    assert.ok(!JSON.stringify(listed).includes(readOnly.token), 'secrets are never listed');
    assert.equal((await tp.request('DELETE', `/auth/tokens/${readOnly.id}`, { token })).status, 200);
    assert.equal((await tp.request('GET', '/skaha/v0/session', { token: readOnly.token })).status, 401, 'revoked');
    assert.equal((await tp.request('DELETE', `/auth/tokens/${readOnly.id}`, { token })).status, 404);

    const expired = (await tp.platform.store.createToken(username, 'old', { expiresAt: new Date(Date.now() - 1000) })).token;
    assert.equal((await tp.request('GET', '/skaha/v0/session', { token: expired })).status, 401, 'expired');
  });

  it('keeps headless jobs to the headless group when one is configured', async () => {
    const { username, token } = await tp.newUser('hg');
    const refused = await tp.request('POST', '/skaha/v0/session', { token, form: { name: 'j', image: HEADLESS_IMAGE, cmd: 'true' } });
    assert.deepEqual([refused.status, refused.body], [403, 'Not authorized to create a headless session\n']);
    await tp.platform.store.addToGroup(username, 'batch');
    const ok = await tp.request('POST', '/skaha/v0/session', { token, form: { name: 'j', image: HEADLESS_IMAGE, cmd: 'true' } });
    assert.equal(ok.status, 200, ok.body);
  });

  it('admits only the users group when one is configured', async () => {
    const restricted = await startPlatform(cleanups.add, { authorization: { usersGroup: 'astro' } }, { dataDir: tp.dataDir, keepData: true });
    const { username, token } = await tp.newUser('ug');
    const refused = await restricted.request('GET', '/skaha/v0/session', { token });
    assert.deepEqual([refused.status, refused.body], [403, 'Not authorized to use the skaha system\n']);
    await tp.platform.store.addToGroup(username, 'astro');
    assert.equal((await restricted.request('GET', '/skaha/v0/session', { token })).status, 200);
  });

  it("lets no credential reach another user's session or app, on any route", async () => {
    const alice = await tp.newUser('own');
    const bob = await tp.newUser('oth');
    await tp.platform.store.setPassword(bob.username, 'bob password 1');
    const id = await launch(tp, alice.token, { name: 'mine', image: WEB_IMAGE, type: 'contributed' });
    assert.equal(await tp.waitStatus(alice.token, id, ['Running']), 'Running');
    const bobCookie = await browserLogin(bob.username, 'bob password 1');
    // A desktop callback token minted for one of bob's sessions acts only for that session.
    const bobs = await launch(tp, bob.token, { name: 'bobs', image: WEB_IMAGE, type: 'contributed' });
    const callback = new CallbackTokens(tp.dataDir).mint(bobs);
    const credentials: Array<[string, Record<string, string>]> = [
      ['bearer', { authorization: `Bearer ${bob.token}` }],
      ['cookie', { cookie: bobCookie.cookie, 'x-csrf-token': bobCookie.csrf }],
      ['callback', { 'x-auth-token-skaha': callback }],
    ];
    const routes: Array<[string, string, Record<string, string>?]> = [
      ['GET', `/skaha/v0/session/${id}`],
      ['GET', `/skaha/v1/session/${id}?view=events`],
      ['POST', `/skaha/v0/session/${id}`, { action: 'renew' }],
      ['DELETE', `/skaha/v1/session/${id}`],
      ['POST', `/skaha/v0/session/${id}/app`, { image: HEADLESS_IMAGE }],
      ['GET', `/skaha/v0/session/${id}/app/abc`],
      ['DELETE', `/skaha/v0/session/${id}/app/abc`],
    ];
    for (const [who, headers] of credentials) {
      for (const [method, url, form] of routes) {
        const r = await tp.request(method, url, { headers, ...(form ? { form } : {}) });
        // DELETE of an app that is not yours "succeeds" without touching anything (spec §3.9).
        const allowed = method === 'DELETE' && url.includes('/app/') && who !== 'callback' ? [200] : [400, 403, 404];
        assert.ok(allowed.includes(r.status), `${who} ${method} ${url} → ${r.status} ${r.body}`);
      }
      const logs = await tp.request('GET', `/skaha/v0/session/${id}?view=logs`, { headers });
      assert.ok(logs.status !== 200 || logs.body === '', `${who} reads no logs`);
      // A browser's credential on the portal's origin is sent on to the session's own origin;
      // there (and for an API client on the portal's) it gets nothing.
      const proxied = await fetch(`${tp.base}/session/contrib/${id}/`, { headers, redirect: 'manual' });
      assert.ok(
        who === 'bearer' ? proxied.status === 404 : proxied.headers.get('location') === `${sessionOrigin(tp.base, id)}/session/contrib/${id}/`,
        `${who} proxy → ${proxied.status}`,
      );
      const atOrigin = await fetchLocal(`${sessionOrigin(tp.base, id)}/session/contrib/${id}/`, { headers, redirect: 'manual' });
      assert.ok([401, 404].includes(atOrigin.status), `${who} at the session's origin → ${atOrigin.status}`);
      const ticket = await fetchLocal(`${tp.base}/session-login?to=${encodeURIComponent(`${sessionOrigin(tp.base, id)}/session/contrib/${id}/`)}`, {
        headers,
        redirect: 'manual',
      });
      assert.ok(
        who === 'cookie' ? ticket.status === 404 : ticket.status === 302 && /^\/login\?/.test(ticket.headers.get('location') ?? ''),
        `${who} gets no ticket → ${ticket.status}`,
      );
    }
    const still = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token })).body);
    assert.equal(still.status, 'Running', "alice's session is untouched");
  });
});
