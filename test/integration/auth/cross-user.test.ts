import assert from 'node:assert/strict';
import dns from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import WebSocket from 'ws';
import { issueProxyCert, issueUserCert, type Issued } from '../../../src/auth/x509/pki.js';
import { AUDIENCE, freePort, startIssuer, type TestIssuer } from '../../helpers/oidc-issuer.js';
import { sessionCookieFor, sessionOrigin } from '../../helpers/origins.js';
import { cleanupList, launch, randomName, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { DESKTOP_IMAGE, execIn } from '../../helpers/sessions.js';
import { writePlatformTls } from '../../helpers/tls.js';
import { eventually } from '../../helpers/wait.js';

/** How a client presents itself: headers, and a client certificate for the HTTPS listener. */
interface Credential {
  name: string;
  headers: Record<string, string>;
  cert?: { cert: string; key: string };
}

/** Browsers resolve `*.localhost` to loopback themselves (RFC 6761); glibc does not. */
const lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
  if (hostname !== 'localhost' && !hostname.endsWith('.localhost')) return dns.lookup(hostname, options, callback as never);
  return options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4);
}) as unknown as typeof dns.lookup;

/**
 * Issue 15's cross-user matrix, against real parts: a Podman desktop of each user, the real
 * proxy (portal origin and the session's own origin), both API versions, an OIDC issuer, the
 * HTTPS listener with a proxy certificate, and the callback token read from inside the
 * attacker's own desktop, as code running there would. Every credential of the attacker, over
 * every way in, reaches nothing of the victim's session (0 successes); the victim's own token
 * reaches all of it, so each way in is shown to work.
 */
