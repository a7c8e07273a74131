import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import Docker from 'dockerode';
import { WATCH_BACKOFF_INITIAL_MS } from '../../../src/backends/backoff.js';
import { EngineWatch } from '../../../src/backends/podman/engine-watch.js';
import type { EngineEvent } from '../../../src/backends/podman/events.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('EngineWatch (the Podman event stream, followed through breaks)', () => {
  it('backs off 1 s, doubling while the engine is away, re-lists before every new stream and resets once live', async () => {
    // An engine API on a Unix socket, as Podman's: /events refuses once, then streams one event
    // and ends (the engine restarting), then stays open.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-watch-'));
    const socketPath = path.join(dir, 'engine.sock');
    const open: http.ServerResponse[] = [];
    let eventsCalls = 0;
    const server = http.createServer((req, res) => {
      if (!req.url?.startsWith('/events')) return void res.writeHead(404).end();
      eventsCalls++;
      if (eventsCalls === 1) return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"engine starting"}');
      res.writeHead(200, { 'content-type': 'application/json' });
      if (eventsCalls === 2) {
        res.write(`${JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: 'c1' } })}\n{"Type":"image","Act`);
        res.end('ion":"pull"}\n');
      } else {
        res.flushHeaders();
        open.push(res);
      }
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const delays: number[] = [];
    const events: EngineEvent[] = [];
    let relists = 0;
    const watch = new EngineWatch(new Docker({ socketPath }), {
      relist: async () => {
        relists++;
        if (relists === 1) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      },
      onEvent: (e) => events.push(e),
      log: { warn() {} },
      delay: async (ms) => void delays.push(ms),
    });
    try {
      watch.start();
      for (let i = 0; i < 200 && !watch.connected; i++) await sleep(10);
      assert.equal(open.length, 1, 'the third stream is open');
      assert.equal(watch.connected, true);
      assert.deepEqual(
        delays,
        [WATCH_BACKOFF_INITIAL_MS, 2 * WATCH_BACKOFF_INITIAL_MS, WATCH_BACKOFF_INITIAL_MS],
        'refused: 1 s; the re-list failed: 2 s; the stream that worked ended: 1 s again',
      );
      assert.equal(relists, 3, 'a re-list before each new stream (the first failed)');
      assert.deepEqual(
        events.map((e) => `${e.Type} ${e.Action}`),
        ['container start', 'image pull'],
        'lines split across chunks are joined',
      );
      watch.stop();
      assert.equal(watch.connected, false);
    } finally {
      watch.stop();
      for (const res of open) res.destroy();
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
