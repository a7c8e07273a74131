import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { startProxyRig, startUpstream, type ProxyRig } from '../../helpers/proxy.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('session proxy: HTTP and WebSocket to real upstreams', () => {
  let rig: ProxyRig;
  let echo: Awaited<ReturnType<typeof startUpstream>>;
  let other: Awaited<ReturnType<typeof startUpstream>>;
  let wss: WebSocketServer;
  let alice: string;
  let bob: string;
  const seen: Seen[] = [];
  const otherSeen: string[] = [];

  before(async () => {
    rig = await startProxyRig({ upstreamTimeoutMs: 400, startupGraceMs: 0 });
    (globalThis as { __rigBase?: string }).__rigBase = rig.base;
    echo = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        if (req.url?.endsWith('/hang')) return; // never answers: the proxy's 504
        if (req.url?.endsWith('/drop')) return req.socket.destroy(); // closes mid-request: 502
        if (req.url?.endsWith('/events')) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: first\n\n');
          setTimeout(() => res.end('data: second\n\n'), 300);
          return;
        }
        if (req.url?.endsWith('/nocontent')) return void res.writeHead(204).end();
        if (req.url?.endsWith('/notmodified')) return void res.writeHead(304, { etag: '"v1"' }).end();
        if (req.url?.endsWith('/chunked')) {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('a');
          setTimeout(() => res.end('b'), 20);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['app=1; Path=/'] });
        res.end(JSON.stringify({ url: req.url, method: req.method, length: body.length }));
      });
    });
    wss = new WebSocketServer({ server: echo.server });
    wss.on('connection', (ws, req) => {
      ws.send(`hello ${req.url}`);
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    other = await startUpstream((req, res) => {
      otherSeen.push(req.url!);
      res.end('other');
    });
    alice = (await rig.store.createToken('alice', 't')).token;
    bob = (await rig.store.createToken('bob', 't')).token;
    rig.addSession({ id: 'contrib1', username: 'alice', type: 'contributed', port: echo.port });
    rig.addSession({ id: 'notebk01', username: 'alice', type: 'notebook', port: echo.port });
    rig.addSession({ id: 'bobsess1', username: 'bob', type: 'contributed', port: other.port });
  });
  after(async () => {
    wss.close();
    await rig.close();
    await echo.close();
    await other.close();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) =>
    fetch(`${rig.base}${path}`, { method, headers, redirect: 'manual', ...(body !== undefined ? { body } : {}) });
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  it('strips the prefix for contributed, keeps it for notebooks, and forwards method, body and headers', async () => {
    const r = await get('/session/contrib/contrib1/api/x?q=1', { ...auth(alice), 'x-custom': 'v' }, 'POST', 'payload');
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { url: '/api/x?q=1', method: 'POST', length: 7 });
    assert.deepEqual(r.headers.getSetCookie(), ['app=1; Path=/session/contrib/contrib1/'], "the app's own cookies come back, on its own path");
    const last = seen.at(-1)!;
    assert.equal(last.headers['x-custom'], 'v');
    assert.equal(last.headers.authorization, undefined, 'our API token never reaches the container');
    assert.equal(last.headers['x-forwarded-prefix'], '/session/contrib/contrib1');

    const nb = await get('/session/notebook/notebk01/lab/tree/arc/home/alice', auth(alice));
    assert.equal(((await nb.json()) as { url: string }).url, '/session/notebook/notebk01/lab/tree/arc/home/alice');
    assert.equal(seen.at(-1)!.headers.authorization, 'token notebk01', 'the proxy presents the notebook token for its owner');
    assert.equal(((await get('/session/contrib/contrib1', auth(alice)).then((x) => x.json())) as { url: string }).url, '/');
  });

  it("answers HEAD with the container's headers and no body, and passes 204 and 304 through", async () => {
    const head = await get('/session/contrib/contrib1/thing', auth(alice), 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'application/json');
    assert.equal(await head.text(), '');
    const none = await get('/session/contrib/contrib1/nocontent', auth(alice));
    assert.equal(none.status, 204);
    assert.equal(await none.text(), '');
    const same = await get('/session/contrib/contrib1/notmodified', { ...auth(alice), 'if-none-match': '"v1"' });
    assert.equal(same.status, 304);
    assert.equal(same.headers.get('etag'), '"v1"');
    // The connection is still good for the next request after bodiless answers.
    assert.equal((await get('/session/contrib/contrib1/after', auth(alice))).status, 200);
  });

  it('replaces spoofed forwarding headers and drops our cookies', async () => {
    await get('/session/contrib/contrib1/', {
      ...auth(alice),
      host: 'evil.example',
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'https',
      cookie: `skaha_login=forged; app=keep; skaha_s_bobsess1=forged`,
    });
    const h = seen.at(-1)!.headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h.cookie, 'app=keep');
  });

  it('streams chunked responses and server-sent events as they come', async () => {
    assert.equal(await (await get('/session/contrib/contrib1/chunked', auth(alice))).text(), 'ab');
    const r = await get('/session/contrib/contrib1/events', auth(alice));
    const reader = r.body!.getReader();
    const first = Buffer.from((await reader.read()).value!).toString();
    assert.equal(first, 'data: first\n\n', 'the first event arrives before the stream ends');
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += Buffer.from(chunk.value).toString();
    assert.equal(rest, 'data: second\n\n');
  });

  it('streams a 100 MB upload without holding it in memory', async () => {
    const size = 100 * 2 ** 20;
    let received = 0;
    const sink = await startUpstream((req, res) => {
      req.on('data', (c: Buffer) => (received += c.length));
      req.on('end', () => res.end(String(received)));
    });
    rig.addSession({ id: 'upload01', username: 'alice', type: 'contributed', port: sink.port });
    const chunk = Buffer.alloc(64 * 1024, 1);
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent >= size) return this.push(null);
        sent += chunk.length;
        this.push(chunk);
      },
    });
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${rig.base}/session/contrib/upload01/up`, { method: 'PUT', headers: auth(alice) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      source.pipe(req);
    });
    clearInterval(sampler);
    await sink.close();
    assert.equal(status, 200);
    assert.equal(received, size);
    assert.ok(rssPeak - rssBefore < 64 * 2 ** 20, `memory grew by ${Math.round((rssPeak - rssBefore) / 2 ** 20)} MB for a 100 MB upload`);
  });

  it('streams a 100 MB download to a slow client without holding it in memory', async () => {
    const size = 100 * 2 ** 20;
    const chunk = Buffer.alloc(64 * 1024, 2);
    const source = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    rig.addSession({ id: 'dnload01', username: 'alice', type: 'contributed', port: source.port });
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    // The client reads in bursts with pauses: the proxy must stop reading from the container
    // rather than buffer what the client has not taken yet.
    const received = await new Promise<number>((resolve, reject) => {
      http
        .get(`${rig.base}/session/contrib/dnload01/big`, { headers: auth(alice) }, (res) => {
          let n = 0;
          let sinceBreak = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            sinceBreak += c.length;
            if (sinceBreak > 8 * 2 ** 20) {
              sinceBreak = 0;
              res.pause();
              setTimeout(() => res.resume(), 50);
            }
          });
          res.on('end', () => resolve(n));
          res.on('error', reject);
        })
        .on('error', reject);
    });
    clearInterval(sampler);
    await source.close();
    assert.equal(received, size);
    assert.ok(rssPeak - rssBefore < 64 * 2 ** 20, `memory grew by ${Math.round((rssPeak - rssBefore) / 2 ** 20)} MB for a 100 MB download`);
  });

  it('answers 504 when the container does not answer, 502 when it drops the connection', async () => {
    const hang = await get('/session/contrib/contrib1/hang', auth(alice));
    assert.equal(hang.status, 504);
    assert.match(await hang.text(), /did not answer in time/);
    const drop = await get('/session/contrib/contrib1/drop', { ...auth(alice), accept: 'text/html' });
    assert.equal(drop.status, 502);
    assert.match(await drop.text(), /<h1>Session not reachable<\/h1>/);
  });

  it('shows a waiting page, not a 502, while a session starts, and says when to look again', async () => {
    rig.addSession({ id: 'pending1', username: 'alice', type: 'contributed', port: 1, status: 'Pending' });
    const r = await get('/session/contrib/pending1/', { ...auth(alice), accept: 'text/html' });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('x-skaha-waiting'), '1');
    assert.equal(r.headers.get('retry-after'), '1');
    assert.match(await r.text(), /reloads by itself/);
  });

  it('shows on the waiting page what a Pending session waits for, and updates it as the page polls', async () => {
    const note = 'Pulling image images.example.org/big/tool:1.0: 1.2 of 3.4 GB, 3 of 7 layers.';
    rig.addSession({ id: 'pulling1', username: 'alice', type: 'contributed', port: 1, status: 'Pending', pendingNote: note });
    const page = await get('/session/contrib/pulling1/', { ...auth(alice), accept: 'text/html' });
    assert.equal(page.status, 503);
    assert.match(await page.text(), /<p id="detail">Pulling image images\.example\.org\/big\/tool:1\.0: 1\.2 of 3\.4 GB, 3 of 7 layers\.<\/p>/);
    const poll = await fetch(`${rig.base}/session/contrib/pulling1/`, { method: 'HEAD', headers: auth(alice) });
    assert.equal(decodeURIComponent(poll.headers.get('x-skaha-detail') ?? ''), note);
  });

  it('takes a client that goes away off the upstream too', async () => {
    let closed = false;
    const slow = await startUpstream((req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write('x'.repeat(1024)), 10);
      res.on('close', () => {
        clearInterval(timer);
        closed = true;
      });
    });
    rig.addSession({ id: 'slowdown', username: 'alice', type: 'contributed', port: slow.port });
    const controller = new AbortController();
    const r = await fetch(`${rig.base}/session/contrib/slowdown/`, { headers: auth(alice), signal: controller.signal });
    await r.body!.getReader().read();
    controller.abort();
    for (let i = 0; i < 500 && !closed; i++) await new Promise((x) => setTimeout(x, 20));
    await slow.close();
    assert.ok(closed, 'the upstream response was closed');
  });

  it('echoes WebSocket text and binary frames', async () => {
    const ws = new WebSocket(`${rig.base.replace('http', 'ws')}/session/contrib/contrib1/ws?x=1`, { headers: auth(alice) });
    const messages: Array<{ data: Buffer; binary: boolean }> = [];
    ws.on('message', (data: Buffer, binary) => messages.push({ data, binary }));
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    await new Promise((x) => setTimeout(x, 5));
    const sentAt = Date.now();
    ws.send('text frame');
    ws.send(Buffer.from([0, 1, 2, 255]));
    for (let i = 0; i < 1000 && messages.length < 3; i++) await new Promise((x) => setTimeout(x, 10));
    ws.close();
    assert.equal(messages[0]!.data.toString(), 'hello /ws?x=1', 'prefix stripped for contributed');
    assert.deepEqual([messages[1]!.data.toString(), messages[1]!.binary], ['text frame', false]);
    assert.deepEqual([[...messages[2]!.data], messages[2]!.binary], [[0, 1, 2, 255], true]);
    assert.ok(rig.activity.lastActivity('contrib1') >= sentAt, 'frames count as activity');
  });

  it("refuses another user's session over HTTP and WebSocket with 404, and strangers with 401 or the login page", async () => {
    const before = otherSeen.length;
    assert.equal((await get('/session/contrib/bobsess1/', auth(alice))).status, 404);
    assert.equal((await get('/session/contrib/contrib1/', auth(bob))).status, 404);
    assert.equal((await get('/session/notebook/contrib1/', auth(alice))).status, 404, 'the type must match too');
    assert.equal((await get('/session/contrib/contrib1/')).status, 401);
    assert.equal((await get('/session/contrib/contrib1/', { authorization: 'Bearer skt_bad' })).status, 401);
    const browser = await get('/session/contrib/contrib1/?token=contrib1&x=2', { accept: 'text/html' });
    assert.equal(browser.status, 302);
    assert.equal(
      browser.headers.get('location'),
      `/login?next=${encodeURIComponent('/session/contrib/contrib1/?x=2')}`,
      'the secret does not travel to the login page',
    );
    const ws = new WebSocket(`${rig.base.replace('http', 'ws')}/session/contrib/bobsess1/`, { headers: auth(alice) });
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    assert.equal(status, 404);
    assert.equal(otherSeen.length, before, "bob's container saw nothing");
  });

  it('never lets path tricks, encoding or injection reach another session', async () => {
    const before = otherSeen.length;
    const tricks = [
      '/session/contrib/contrib1/..%2Fbobsess1/',
      '/session/contrib/contrib1/%2e%2e/bobsess1/',
      '/session/contrib/contrib1/../bobsess1/',
      '/session/contrib/contrib1%2F..%2Fbobsess1/',
      '/session/contrib/contrib1/%2F',
      '/session/contrib/contrib1/%2f',
      '/session/contrib/contrib1/%252F',
      '/session/contrib/contrib1//x',
      '/session/contrib/contrib1/a\\b',
      '/session/contrib/CONTRIB1/',
      '/session/contrib/contrib1x/',
      '/session/contrib%2Fbobsess1/',
      '/session/contrib/bobsess1%00/',
    ];
    for (const path of tricks) {
      const status = await rawStatus(path, `Authorization: Bearer ${alice}\r\nX-Forwarded-Host: x\r\n`);
      assert.ok([400, 404].includes(status), `${path} → ${status}`);
    }
    // A second request smuggled after a header line break.
    const injected = await rawStatus(
      '/session/contrib/contrib1/',
      `Authorization: Bearer ${alice}\r\nX-A: a\r\n\r\nGET /session/contrib/bobsess1/ HTTP/1.1\r\nHost: x\r\n`,
    );
    assert.ok([200, 400].includes(injected));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(otherSeen.length, before, "bob's container saw none of them");
  });

  it("trades skaha's ?token= link for a cookie scoped to that session, for its owner only", async () => {
    const r = await get('/session/contrib/contrib1/page?token=contrib1&a=1', auth(alice));
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/session/contrib/contrib1/page?a=1');
    const cookie = r.headers.get('set-cookie')!;
    assert.match(cookie, /^skaha_s_contrib1=[^;]+; Path=\/session\/contrib\/contrib1\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
    const pair = cookie.split(';')[0]!;
    assert.equal((await get('/session/contrib/contrib1/page?a=1', { cookie: pair })).status, 200, 'the cookie alone opens it');
    assert.equal((await get('/session/contrib/bobsess1/', { cookie: pair.replace('contrib1=', 'bobsess1=') })).status, 401, 'and no other session');
    assert.equal((await get('/session/contrib/contrib1/?token=contrib1', auth(bob))).status, 404, 'a non-owner following the link gets nothing');
    // The login cookie works for every session of its user.
    const login = (await rig.cookies.startLogin('alice', { scopes: ['read', 'launch', 'admin'] })).split(';')[0]!;
    assert.equal((await get('/session/notebook/notebk01/lab', { cookie: login })).status, 200);
    assert.equal((await get('/session/contrib/bobsess1/', { cookie: login })).status, 404);
  });
});

/** One raw HTTP/1.1 request (so nothing normalises the target first); returns the status code. */
function rawStatus(path: string, headers: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const base = (globalThis as { __rigBase?: string }).__rigBase!;
    const { port } = new URL(base);
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`));
    let data = '';
    socket.on('data', (c) => (data += c.toString()));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}
