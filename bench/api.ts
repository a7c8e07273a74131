/**
 * API latency with many sessions (bench/README.md): one user with BENCH_SESSIONS running
 * headless sessions (`sleep 3600`), then sequential keep-alive requests:
 *
 *   GET /skaha/v0/session               the caller's list (all N sessions in the reply)
 *   GET /skaha/v0/session?view=stats    the platform summary
 *   GET /skaha/v0/session/<id>          one session
 *
 * and, side by side, what one engine listing costs, the least a request would pay without the
 * event-fed index: dockerode listContainers({all: true, filters: {label: ['canfar.net/id']}}) on
 * the same socket. Every session is deleted at the end (also on Ctrl-C, errors, time limit).
 *
 *   node --import tsx bench/api.ts
 *
 * Environment: BENCH_SESSIONS (200), BENCH_REQUESTS (1000 per endpoint), BENCH_ENGINE_CALLS
 * (100), BENCH_CONCURRENCY (4 launches at a time), BENCH_TIMEOUT_S (1800).
 */
import {
  Cleanup,
  deleteSessionsOf,
  engine,
  envInt,
  errorMessage,
  HEADLESS_IMAGE,
  machine,
  machineLine,
  markdownTable,
  ms,
  now,
  pool,
  ratio,
  serverLogTail,
  serverRssMiB,
  sleep,
  startServer,
  summarize,
  textTable,
  type Server,
  type Summary,
} from './lib.js';

const SESSIONS = envInt('BENCH_SESSIONS', 200, 1, 1000);
const REQUESTS = envInt('BENCH_REQUESTS', 1000, 10, 100_000);
const ENGINE_CALLS = envInt('BENCH_ENGINE_CALLS', 100, 5, 10_000);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 4, 1, 32);
const TIMEOUT_S = envInt('BENCH_TIMEOUT_S', 1800, 60, 7200);
const WARMUP = 50;
const GOAL_P99_MS = 20;

/** `count` sequential timed calls after `WARMUP` untimed ones; `call` returns its own time. */
async function measure(cleanup: Cleanup, label: string, count: number, call: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < Math.min(WARMUP, count); i++) await call();
  const samples: number[] = [];
  const t0 = now();
  for (let i = 0; i < count; i++) {
    if (i % 100 === 0) cleanup.check();
    samples.push(await call());
  }
  console.log(`${label}: ${count} calls in ${((now() - t0) / 1000).toFixed(1)} s`);
  return samples;
}

/** A timed GET that must answer 200 (and, when given, pass `check` on its body). */
function timedGet(server: Server, urlPath: string, check?: (body: string) => void): () => Promise<number> {
  return async () => {
    const r = await server.api.request('GET', urlPath);
    if (r.status !== 200) throw new Error(`GET ${urlPath} -> ${r.status} ${r.body.trim().slice(0, 300)}`);
    check?.(r.body);
    return r.ms;
  };
}

