import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { CallbackListener, isCallbackPath } from '../../../src/server/callbacks.js';

const silent = { info() {}, warn() {}, error() {} };

/** Send one raw HTTP request; resolve with what came back ('' when the peer was dropped). */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    socket.on('data', (c) => (data += c.toString()));
    socket.on('close', () => resolve(data));
    socket.on('error', () => resolve(data));
  });
}

describe('CallbackListener', () => {
  const listeners: CallbackListener[] = [];
  after(async () => {
    for (const l of listeners) await l.close();
  });

  it('serves /skaha/ only, and only to session peers', async () => {
    let peers = true;
    const listener = new CallbackListener({
      port: 0,
      host: '127.0.0.1',
      isSessionPeer: () => peers,
      handler: (_req, res) => res.end('api'),
      log: silent,
    });
    listeners.push(listener);
    await listener.start();
    const port = listener.port()!;
    assert.equal(listener.problem(), undefined);
    assert.match(await rawGet(port, '/skaha/v0/image'), /200 OK[\s\S]*api$/);
    assert.match(await rawGet(port, '/session/notebook/x/'), /^HTTP\/1.1 404/);
    assert.match(await rawGet(port, '/auth/tokens'), /^HTTP\/1.1 404/);
    assert.match(await rawGet(port, '/'), /^HTTP\/1.1 404/);
    peers = false;
    assert.equal(await rawGet(port, '/skaha/v0/image'), '', 'a peer that is not a session is dropped unanswered');
  });

  it('keeps trying a port that is taken, says so meanwhile, and listens once it is free', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const listener = new CallbackListener({ port, host: '127.0.0.1', isSessionPeer: () => true, handler: (_q, res) => res.end('api'), log: silent });
    listeners.push(listener);
    await listener.start();
    assert.match(listener.problem() ?? '', /desktop callbacks unavailable: cannot listen on 127\.0\.0\.1:\d+/);
    assert.equal(listener.advertisedPort(), port);
    await new Promise((r) => blocker.close(r));
    const deadline = Date.now() + 30_000;
    while (listener.problem() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(listener.problem(), undefined);
    assert.match(await rawGet(port, '/skaha/x'), /api$/);
  });

  it('isCallbackPath', () => {
    assert.ok(isCallbackPath('/skaha/v0/session'));
    assert.ok(!isCallbackPath('/skaha'));
    assert.ok(!isCallbackPath('//skaha/v0'));
    assert.ok(!isCallbackPath('/skaha/../auth/tokens'));
    assert.ok(!isCallbackPath('/session/desktop/x'));
  });
});
