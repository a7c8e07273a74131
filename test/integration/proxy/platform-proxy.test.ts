import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { cleanupList, launch, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';

/** GET through the proxy until the session's app answers (it starts a moment after Running). */
async function open(tp: TestPlatform, path: string, headers: Record<string, string>): Promise<Response> {
  let r: Response | undefined;
  for (let i = 0; i < 100; i++) {
    r = await fetch(`${tp.base}${path}`, { headers, redirect: 'manual' });
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

    // A browser: sent to log in, logs in with a token, comes back with the login cookie.
    const anonymous = await fetch(`${tp.base}${path}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    assert.equal(anonymous.status, 302);
    const loginForm = await fetch(`${tp.base}${anonymous.headers.get('location')}`);
    assert.match(await loginForm.text(), /<form method="post" action="\/login">/);
    const login = await fetch(`${tp.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: alice.token, next: path }),
      redirect: 'manual',
    });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get('location'), path);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    assert.equal((await open(tp, path, { cookie })).status, 200);
    const refused = await fetch(`${tp.base}/login`, { method: 'POST', body: 'token=skt_wrong&next=//evil.example', headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
    assert.equal(refused.status, 401);
    const open_redirect = await fetch(`${tp.base}/login`, { method: 'POST', body: new URLSearchParams({ token: alice.token, next: '//evil.example/x' }), headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual' });
    assert.equal(open_redirect.headers.get('location'), '/', 'no open redirect');

    // A restarted server routes the session again without anyone calling anything.
    await tp.platform.close();
    const again = await startPlatform(cleanups.add, {}, { dataDir: tp.dataDir, keepData: true });
    const after = await open(again, path, bearer);
    assert.equal(after.status, 200, 'routable after the restart');

    assert.equal((await again.request('DELETE', `/skaha/v0/session/${id}`, { token: alice.token })).status, 200);
    const gone = await fetch(`${again.base}${path}`, { headers: bearer });
    assert.equal(gone.status, 404, 'a deleted session stops at once');
  });
});
