import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { launchChromium } from '../../helpers/browser.js';
import { cleanupList, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { AUDIENCE, freePort, startIssuer, type TestIssuer } from '../../helpers/oidc-issuer.js';

describe('OIDC: bearer JWTs from a real issuer, and the browser login with PKCE', () => {
  let tp: TestPlatform;
  let issuer: TestIssuer;
  let rogue: TestIssuer;
  let shortLived: TestIssuer;
  const cleanups = cleanupList();

  before(async () => {
    const issuerPort = await freePort();
    // The confidential client's secret comes from a file, as a mounted Kubernetes Secret would
    // give it: the browser login below fails at the issuer's token endpoint without it.
    const secrets = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-oidc-secret-'));
    cleanups.add(async () => fs.rmSync(secrets, { recursive: true, force: true }));
    fs.writeFileSync(path.join(secrets, 'client-secret'), 'test-secret\n', { mode: 0o600 });
    tp = await startPlatform(cleanups.add, {
      oidc: {
        issuer: `http://127.0.0.1:${issuerPort}`,
        audience: AUDIENCE,
        clientId: 'skaha',
        clientSecretFile: path.join(secrets, 'client-secret'),
        clockToleranceSeconds: 0,
      },
    });
    issuer = await startIssuer({ port: issuerPort, redirectUri: `${tp.base}/login/oidc/callback` });
    rogue = await startIssuer({ port: await freePort() });
    shortLived = await startIssuer({ port: await freePort(), accessTokenTtlSeconds: 1 });
  });
  after(async () => {
    await cleanups.run();
    for (const i of [issuer, rogue, shortLived]) await i?.close();
  });

  const whoami = (token: string) => tp.request('GET', '/auth/session', { headers: { authorization: `Bearer ${token}` } });

  it('accepts a valid access token: username and groups from its claims', async () => {
    const r = await whoami(await issuer.accessToken());
    assert.equal(r.status, 200, r.body);
    const me = JSON.parse(r.body);
    assert.equal(me.username, 'oidcuser');
    assert.equal(me.method, 'oidc');
    assert.deepEqual([...me.groups].sort(), ['astro', 'batch']);
    assert.equal((await tp.request('GET', '/skaha/v0/session', { headers: { authorization: `Bearer ${await issuer.accessToken()}` } })).status, 200);
  });

  it("lets an OIDC token reach none of another user's sessions", async () => {
    const owner = await tp.newUser('own');
    const id = (
      await tp.request('POST', '/skaha/v0/session', {
        token: owner.token,
        form: { name: 'mine', image: 'images.canfar.net/skaha/webapp:1.0', type: 'contributed' },
      })
    ).body.trim();
    const headers = { authorization: `Bearer ${await issuer.accessToken()}` };
    for (const [method, url] of [
      ['GET', `/skaha/v0/session/${id}`],
      ['DELETE', `/skaha/v0/session/${id}`],
      ['POST', `/skaha/v0/session/${id}?action=renew`],
    ] as const) {
      const r = await tp.request(method, url, { headers });
      assert.ok([400, 404].includes(r.status), `${method} ${url} → ${r.status}`);
    }
    assert.equal((await fetch(`${tp.base}/session/contrib/${id}/`, { headers })).status, 404);
  });

  it('refuses expired, wrong-audience, wrong-issuer and tampered tokens, with the reason', async () => {
    const wrongAudience = await issuer.accessToken('https://other.example');
    const fromRogue = await rogue.accessToken();
    const valid = await issuer.accessToken();
    const [head, body, signature] = valid.split('.') as [string, string, string];
    const tampered = `${head}.${body}.${signature.slice(0, -4)}${signature.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    const forgedClaims = `${head}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), preferred_username: 'admin' })).toString('base64url')}.${signature}`;
    const cases: Array<[string, string, RegExp]> = [
      ['wrong audience', wrongAudience, /aud is not accepted/],
      ['wrong issuer', fromRogue, /not accepted/],
      ['tampered signature', tampered, /signature not valid/],
      ['changed claims', forgedClaims, /signature not valid/],
    ];
    for (const [label, token, reason] of cases) {
      const r = await whoami(token);
      assert.equal(r.status, 401, `${label}: ${r.body}`);
      assert.match(r.body, reason, label);
    }
    // An issuer we do not trust, even with a short-lived token that has not expired yet.
    assert.equal((await whoami(await shortLived.accessToken())).status, 401);
  });

  it('refuses an expired token', async () => {
    const expiring = await startIssuer({ port: await freePort(), accessTokenTtlSeconds: 1 });
    const platform = await startPlatform(
      cleanups.add,
      { oidc: { issuer: expiring.issuer, audience: AUDIENCE, clockToleranceSeconds: 0 } },
      { dataDir: tp.dataDir, keepData: true },
    );
    try {
      const token = await expiring.accessToken();
      assert.equal((await platform.request('GET', '/auth/session', { headers: { authorization: `Bearer ${token}` } })).status, 200);
      await new Promise((r) => setTimeout(r, 2100));
      const r = await platform.request('GET', '/auth/session', { headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual([r.status, r.body], [401, 'OIDC token not accepted: expired\n']);
    } finally {
      await expiring.close();
    }
  });

  it('logs a browser in through the issuer (authorization code with PKCE) in real Chromium', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${tp.base}/login?next=/auth/session`);
      await page.click('#oidc-login');
      await page.fill('input[name=login]', 'carolyn');
      await page.fill('input[name=password]', 'anything');
      await page.click('button[type=submit]');
      // The development consent page, then back to us.
      await page.waitForURL((url) => url.href.startsWith(tp.base) || url.pathname.includes('/interaction/'));
      if (page.url().includes('/interaction/')) await page.click('button[type=submit]');
      await page.waitForURL(`${tp.base}/auth/session`);
      const me = JSON.parse(await page.locator('body').innerText());
      assert.equal(me.username, 'carolyn');
      assert.equal(me.method, 'cookie');
      assert.ok(me.groups.includes('astro'), 'groups from the issuer');
      assert.match(me.csrfToken, /^[A-Za-z0-9_-]{43}$/);
      const cookies = await page.context().cookies(tp.base);
      assert.ok(
        cookies.some((c) => c.name === 'skaha_login' && c.httpOnly),
        'an HttpOnly login cookie',
      );
      assert.ok(!cookies.some((c) => c.name === 'skaha_oidc' && c.value), 'the flow cookie is gone');
    } finally {
      await browser.close();
    }
  });
});
