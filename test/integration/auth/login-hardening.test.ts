import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Issued } from '../../../src/auth/x509/pki.js';
import { writePlatformTls } from '../../helpers/tls.js';
import { cleanupList, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { freePort } from '../../helpers/ports.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One real request to the HTTPS listener, trusting the platform's CA. */
function tlsRequest(url: string, ca: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Issue 15 point 6, attacked as an outsider would: guessing passwords, logging a visitor in or
 * out from another site's page, framing the portal; and the HTTPS listener's own browser login.
 */
describe('login: rate limit, this site only, Secure over TLS, never framed', () => {
  let tp: TestPlatform;
  let tlsBase: string;
  let ca: Issued;
  const cleanups = cleanupList();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-login-'));
  const WINDOW = 3;

  before(async () => {
    ca = writePlatformTls(dataDir);
    tp = await startPlatform(cleanups.add, { tls: { port: await freePort() }, login: { perAccount: 5, perAddress: 1000, windowSeconds: WINDOW } }, { dataDir });
    tlsBase = tp.platform.tlsUrl()!;
  });
  after(() => cleanups.run());

  const login = (form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${tp.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form),
      redirect: 'manual',
    });

  it('answers a burst of wrong passwords with 429 and Retry-After, and lets the owner in after the window', async () => {
    const { username } = await tp.newUser('guess');
    await tp.platform.store.setPassword(username, 'the right password');
    for (let i = 0; i < 5; i++) assert.equal((await login({ username, password: `guess-${i}` })).status, 401);
    const limited = await login({ username, password: 'guess-5' });
    assert.equal(limited.status, 429);
    const wait = Number(limited.headers.get('retry-after'));
    assert.ok(wait >= 1 && wait <= WINDOW, `Retry-After ${wait}`);
    assert.match(await limited.text(), /Too many failed logins/);
    assert.equal((await login({ username, password: 'the right password' })).status, 429, 'no guess is even checked during the wait');
    assert.equal((await login({ username: username.toUpperCase(), password: 'x' })).status, 429, 'nor one in other letter case');

    // Another account is not held up by this one's guesses.
    const other = await tp.newUser('other');
    await tp.platform.store.setPassword(other.username, 'other password!');
    assert.equal((await login({ username: other.username, password: 'other password!' })).status, 303);

    await new Promise((r) => setTimeout(r, (wait + 0.2) * 1000));
    const owner = await login({ username, password: 'the right password' });
    assert.equal(owner.status, 303, 'the owner gets in once the window has passed: no lock-out');
    assert.match(owner.headers.get('set-cookie') ?? '', /^skaha_login=/);
  });

  it("refuses a login or logout posted by another site's page", async () => {
    const { username } = await tp.newUser('csrf');
    await tp.platform.store.setPassword(username, 'a good password');
    const foreign: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { origin: `${tp.base}.evil.example` },
    ];
    for (const headers of foreign) {
      const r = await login({ username, password: 'a good password' }, headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.equal(r.headers.get('set-cookie'), null, 'no cookie was set');
      const out = await fetch(`${tp.base}/logout`, { method: 'POST', headers, redirect: 'manual' });
      assert.equal(out.status, 403, `logout ${JSON.stringify(headers)}`);
    }
    assert.equal((await login({ username, password: 'a good password' }, { origin: tp.base })).status, 303, "this site's own page logs in");
    assert.equal((await fetch(`${tp.base}/logout`, { method: 'POST', headers: { origin: tp.base }, redirect: 'manual' })).status, 303);
  });

  it('never lets another page frame the portal, the login page or the API', async () => {
    for (const url of ['/login', '/', '/skaha/v0/session', '/auth/session']) {
      const r = await fetch(`${tp.base}${url}`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      assert.equal(r.headers.get('x-frame-options'), 'DENY', url);
      assert.equal(r.headers.get('content-security-policy'), "frame-ancestors 'none'", url);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', url);
    }
  });

  it("over the HTTPS listener: a Secure cookie, and the portal's own requests pass the CSRF check", async () => {
    const { username } = await tp.newUser('tls');
    await tp.platform.store.setPassword(username, 'tls password!');
    const origin = new URL(tlsBase).origin;
    const r = await tlsRequest(
      `${tlsBase}/login`,
      ca.certPem,
      'POST',
      { 'content-type': 'application/x-www-form-urlencoded', origin },
      new URLSearchParams({ username, password: 'tls password!' }).toString(),
    );
    assert.equal(r.status, 303, r.body);
    const setCookie = String(r.headers['set-cookie']);
    assert.match(setCookie, /; Secure/, 'never sent back over plain HTTP');
    const cookie = setCookie.split(';')[0]!;
    const session = await tlsRequest(`${tlsBase}/auth/session`, ca.certPem, 'GET', { cookie });
    const csrf = (JSON.parse(session.body) as { csrfToken: string }).csrfToken;
    const minted = await tlsRequest(`${tlsBase}/auth/tokens?name=portal&scopes=read`, ca.certPem, 'POST', { cookie, origin, 'x-csrf-token': csrf });
    assert.equal(minted.status, 200, minted.body);
    const forged = await tlsRequest(`${tlsBase}/auth/tokens?name=evil&scopes=read`, ca.certPem, 'POST', {
      cookie,
      origin: 'https://evil.example',
      'x-csrf-token': csrf,
    });
    assert.equal(forged.status, 403, forged.body);
    // Cookies set over plain HTTP stay without Secure (the embedded default serves loopback HTTP).
    const plain = await login({ username, password: 'tls password!' });
    assert.doesNotMatch(plain.headers.get('set-cookie') ?? '', /Secure/);
  });
});
