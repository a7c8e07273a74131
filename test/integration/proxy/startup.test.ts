import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startProxyRig, type ProxyRig } from '../../helpers/proxy.js';
import { freePort } from '../../helpers/ports.js';

/**
 * A session that has just started: its application is a moment from listening. A page request
 * is held and tried again until it answers (no waiting page, poll and reload in between); one
 * that does not answer within the hold gets the waiting page; a request with a body is never
 * sent twice.
 */
describe('the proxy, while a session starts', () => {
  let rig: ProxyRig;
  let token: string;
  before(async () => {
    rig = await startProxyRig({ startupGraceMs: 60_000 });
    token = (await rig.store.createToken('alice', 't')).token;
  });
  after(() => rig.close());

  const get = (path: string, init: RequestInit = {}) =>
    fetch(`${rig.base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, accept: 'text/html', ...(init.headers as object) } });

  /** An application that starts listening on `port` after `delayMs`. */
  const listenLater = (port: number, delayMs: number, seen: string[]) =>
    new Promise<http.Server>((resolve) =>
      setTimeout(() => {
        const server = http.createServer((req, res) => {
          seen.push(`${req.method} ${req.url}`);
          res.end('hello from a late starter');
        });
        server.listen(port, '127.0.0.1', () => resolve(server));
      }, delayMs),
    );

  it('holds a page request until the application listens, then answers it', async () => {
    const port = await freePort();
    rig.addSession({ id: 'late0001', username: 'alice', type: 'contributed', port, status: 'Running', startedAt: new Date() });
    const seen: string[] = [];
    const starting = listenLater(port, 500, seen);
    const r = await get('/session/contrib/late0001/');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'hello from a late starter');
    assert.deepEqual(seen, ['GET /'], 'it reached the application once');
    (await starting).close();
  });

  it('shows the waiting page when the application is not up within the hold', async () => {
    const port = await freePort();
    rig.addSession({ id: 'late0002', username: 'alice', type: 'contributed', port, status: 'Running', startedAt: new Date() });
    const r = await get('/session/contrib/late0002/');
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('x-skaha-waiting'), '1');
  });

  it('never sends a request with a body twice: it gets the waiting page at once', async () => {
    const port = await freePort();
    rig.addSession({ id: 'late0003', username: 'alice', type: 'contributed', port, status: 'Running', startedAt: new Date() });
    const seen: string[] = [];
    const starting = listenLater(port, 300, seen);
    const r = await get('/session/contrib/late0003/form', { method: 'POST', body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 503);
    await starting.then((s) => s.close());
    assert.deepEqual(seen, [], 'the POST was not sent');
  });
});