function row(name: string, x: Summary): string[] {
  return [name, String(x.n), ms(x.p50, 2), ms(x.p99, 2), ms(x.mean, 2), ms(x.max, 2)];
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  cleanup.timeLimit(TIMEOUT_S);
  const docker = engine();
  const known = new Set<string>();
  let server: Server | undefined;
  let failed = false;
  try {
    const m = machine();
    console.log(`API latency: ${SESSIONS} headless sessions, ${REQUESTS} requests per endpoint; ${machineLine(m)}`);
    // 200 `sleep` jobs asking 1 core each: room for all of them, or 198 would wait in the queue.
    server = await startServer(cleanup, { config: { podman: { headlessQuota: { cores: SESSIONS, ramGiB: SESSIONS } } } });
    const srv = server;
    cleanup.add(`delete sessions of ${srv.username}`, async () => {
      const r = await deleteSessionsOf(srv, known, { concurrency: 8, timeoutMs: 300_000 });
      console.log(`cleanup: ${r.deleted} session(s) deleted through the API and gone in ${r.seconds.toFixed(1)} s${r.forced ? `, ${r.forced} forced` : ''}`);
    });
    console.log(`server ${srv.base} (user ${srv.username}, data in ${srv.workDir})`);
    const rssBefore = serverRssMiB(srv);

    // --- launch N headless sessions, CONCURRENCY at a time -----------------------------------
    const t0 = now();
    const postMs: number[] = [];
    await pool(
      Array.from({ length: SESSIONS }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        const { id, ms: took } = await cleanup.track(
          srv.api.launch({ name: `api-${i}`, image: HEADLESS_IMAGE, type: 'headless', cmd: 'sleep', args: '3600', cores: '1', ram: '1' }),
        );
        known.add(id);
        postMs.push(took);
        if (known.size % 25 === 0) console.log(`launched ${known.size}/${SESSIONS} (${((now() - t0) / 1000).toFixed(1)} s)`);
      },
      cleanup,
    );
    const launchedS = (now() - t0) / 1000;
    const runDeadline = Date.now() + 300_000;
    let running = 0;
    for (;;) {
      cleanup.check();
      const list = await srv.api.sessions();
      running = list.filter((s) => s.status === 'Running').length;
      const failedOnes = list.filter((s) => s.status === 'Failed' || s.status === 'Succeeded');
      if (failedOnes.length) throw new Error(`${failedOnes.length} session(s) ended early, e.g. ${failedOnes[0]?.id} ${failedOnes[0]?.status}`);
      if (running === SESSIONS && list.length === SESSIONS) break;
      if (Date.now() > runDeadline) throw new Error(`only ${running}/${SESSIONS} sessions Running after 300 s`);
      await sleep(500);
    }
    const allRunningS = (now() - t0) / 1000;
    const post = summarize(postMs);
    console.log(
      `${SESSIONS} sessions launched in ${launchedS.toFixed(1)} s (${(SESSIONS / launchedS).toFixed(1)}/s; POST p50 ${ms(post.p50, 0)} ms, p95 ${ms(post.p95, 0)} ms), all Running after ${allRunningS.toFixed(1)} s`,
    );
    const rssLoaded = serverRssMiB(srv);
    const oneId = [...known][0] ?? '';

    // --- measure -----------------------------------------------------------------------------
    let listChecks = 0;
    const list = await measure(
      cleanup,
      'GET /session',
      REQUESTS,
      timedGet(srv, '/skaha/v0/session', (body) => {
        // Parse one reply in 100 to confirm it still holds every session (not timed: it is after r.ms).
        if (listChecks++ % 100 !== 0) return;
        const n = (JSON.parse(body) as unknown[]).length;
        if (n !== SESSIONS) throw new Error(`GET /session listed ${n} sessions, expected ${SESSIONS}`);
      }),
    );
    const listBytes = (await srv.api.request('GET', '/skaha/v0/session')).body.length;
    const stats = await measure(cleanup, 'GET /session?view=stats', REQUESTS, timedGet(srv, '/skaha/v0/session?view=stats'));
    const one = await measure(cleanup, `GET /session/${oneId}`, REQUESTS, timedGet(srv, `/skaha/v0/session/${oneId}`));
    let engineCount = 0;
    const engineList = await measure(cleanup, 'engine listContainers', ENGINE_CALLS, async () => {
      const t = now();
      const containers = await docker.listContainers({ all: true, filters: { label: ['canfar.net/id'] } });
      const took = now() - t;
      engineCount = containers.length;
      return took;
    });
    const rssAfter = serverRssMiB(srv);

    // --- report ------------------------------------------------------------------------------
    const sList = summarize(list);
    const sStats = summarize(stats);
    const sOne = summarize(one);
    const sEngine = summarize(engineList);
    const headers = ['request (ms)', 'n', 'p50', 'p99', 'mean', 'max'];
    const rows = [
      row(`GET /skaha/v0/session (${SESSIONS} sessions, ${(listBytes / 1024).toFixed(0)} KiB)`, sList),
      row('GET /skaha/v0/session?view=stats', sStats),
      row('GET /skaha/v0/session/<id>', sOne),
      row(`engine: listContainers(all, label canfar.net/id) → ${engineCount} containers`, sEngine),
    ];
    const ratioHeaders = ['ratio', 'p50', 'p99'];
    const ratioRows = [['engine listContainers / GET /session', ratio(sEngine.p50, sList.p50), ratio(sEngine.p99, sList.p99)]];
    const worstP99 = Math.max(sList.p99, sStats.p99, sOne.p99);
    const misses = [
      { name: 'GET /session', p99: sList.p99 },
      { name: 'view=stats', p99: sStats.p99 },
      { name: 'GET /session/<id>', p99: sOne.p99 },
    ]
      .filter((x) => x.p99 >= GOAL_P99_MS)
      .map((x) => x.name);
    const verdict = `goal p99 < ${GOAL_P99_MS} ms: ${misses.length ? `NOT met by ${misses.join(', ')}` : 'met'} (worst p99 ${ms(worstP99, 2)} ms)`;
    const launchLine = `${SESSIONS} sessions launched ${CONCURRENCY} at a time in ${launchedS.toFixed(1)} s (POST p50 ${ms(post.p50, 0)} ms, p95 ${ms(post.p95, 0)} ms), all Running after ${allRunningS.toFixed(1)} s; server RSS ${ms(rssBefore, 0)} MiB idle, ${ms(rssLoaded, 0)} MiB with the sessions, ${ms(rssAfter, 0)} MiB after the requests`;
    console.log(`\n${textTable(headers, rows)}\n\n${textTable(ratioHeaders, ratioRows)}\n\n${verdict}\n${launchLine}`);
    console.log('\n--- markdown ---');
    console.log(
      `API latency, one user with ${SESSIONS} running headless sessions, ${REQUESTS} sequential keep-alive requests per endpoint after ${WARMUP} warm-up (engine: ${ENGINE_CALLS} calls); ${machineLine(m)}.\n`,
    );
    console.log(markdownTable(headers, rows));
    console.log('');
    console.log(markdownTable(ratioHeaders, ratioRows));
    console.log(`\n${verdict}. ${launchLine}.`);
    console.log('--- end ---\n');
  } catch (err) {
    failed = true;
    if (!cleanup.aborted) {
      console.error(`API benchmark failed: ${errorMessage(err)}`);
      if (server) console.error(`server log (last lines):\n${serverLogTail(server)}`);
    }
  } finally {
    await cleanup.run();
  }
  process.exit(failed ? 1 : 0);
}

await main();
