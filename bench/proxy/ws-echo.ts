/**
 * The WebSocket upstream of bench/proxy.ts: a `ws` echo server on a free loopback port. Every
 * message comes back as it was sent (text or binary). Prints one JSON line, `{"port": N}`, once
 * listening; stops on SIGTERM or SIGINT, or when its parent's stdin closes.
 *
 *   node --import tsx bench/proxy/ws-echo.ts
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => {
  console.log(JSON.stringify({ port: (wss.address() as AddressInfo).port }));
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
