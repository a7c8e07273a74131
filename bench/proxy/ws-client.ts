/**
 * The WebSocket load of bench/proxy.ts, in its own process (so it can be pinned to a CPU).
 * `Authorization` for the handshake comes from BENCH_WS_AUTHORIZATION when set.
 *
 *   node --import tsx bench/proxy/ws-client.ts rtt <url> <sockets> <rounds> <spreadMs>
 *     Open <sockets> connections (100 handshakes at a time), then 1 warm-up round and <rounds>
 *     timed rounds: in each, every socket sends one 32-byte text message and waits for its echo.
 *     spreadMs 0: all sockets send at once (a burst); otherwise each socket sends at a random
 *     moment within spreadMs (a steady rate of sockets/spreadMs messages per ms). A round ends
 *     when every echo is back, or after 30 s (missing ones are counted as lost, and their
 *     sockets sit out the later rounds). Prints one JSON line with the round-trip times (ms).
 *
 *   node --import tsx bench/proxy/ws-client.ts idle <url> <sockets>
 *     Open <sockets> connections and print `{"opened": N, ...}`; then hold them, sending
 *     nothing, until a line `close` arrives on stdin (or 300 s pass), close them all, print
 *     `{"closed": N}` and exit.
 *
 * Exits by itself when its parent's stdin closes.
 */
import readline from 'node:readline';
import WebSocket from 'ws';

const HANDSHAKES_AT_ONCE = 100;
const OPEN_TIMEOUT_MS = 15_000;
const ROUND_TIMEOUT_MS = 30_000;
const HOLD_LIMIT_MS = 300_000;
const PAYLOAD = 'skaha-bench-0123456789abcdefghij'; // 32 bytes

const [mode, url, socketsArg, roundsArg, spreadArg] = process.argv.slice(2);
const authorization = process.env.BENCH_WS_AUTHORIZATION;
const headers: Record<string, string> = authorization ? { authorization } : {};

function openOne(): Promise<WebSocket | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url!, { headers, perMessageDeflate: false, handshakeTimeout: OPEN_TIMEOUT_MS });
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      resolve(ok ? ws : undefined);
    };
    ws.once('open', () => done(true));
    ws.once('unexpected-response', (_req, res) => {
      process.stderr.write(`ws-client: handshake answered ${res.statusCode}\n`);
      ws.terminate();
      done(false);
    });
    ws.on('error', (err) => {
      if (!settled) process.stderr.write(`ws-client: ${err.message}\n`);
      done(false);
    });
  });
}

async function openAll(n: number): Promise<{ sockets: WebSocket[]; failed: number; ms: number }> {
  const t0 = performance.now();
  const sockets: WebSocket[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const ws = await openOne();
      if (ws) sockets.push(ws);
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(HANDSHAKES_AT_ONCE, n) }, worker));
  return { sockets, failed, ms: performance.now() - t0 };
}

/** One round: every live socket sends once; resolves when all echoes are back or on timeout. */
function round(
  sockets: WebSocket[],
  live: boolean[],
  sentAt: Float64Array,
  spreadMs: number,
  onEcho: { fn: (i: number) => void },
): Promise<{ samples: number[]; lost: number }> {
  return new Promise((resolve) => {
    const samples: number[] = [];
    const waiting = new Set<number>();
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      for (const i of waiting) live[i] = false;
      onEcho.fn = () => undefined;
      resolve({ samples, lost: waiting.size });
    };
    const timer = setTimeout(finish, ROUND_TIMEOUT_MS + spreadMs);
    onEcho.fn = (i) => {
      if (!waiting.delete(i)) return;
      samples.push(performance.now() - sentAt[i]!);
      if (waiting.size === 0) finish();
    };
    const send = (i: number) => {
      if (finished) return;
      sentAt[i] = performance.now();
      sockets[i]!.send(PAYLOAD);
    };
    sockets.forEach((_, i) => {
      if (!live[i]) return;
      waiting.add(i);
    });
    if (waiting.size === 0) return finish();
    for (const i of [...waiting]) {
      if (spreadMs > 0) setTimeout(send, Math.random() * spreadMs, i);
      else send(i);
    }
  });
}

async function rtt(): Promise<void> {
  const n = Number(socketsArg);
  const rounds = Number(roundsArg);
  const spreadMs = Number(spreadArg ?? 0);
  const opened = await openAll(n);
  const { sockets } = opened;
  const live = sockets.map(() => true);
  const sentAt = new Float64Array(sockets.length);
  const onEcho = { fn: (_i: number) => undefined as void };
  sockets.forEach((ws, i) => {
    ws.on('message', () => onEcho.fn(i));
    ws.on('close', () => (live[i] = false));
  });
  const samples: number[] = [];
  let lost = 0;
  const t0 = performance.now();
  for (let r = 0; r <= rounds; r++) {
    const res = await round(sockets, live, sentAt, spreadMs, onEcho);
    if (r > 0) {
      // Round 0 warms up (JIT, buffers) and is not counted.
      for (const s of res.samples) samples.push(s);
      lost += res.lost;
    }
    if (spreadMs === 0) await new Promise((r2) => setTimeout(r2, 100));
  }
  const measuredMs = performance.now() - t0;
  for (const ws of sockets) ws.terminate();
  console.log(JSON.stringify({ opened: sockets.length, failed: opened.failed, openMs: opened.ms, rounds, spreadMs, lost, measuredMs, samples }));
}

async function idle(): Promise<void> {
  const n = Number(socketsArg);
  const opened = await openAll(n);
  let closedByPeer = 0;
  for (const ws of opened.sockets) ws.on('close', () => closedByPeer++);
  console.log(JSON.stringify({ opened: opened.sockets.length, failed: opened.failed, openMs: opened.ms }));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, HOLD_LIMIT_MS);
    readline.createInterface({ input: process.stdin }).on('line', (line) => {
      if (line.trim() === 'close') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const lostWhileIdle = closedByPeer;
  for (const ws of opened.sockets) ws.terminate();
  console.log(JSON.stringify({ closed: opened.sockets.length, closedByPeerWhileIdle: lostWhileIdle }));
  process.exit(0);
}

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
if (!url || !socketsArg) {
  console.error('usage: ws-client.ts rtt <url> <sockets> <rounds> <spreadMs> | idle <url> <sockets>');
  process.exit(2);
}
if (mode === 'rtt') {
  await rtt();
  process.exit(0);
} else if (mode === 'idle') {
  await idle();
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
