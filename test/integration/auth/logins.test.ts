import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupList, launch, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';
import { eventually } from '../../helpers/wait.js';
import { fetchLocal, sessionCookieFor, sessionOrigin } from '../../helpers/origins.js';

/**
 * Issue 15 point 2, as an attacker with a stolen or limited credential would try it: a login keeps
 * the scopes and expiry of what logged in, and every way of ending a login ends the cookie at once
 * (not when it expires), including the session cookies it was traded for.
 */
describe('browser logins are records: scoped like what logged in, ended by logout, password, revocation, admin', () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add);
  });
  after(() => cleanups.run());

  const origin = () => new URL(tp.base).origin;
  async function login(form: Record<string, string>): Promise<{ cookie: string; csrf: string }> {
    const r = await fetch(`${tp.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: origin() },
      body: new URLSearchParams(form),
      redirect: 'manual',
    });
    assert.equal(r.status, 303, await r.text());
    const cookie = r.headers.get('set-cookie')!.split(';')[0]!;
    const me = await tp.request('GET', '/auth/session', { headers: { cookie } });
    assert.equal(me.status, 200, me.body);
    return { cookie, csrf: (JSON.parse(me.body) as { csrfToken: string }).csrfToken };
  }
  const asBrowser = (cookie: string, csrf: string) => ({ cookie, 'x-csrf-token': csrf, origin: origin() });
  const alive = async (cookie: string) => (await tp.request('GET', '/auth/session', { headers: { cookie } })).status;
  /** Launch a web app and wait until it answers through the proxy (Running comes before its server listens). */
  async function webApp(token: string, name: string): Promise<string> {
    const id = await launch(tp, token, { name, image: WEB_IMAGE, type: 'contributed' });
    await eventually(
      'the web app answers',
      async () => (await fetch(`${tp.base}/session/contrib/${id}/`, { headers: { authorization: `Bearer ${token}` } })).status,
      (status) => status === 200,
      60_000,
    );
    return id;
  }

  it("keeps a read-only token's scopes: no wider tokens, no certificate, no launch, read-only through the proxy", async () => {
    const { username, token: full } = await tp.newUser('ro');
    const id = await webApp(full, 'ro');
    const readOnly = (await tp.platform.store.createToken(username, 'ro', { scopes: ['read'] })).token;

    const { cookie, csrf } = await login({ token: readOnly });
    const me = JSON.parse((await tp.request('GET', '/auth/session', { headers: { cookie } })).body) as { scopes: string[] };
    assert.deepEqual(me.scopes, ['read']);
    const admin = await tp.request('POST', '/auth/tokens', {
      headers: asBrowser(cookie, csrf),
      query: { name: 'escalate', scopes: 'read,launch,admin', expiresDays: '3650' },
    });
    assert.equal(admin.status, 403, 'a read-only login changes nothing, so mints nothing');
    assert.match(admin.body, /does not allow 'launch'/);
    const cert = await tp.request('POST', '/auth/certificate', { headers: asBrowser(cookie, csrf) });
    assert.equal(cert.status, 403, cert.body);
    const launched = await tp.request('POST', '/skaha/v0/session', {
      headers: asBrowser(cookie, csrf),
      form: { name: 'no', image: WEB_IMAGE, type: 'contributed' },
    });
    assert.equal(launched.status, 403);
    // On the session's own origin, the cookie it trades the portal's ticket for is read-only too.
    const sessionCookie = await sessionCookieFor(tp.base, cookie, id);
    const at = `${sessionOrigin(tp.base, id)}/session/contrib/${id}`;
    assert.equal((await fetchLocal(`${at}/`, { headers: { cookie: sessionCookie } })).status, 200, 'reading through the proxy is allowed');
    const posted = await fetchLocal(`${at}/x`, { method: 'POST', headers: { cookie: sessionCookie, origin: sessionOrigin(tp.base, id) }, body: 'x' });
    assert.equal(posted.status, 403, 'read-only through the proxy too');

    // Revoking the token that logged in ends the login, and what was minted from it.
    const tokens = JSON.parse((await tp.request('GET', '/auth/tokens', { token: full })).body) as Array<{ id: string; name: string }>;
    assert.ok(!tokens.some((t) => t.name === 'browser login'), 'logins are not listed as API tokens');
    const roId = tokens.find((t) => t.name === 'ro')!.id;
    assert.equal((await tp.request('DELETE', `/auth/tokens/${roId}`, { token: full })).status, 200);
    assert.equal(await alive(cookie), 401, 'the cookie died with its token');
    assert.equal((await fetchLocal(`${at}/`, { headers: { cookie: sessionCookie } })).status, 401, 'and the session cookie with it');
  });

  it('ends the login on logout: the same cookie replayed afterwards is refused, its session cookies too', async () => {
    const { username, token } = await tp.newUser('out');
    await tp.platform.store.setPassword(username, 'a fine password');
    const id = await webApp(token, 'out');
    const { cookie } = await login({ username, password: 'a fine password' });
    const sessionCookie = await sessionCookieFor(tp.base, cookie, id);
    const at = `${sessionOrigin(tp.base, id)}/session/contrib/${id}/`;
    assert.equal((await fetchLocal(at, { headers: { cookie: sessionCookie } })).status, 200);

    const out = await fetch(`${tp.base}/logout`, { method: 'POST', headers: { cookie, origin: origin() }, redirect: 'manual' });
    assert.equal(out.status, 303);
    assert.match(out.headers.get('set-cookie') ?? '', /^skaha_login=; Path=\/; Max-Age=0/);
    assert.equal(await alive(cookie), 401, 'a copy of the cookie kept by an attacker is dead');
    assert.equal((await fetchLocal(at, { headers: { cookie: sessionCookie } })).status, 401);
  });

  it('ends every login of a user on a password change and on skaha admin user logout, and only theirs', async () => {
    const { username } = await tp.newUser('pw');
    const other = await tp.newUser('other');
    await tp.platform.store.setPassword(username, 'first password');
    await tp.platform.store.setPassword(other.username, 'other password');
    const first = await login({ username, password: 'first password' });
    const second = await login({ username, password: 'first password' });
    const bystander = await login({ username: other.username, password: 'other password' });
    await tp.platform.store.setPassword(username, 'second password');
    assert.equal(await alive(first.cookie), 401);
    assert.equal(await alive(second.cookie), 401);
    assert.equal(await alive(bystander.cookie), 200, "another user's login is untouched");

    const third = await login({ username, password: 'second password' });
    assert.equal(await tp.platform.store.endLogins(username), 1);
    assert.equal(await alive(third.cookie), 401);
    assert.equal(await alive(bystander.cookie), 200);
  });

  it('refuses an API token put into the login cookie', async () => {
    const { token } = await tp.newUser('paste');
    assert.equal(await alive(`skaha_login=${token}`), 401, 'only login records are browser logins');
  });
});
