import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { AUDIENCE, freePort, startIssuer, type TestIssuer } from '../../helpers/oidc-issuer.js';
import { startProxyRig, startUpstream, type ProxyRig } from '../../helpers/proxy.js';

/**
 * Issue 15 points 2, 3 and 6, attacked through the real proxy: a container that records every
 * header it is sent looks for platform credentials; read-only tokens try to change things; a
 * foreign page tries to open the owner's socket; the container tries to plant cookies and a
 * service worker scope on the platform's paths.
 */
describe('session proxy: no platform credential reaches a container, read-only stays read-only', () => {
  let rig: ProxyRig;
  let issuer: TestIssuer;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let wss: WebSocketServer;
  let full: string;
  let readOnly: string;
  const seen: IncomingHttpHeaders[] = [];

  before(async () => {
    issuer = await startIssuer({ port: await freePort(), username: 'alice' });
    rig = await startProxyRig({ oidc: { issuer: issuer.issuer, audience: AUDIENCE } });
    upstream = await startUpstream((req, res) => {
      seen.push(req.headers);
      req.resume();
      res.writeHead(200, {
        'content-type': 'text/plain',
        'service-worker-allowed': '/',
        'set-cookie': [
          'app=1; Path=/',
          'deep=2; Path=/api; HttpOnly',
          'skaha_login=planted; Path=/',
          '__Host-x=1; Path=/; Secure',
          'wide=3; Domain=127.0.0.1; Path=/auth',
        ],
      });
      res.end('ok');
    });
    wss = new WebSocketServer({ server: upstream.server });
    wss.on('connection', (ws, req) => {
      seen.push(req.headers);
      ws.send('hello');
    });
    full = (await rig.store.createToken('alice', 'full')).token;
    readOnly = (await rig.store.createToken('alice', 'ro', { scopes: ['read'] })).token;
    rig.addSession({ id: 'contrib1', username: 'alice', type: 'contributed', port: upstream.port });
  });
  after(async () => {
    wss?.close();
    await rig?.close();
    await upstream?.close();
    await issuer?.close();
  });

  const send = (path: string, headers: Record<string, string>, method = 'GET') =>
    fetch(`${rig.base}${path}`, { method, headers, redirect: 'manual', ...(method === 'POST' ? { body: 'x' } : {}) });
  const platformSecrets = (h: IncomingHttpHeaders) =>
    JSON.stringify(h).match(/bearer|skt_|eyJ|skaha_login|skaha_s_|x-skaha-registry-auth|x-auth-token-skaha|registry-secret|callback-secret/gi) ?? [];

  it('forwards neither an API token, an OIDC access token, a registry secret nor a callback token', async () => {
    const jwt = await issuer.accessToken();
    const extras = { 'x-skaha-registry-auth': 'cmVnaXN0cnktc2VjcmV0', 'x-auth-token-skaha': 'callback-secret', 'x-app': 'kept' };
    const login = (await rig.cookies.startLogin('alice', { scopes: ['read', 'launch', 'admin'] })).split(';')[0]!;
    const credentials: Array<Record<string, string>> = [{ authorization: `Bearer ${full}` }, { authorization: `Bearer ${jwt}` }, { cookie: `${login}; app=1` }];
    for (const credential of credentials) {
      const r = await send('/session/contrib/contrib1/page', { ...credential, ...extras }, 'POST');
      assert.equal(r.status, 200, `${Object.keys(credential)[0]}: ${await r.text()}`);
      const h = seen.at(-1)!;
      assert.deepEqual(platformSecrets(h), [], `the container saw ${JSON.stringify(h)}`);
      assert.equal(h['x-app'], 'kept', "the app's own headers still travel");
    }
    // The same over a WebSocket, authenticated by the OIDC token.
    const ws = new WebSocket(`${rig.base.replace('http', 'ws')}/session/contrib/contrib1/ws`, { headers: { authorization: `Bearer ${jwt}`, ...extras } });
    await new Promise((resolve, reject) => {
      ws.once('message', resolve);
      ws.once('error', reject);
    });
    ws.close();
    assert.deepEqual(platformSecrets(seen.at(-1)!), []);
  });

  it('lets a read-only token GET and HEAD, but not POST, DELETE or open a WebSocket', async () => {
    const ro = { authorization: `Bearer ${readOnly}` };
    assert.equal((await send('/session/contrib/contrib1/x', ro)).status, 200);
    assert.equal((await send('/session/contrib/contrib1/x', ro, 'HEAD')).status, 200);
    const before = seen.length;
    for (const method of ['POST', 'DELETE', 'PUT', 'PATCH']) {
      const r = await send('/session/contrib/contrib1/x', ro, method);
      assert.equal(r.status, 403, method);
      assert.match(await r.text(), /read-only/);
    }
    const ws = new WebSocket(`${rig.base.replace('http', 'ws')}/session/contrib/contrib1/ws`, { headers: ro });
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    assert.equal(status, 403);
    assert.equal(seen.length, before, 'the container saw none of them');
    assert.equal((await send('/session/contrib/contrib1/x', { authorization: `Bearer ${full}` }, 'POST')).status, 200, 'a full token still may');
  });

  it("refuses a WebSocket opened by a page of another origin with the owner's cookie", async () => {
    const login = (await rig.cookies.startLogin('alice', { scopes: ['read', 'launch', 'admin'] })).split(';')[0]!;
    const url = `${rig.base.replace('http', 'ws')}/session/contrib/contrib1/ws`;
    const before = seen.length;
    for (const origin of ['http://evil.example', `${rig.base}.evil.example`, 'http://localhost', 'null']) {
      const ws = new WebSocket(url, { headers: { cookie: login }, origin });
      const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
      assert.equal(status, 403, origin);
    }
    assert.equal(seen.length, before, 'the container saw no handshake');
    const own = new WebSocket(url, { headers: { cookie: login }, origin: rig.base });
    assert.equal(
      String(
        await new Promise((resolve, reject) => {
          own.once('message', resolve);
          own.once('error', reject);
        }),
      ),
      'hello',
    );
    own.close();
  });

  it("keeps a container's cookies on its own path and drops the platform's names and service-worker scope", async () => {
    const r = await send('/session/contrib/contrib1/', { authorization: `Bearer ${full}` });
    assert.equal(r.headers.get('service-worker-allowed'), null);
    assert.deepEqual(r.headers.getSetCookie(), [
      'app=1; Path=/session/contrib/contrib1/',
      'deep=2; Path=/session/contrib/contrib1/api; HttpOnly',
      'wide=3; Path=/session/contrib/contrib1/auth',
    ]);
  });
});
