import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fetchLocal, sessionOrigin } from '../../helpers/origins.js';
import { cleanupList, launch, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';

/** GET through the proxy until the session's app answers (it starts a moment after Running). */
async function open(tp: TestPlatform, path: string, headers: Record<string, string>, origin = tp.base): Promise<Awaited<ReturnType<typeof fetchLocal>>> {
  let r: Awaited<ReturnType<typeof fetchLocal>> | undefined;
  for (let i = 0; i < 100; i++) {
    r = await fetchLocal(`${origin}${path}`, { headers, redirect: 'manual' });
    if (r.status !== 503) return r;
    await new Promise((x) => setTimeout(x, 200));
  }
  return r!;
}

describe('the proxy in skaha serve, to a real session container', () => {
  const cleanups = cleanupList();
  after(() => cleanups.run());

  it('opens the connect URL for its owner only, logs a browser in, survives a restart, stops at delete', async () => {
    const tp = await startPlatform(cleanups.add);
    const alice = await tp.newUser('pa');
    const bob = await tp.newUser('pb');
    const id = await launch(tp, alice.token, { name: 'site', image: WEB_IMAGE, type: 'contributed' });
    const bearer = { authorization: `Bearer ${alice.token}` };
    const connect = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token })).body).connectURL as string;
    const path = new URL(connect).pathname;

    const page = await open(tp, path, bearer);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, new RegExp(`<td id="user">${alice.username}</td>`), 'the container runs as its owner');
    assert.match(html, /<td id="path">\/<\/td>/, 'contributed sessions see the path without the prefix');
    assert.equal((await open(tp, path, { authorization: `Bearer ${bob.token}` })).status, 404);

    // A browser, step by step: the connect URL is on the session's own origin, which sends it to
    // the portal; the portal has it log in and hands it a ticket back to that origin, which
    // trades the ticket for a cookie of its own. The portal's login cookie never goes there.
    const own = sessionOrigin(tp.base, id);
    assert.equal(new URL(connect).origin, own, "the connect URL is on the session's own origin");
    const anonymous = await fetchLocal(connect, { headers: { accept: 'text/html' }, redirect: 'manual' });
    assert.equal(anonymous.status, 302);
    const toPortal = anonymous.headers.get('location')!;
    assert.equal(toPortal, `${tp.base}/session-login?to=${encodeURIComponent(`${own}${path}`)}`);
    const needsLogin = await fetch(toPortal, { redirect: 'manual' });
    assert.equal(needsLogin.status, 302);
    const loginForm = await fetch(`${tp.base}${needsLogin.headers.get('location')}`);
    assert.match(await loginForm.text(), /<form method="post" action="\/login"[^>]*>/);
    const login = await fetch(`${tp.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: alice.token, next: new URL(toPortal).pathname + new URL(toPortal).search }),
      redirect: 'manual',
    });
    assert.equal(login.status, 303);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const ticketed = await fetch(`${tp.base}${login.headers.get('location')}`, { headers: { cookie }, redirect: 'manual' });
    assert.equal(ticketed.status, 302);
    const withTicket = ticketed.headers.get('location')!;
    assert.ok(withTicket.startsWith(`${own}${path}?skaha_ticket=`), withTicket);
    const traded = await fetchLocal(withTicket, { redirect: 'manual' });
    assert.equal(traded.status, 302);
    assert.equal(traded.headers.get('location'), path, 'the ticket leaves the address bar');
    const sessionCookie = traded.headers.get('set-cookie')!.split(';')[0]!;
    assert.equal((await open(tp, path, { cookie: sessionCookie }, own)).status, 200);
    assert.equal((await fetchLocal(withTicket, { redirect: 'manual' })).status, 403, 'a ticket works once');

    // What a page on the session's origin could try: the portal's routes are not there, nor
    // other sessions; the portal's origin sends a browser's session traffic away.
    for (const route of ['/auth/session', '/skaha/v0/session', '/login', `/session/contrib/${id.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'))}/`]) {
      assert.equal((await fetchLocal(`${own}${route}`, { headers: { cookie: sessionCookie }, redirect: 'manual' })).status, 404, route);
    }
    const onPortal = await fetch(`${tp.base}${path}`, { headers: { cookie }, redirect: 'manual' });
    assert.equal(onPortal.status, 302);
    assert.equal(onPortal.headers.get('location'), `${own}${path}`);
    const other = await launch(tp, alice.token, { name: 'other', image: WEB_IMAGE, type: 'contributed' });
    const ticketForOther = await fetch(`${tp.base}/session-login?to=${encodeURIComponent(`${sessionOrigin(tp.base, other)}/session/contrib/${other}/`)}`, {
      headers: { cookie },
      redirect: 'manual',
    });
    const stolen = new URL(ticketForOther.headers.get('location')!).searchParams.get('skaha_ticket')!;
    assert.equal(
      (await fetchLocal(`${own}${path}?skaha_ticket=${encodeURIComponent(stolen)}`, { redirect: 'manual' })).status,
      403,
      'a ticket opens its own session only',
    );
    assert.equal(
      (await fetch(`${tp.base}/session-login?to=${encodeURIComponent(`http://evil.example${path}`)}`, { headers: { cookie }, redirect: 'manual' })).status,
      400,
      'tickets go to session origins only',
    );
    const refused = await fetch(`${tp.base}/login`, {
      method: 'POST',
      body: 'token=skt_wrong&next=//evil.example',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
    });
    assert.equal(refused.status, 401);
    const open_redirect = await fetch(`${tp.base}/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: alice.token, next: '//evil.example/x' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
    });
    assert.equal(open_redirect.headers.get('location'), '/', 'no open redirect');

    // A restarted server routes the session again without anyone calling anything.
    await tp.platform.close();
    const again = await startPlatform(cleanups.add, {}, { dataDir: tp.dataDir, keepData: true });
    const after = await open(again, path, bearer);
    assert.equal(after.status, 200, 'routable after the restart');

    assert.equal((await again.request('DELETE', `/skaha/v0/session/${id}`, { token: alice.token })).status, 200);
    const gone = await fetchLocal(`${again.base}${path}`, { headers: bearer });
    assert.equal(gone.status, 404, 'a deleted session stops at once');
  });
});