describe("no credential of one user reaches another user's session", () => {
  let tp: TestPlatform;
  let issuer: TestIssuer;
  let ca: Issued;
  let tlsBase: string;
  const cleanups = cleanupList();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-xuser-'));
  const attackerName = randomName('mallory');
  let victim: { username: string; token: string };
  let victimDesktop: string;
  let credentials: Credential[];

  before(async () => {
    issuer = await startIssuer({ port: await freePort(), username: attackerName });
    ca = writePlatformTls(dataDir);
    tp = await startPlatform(cleanups.add, { tls: { port: await freePort() }, oidc: { issuer: issuer.issuer, audience: AUDIENCE } }, { dataDir });
    tlsBase = tp.platform.tlsUrl()!;
    victim = await tp.newUser('victim');
    const put = await fetch(`${tp.base}/arc/files/home/${victim.username}/secret.txt`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${victim.token}` },
      body: 'the victim’s',
    });
    assert.equal(put.status, 201, 'a file in the victim’s home');
    const attackerToken = (await tp.platform.store.createToken(attackerName, 'full')).token;
    const readOnly = (await tp.platform.store.createToken(attackerName, 'ro', { scopes: ['read'] })).token;

    victimDesktop = await launch(tp, victim.token, { name: 'victim', image: DESKTOP_IMAGE, type: 'desktop' });
    const attackerDesktop = await launch(tp, attackerToken, { name: 'mine', image: DESKTOP_IMAGE, type: 'desktop' });
    // The attacker is not one of tp.newUser's (the issuer needed the name first): their desktop goes here.
    cleanups.add(async () => void (await tp.request('DELETE', `/skaha/v0/session/${attackerDesktop}`, { token: attackerToken })));
    for (const [id, token] of [
      [victimDesktop, victim.token],
      [attackerDesktop, attackerToken],
    ] as const) {
      assert.equal(await tp.waitStatus(token, id, ['Running', 'Failed'], 180_000), 'Running');
    }
    const callbackToken = (await execIn(attackerDesktop, ['printenv', 'DESKTOP_SESSION_APP_TOKEN'])).trim();
    assert.ok(callbackToken, "the attacker's desktop holds a callback token");

    const loginCookie = await loginWith(attackerToken);
    // A session cookie is for one session's origin: the attacker's own desktop's.
    const ownSessionCookie = await sessionCookieFor(tp.base, loginCookie, attackerDesktop, `/session/desktop/${attackerDesktop}/`);
    const user = issueUserCert(ca, attackerName);
    const proxy = issueProxyCert(user);

    credentials = [
      { name: 'API token', headers: { authorization: `Bearer ${attackerToken}` } },
      { name: 'read-only token', headers: { authorization: `Bearer ${readOnly}` } },
      { name: 'login cookie', headers: { cookie: loginCookie } },
      { name: 'own session cookie', headers: { cookie: ownSessionCookie } },
      { name: 'OIDC access token', headers: { authorization: `Bearer ${await issuer.accessToken()}` } },
      { name: 'X.509 proxy certificate', headers: {}, cert: { cert: [proxy.certPem, user.certPem].join('\n'), key: proxy.keyPem } },
      { name: 'callback token', headers: { 'x-auth-token-skaha': callbackToken } },
    ];
  });
  after(async () => {
    await cleanups.run();
    await issuer?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** The portal's login form, with a token: the login cookie (`name=value`). */
  async function loginWith(token: string): Promise<string> {
    const r = await fetch(`${tp.base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(tp.base).origin },
      body: new URLSearchParams({ token }),
      redirect: 'manual',
    });
    assert.equal(r.status, 303, await r.text());
    return r.headers.get('set-cookie')!.split(';')[0]!;
  }

  /** One HTTP request, over the HTTPS listener when the credential is a certificate. */
  async function send(url: string, credential: Credential, method = 'GET'): Promise<{ status: number; body: string }> {
    const dispatcher = new Agent({ connect: { lookup, ...(credential.cert ? { ca: ca.certPem, ...credential.cert } : {}) } });
    try {
      const r = await undiciFetch(url, { method, headers: credential.headers, redirect: 'manual', dispatcher });
      return { status: r.status, body: await r.text() };
    } finally {
      await dispatcher.close();
    }
  }

  /** A WebSocket handshake: 101 when it opened, else the refusal's status. */
  function upgrade(url: string, credential: Credential): Promise<number> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), {
        headers: credential.headers,
        lookup,
        ...(credential.cert ? { ca: ca.certPem, ...credential.cert } : {}),
        handshakeTimeout: 10_000,
      });
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      ws.once('error', () => resolve(0));
    });
  }

  /** Every way in to the victim's desktop, each with what counts as reaching it. */
  function waysIn(credential: Credential): Array<{ name: string; reached: () => Promise<boolean> }> {
    const base = credential.cert ? tlsBase : tp.base;
    const id = victimDesktop;
    const page = `/session/desktop/${id}/`;
    const ok = (status: number) => status >= 200 && status < 300;
    const ways: Array<{ name: string; reached: () => Promise<boolean> }> = [];
    for (const v of ['v0', 'v1']) {
      const api = `${base}/skaha/${v}/session`;
      ways.push(
        {
          name: `${v} list`,
          reached: async () => {
            const r = await send(api, credential);
            return r.body.includes(id);
          },
        },
        { name: `${v} GET`, reached: async () => ok((await send(`${api}/${id}`, credential)).status) },
        // skaha answers an unowned session's logs with 200 and an empty body (spec §3.6): reaching them is any text.
        {
          name: `${v} logs`,
          reached: async () => {
            const r = await send(`${api}/${id}?view=logs`, credential);
            return ok(r.status) && r.body.length > 0;
          },
        },
        { name: `${v} events`, reached: async () => ok((await send(`${api}/${id}?view=events`, credential)).status) },
        { name: `${v} renew`, reached: async () => ok((await send(`${api}/${id}?action=renew`, credential, 'POST')).status) },
        { name: `${v} DELETE`, reached: async () => ok((await send(`${api}/${id}`, credential, 'DELETE')).status) },
      );
    }
    // The victim's files through the storage service (/arc), as vos and the portal reach them.
    const home = `${base}/arc/files/home/${victim.username}`;
    ways.push(
      { name: 'storage read', reached: async () => ok((await send(`${home}/secret.txt`, credential)).status) },
      { name: 'storage listing', reached: async () => (await send(`${base}/arc/nodes/home/${victim.username}`, credential)).body.includes('secret.txt') },
      { name: 'storage delete', reached: async () => ok((await send(`${base}/arc/nodes/home/${victim.username}/secret.txt`, credential, 'DELETE')).status) },
    );
    const origins = credential.cert ? [tlsBase] : [tp.base, sessionOrigin(tp.base, id)];
    for (const origin of origins) {
      const where = origin === tp.base || origin === tlsBase ? 'portal origin' : 'session origin';
      ways.push(
        { name: `proxy HTTP (${where})`, reached: async () => ok((await send(`${origin}${page}`, credential)).status) },
        { name: `proxy WebSocket (${where})`, reached: async () => (await upgrade(`${origin}${page}websockify`, credential)) === 101 },
      );
    }
    return ways;
  }

  it('the victim reaches each way in: the doors exist', async () => {
    const owner = { name: 'victim token', headers: { authorization: `Bearer ${victim.token}` } };
    // The desktop's noVNC answers once it has started inside the Running container.
    await eventually(
      "the victim's desktop answers",
      async () => (await send(`${tp.base}/session/desktop/${victimDesktop}/`, owner)).status,
      (s) => s === 200,
      120_000,
    );
    for (const way of waysIn(owner).filter((w) => !/DELETE|delete/.test(w.name) && !w.name.includes('session origin'))) {
      assert.ok(await way.reached(), `the owner is refused by ${way.name}`);
    }
    // On the session's own origin, as the owner's browser: with the session cookie.
    const cookie = await sessionCookieFor(tp.base, await loginWith(victim.token), victimDesktop, `/session/desktop/${victimDesktop}/`);
    for (const way of waysIn({ name: 'victim session cookie', headers: { cookie } }).filter((w) => w.name.includes('session origin'))) {
      assert.ok(await way.reached(), `the owner's browser is refused by ${way.name}`);
    }
  });

  it('every credential of another user, over every way in: 0 successes', async () => {
    const successes: string[] = [];
    let tried = 0;
    for (const credential of credentials) {
      // Prove the credential itself works (for its own holder), so a refusal is the rule's.
      const me = await send(`${credential.cert ? tlsBase : tp.base}/skaha/v0/session`, credential);
      if (credential.name !== 'callback token' && credential.name !== 'own session cookie')
        assert.equal(me.status, 200, `${credential.name} is a working credential: ${me.body}`);
      for (const way of waysIn(credential)) {
        tried++;
        if (await way.reached()) successes.push(`${credential.name} → ${way.name}`);
      }
    }
    assert.deepEqual(successes, [], `${successes.length} of ${tried} attempts reached the victim's session`);
    assert.ok(tried >= credentials.length * 17, `the whole matrix was tried (${tried})`);
    // Code in the attacker's desktop holds its callback token: it cannot act as its owner on
    // the storage service either, not even in the owner's own home.
    const callback = credentials.find((c) => c.name === 'callback token')!;
    const own = await send(`${tp.base}/arc/nodes/home/${attackerName}`, callback);
    assert.equal(own.status, 403, own.body);
    // And the victim's session is still there, untouched.
    assert.equal(await tp.waitStatus(victim.token, victimDesktop, ['Running'], 5_000), 'Running');
  });
});
