/**
 * Launch latency (bench/README.md): how long from `POST /skaha/v0/session` to a Running
 * contributed session, against the same container started straight on Podman.
 *
 *   node --import tsx bench/launch.ts
 *
 * Each round, in rotating order:
 *   skaha   POST /skaha/v0/session (type=contributed, webapp image, cores=1, ram=1), then
 *           GET /skaha/v0/session/<id> every 20 ms until status Running.
 *   cli     `podman run -d --rm --user 200000:200000 --cap-drop ALL -p 127.0.0.1::5000 <image>`,
 *           then `podman inspect` every 20 ms until running.
 *   engine  the same container through the Docker-compatible API on skaha's socket
 *           (dockerode create + start, then inspect every 20 ms until running).
 * Then, for all three, the time until the web app answers `GET /healthz` on its published
 * loopback port (polled every 20 ms; the port is read from the engine), and the removal:
 * skaha's DELETE, waiting until the session is gone (404); `podman rm -f -t 0`; remove.
 * Round 0 is a warm-up and not counted.
 *
 * Environment: BENCH_LAUNCHES (20), BENCH_PAUSE_MS (250, between steps), BENCH_TIMEOUT_S (900),
 * BENCH_FRESH_USERS (0; 1: each skaha launch is a new user's first, which on Podman also makes
 * that user's network and its firewall rules).
 */
import type Docker from 'dockerode';
import {
  Cleanup,
  deleteSessionsOf,
  engine,
  envInt,
  errorMessage,
  machine,
  machineLine,
  markdownTable,
  ms,
  now,
  podman,
  randomHex,
  ratio,
  serverLogTail,
  sleep,
  startServer,
  summarize,
  textTable,
  WEB_IMAGE,
  type Server,
  type Summary,
} from './lib.js';

const LAUNCHES = envInt('BENCH_LAUNCHES', 20, 1, 200);
const PAUSE_MS = envInt('BENCH_PAUSE_MS', 250, 0, 10_000);
const TIMEOUT_S = envInt('BENCH_TIMEOUT_S', 900, 30, 7200);
const FRESH_USERS = envInt('BENCH_FRESH_USERS', 0, 0, 1) === 1;
const POLL_MS = 20;
const STEP_TIMEOUT_MS = 60_000;
const GOAL_P50_MS = 1000;
const APP_PORT = '5000/tcp';

const PEER_USER = '200000:200000';
const RUN_ID = randomHex(4);
const RUN_LABEL = `skaha-bench.run=${RUN_ID}`;

interface Samples {
  skahaRunning: number[];
  skahaPost: number[];
  skahaReady: number[];
  skahaDelete: number[];
  cliRunning: number[];
  cliReady: number[];
  engineRunning: number[];
  engineReady: number[];
  runningAtFirstGet: number;
}

/** Milliseconds from `t0` until the container's web app answers GET /healthz on its host port. */
async function appAnswers(docker: Docker, containerId: string, t0: number): Promise<number> {
  const info = await docker.getContainer(containerId).inspect();
  const hostPort = info.NetworkSettings?.Ports?.[APP_PORT]?.[0]?.HostPort;
  if (!hostPort) throw new Error(`container ${containerId} publishes no ${APP_PORT}`);
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${hostPort}/healthz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return now() - t0;
    } catch {
      /* not listening yet */
    }
    if (now() - t0 > STEP_TIMEOUT_MS) throw new Error(`container ${containerId}: no answer on port ${hostPort} after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

async function skahaRound(server: Server, docker: Docker, cleanup: Cleanup, known: Set<string>, round: number, s: Samples | undefined): Promise<void> {
  const { username, api } = FRESH_USERS ? server.newUser() : { username: server.username, api: server.api };
  const t0 = now();
  const { id, ms: postMs } = await cleanup.track(api.launch({ name: `lat-${round}`, image: WEB_IMAGE, type: 'contributed', cores: '1', ram: '1' }));
  known.add(id);
  let polls = 0;
  for (;;) {
    const status = await api.status(id);
    polls++;
    if (status === 'Running') break;
    if (status !== 'Pending') throw new Error(`session ${id} is ${status ?? 'gone'} while waiting for Running`);
    if (now() - t0 > STEP_TIMEOUT_MS) throw new Error(`session ${id} not Running after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const running = now() - t0;
  // The container is named after the session's job (skaha-<type>-<user>-<id>): one inspect, as for the peers.
  const ready = await appAnswers(docker, `skaha-contributed-${username}-${id}`, t0);

  const td = now();
  const r = await api.request('DELETE', `/skaha/v0/session/${id}`);
  if (r.status !== 200) throw new Error(`DELETE /skaha/v0/session/${id} -> ${r.status} ${r.body.trim()}`);
  while ((await api.status(id)) !== undefined) {
    if (now() - td > STEP_TIMEOUT_MS) throw new Error(`session ${id} still listed ${STEP_TIMEOUT_MS} ms after DELETE`);
    await sleep(POLL_MS);
  }
  const deleted = now() - td;
  known.delete(id);
  if (s) {
    s.skahaRunning.push(running);
    s.skahaPost.push(postMs);
    s.skahaReady.push(ready);
    s.skahaDelete.push(deleted);
    if (polls === 1) s.runningAtFirstGet++;
  }
}

async function gone(docker: Docker, id: string): Promise<void> {
  const t0 = now();
  for (;;) {
    try {
      await docker.getContainer(id).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404 || /no such container/i.test(errorMessage(err))) return;
      throw err;
    }
    if (now() - t0 > STEP_TIMEOUT_MS) throw new Error(`peer container ${id} still there after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
}

async function cliRound(docker: Docker, round: number, s: Samples | undefined): Promise<void> {
  const t0 = now();
  const id = await podman([
    'run',
    '-d',
    '--rm',
    '--name',
    `skaha-bench-${RUN_ID}-cli-${round}`,
    '--label',
    RUN_LABEL,
    '--user',
    PEER_USER,
    '--cap-drop',
    'ALL',
    '-p',
    '127.0.0.1::5000',
    WEB_IMAGE,
  ]);
  for (;;) {
    if ((await podman(['inspect', '--format', '{{.State.Running}}', id])) === 'true') break;
    if (now() - t0 > STEP_TIMEOUT_MS) throw new Error(`podman container ${id} not running after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const running = now() - t0;
  const ready = await appAnswers(docker, id, t0);
  // --rm may remove it first: "no such container" from rm is fine.
  await podman(['rm', '-f', '-t', '0', id]).catch(() => undefined);
  await gone(docker, id);
  if (s) {
    s.cliRunning.push(running);
    s.cliReady.push(ready);
  }
}

async function engineRound(docker: Docker, round: number, s: Samples | undefined): Promise<void> {
  const t0 = now();
  const container = await docker.createContainer({
    name: `skaha-bench-${RUN_ID}-api-${round}`,
    Image: WEB_IMAGE,
    User: PEER_USER,
    Labels: { 'skaha-bench.run': RUN_ID },
    ExposedPorts: { [APP_PORT]: {} },
    HostConfig: { CapDrop: ['ALL'], PortBindings: { [APP_PORT]: [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  await container.start();
  for (;;) {
    if ((await container.inspect()).State.Running) break;
    if (now() - t0 > STEP_TIMEOUT_MS) throw new Error(`engine container ${container.id} not running after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const running = now() - t0;
  const ready = await appAnswers(docker, container.id, t0);
  await container.remove({ force: true, v: true });
  await gone(docker, container.id);
  if (s) {
    s.engineRunning.push(running);
    s.engineReady.push(ready);
  }
}

/** This run's peer containers, whatever state they are in. */
async function removePeers(docker: Docker): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: { label: [RUN_LABEL] } });
  for (const c of left)
    await docker
      .getContainer(c.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  if (left.length) console.log(`cleanup: removed ${left.length} peer container(s)`);
}

function row(name: string, x: Summary): string[] {
  return [name, String(x.n), ms(x.min), ms(x.p50), ms(x.p95), ms(x.max), ms(x.mean)];
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
    console.log(`launch latency: ${LAUNCHES} launches + 1 warm-up of each kind; ${machineLine(m)}`);
    cleanup.add('remove peer containers', () => removePeers(docker));
    // Interactive sessions are limited to 5 per user by default; each is deleted before the
    // next anyway, but a raised limit keeps a slow removal from failing a launch.
    server = await startServer(cleanup, { config: { sessions: { maxUserSessions: 100 } } });
    const srv = server;
    cleanup.add(`delete sessions of ${srv.username}`, async () => {
      await deleteSessionsOf(srv, known, { timeoutMs: 120_000 });
    });
    console.log(`server ${srv.base} (user ${srv.username}, data in ${srv.workDir})`);

    const s: Samples = {
      skahaRunning: [],
      skahaPost: [],
      skahaReady: [],
      skahaDelete: [],
      cliRunning: [],
      cliReady: [],
      engineRunning: [],
      engineReady: [],
      runningAtFirstGet: 0,
    };
    const kinds = [
      (round: number, into: Samples | undefined) => skahaRound(srv, docker, cleanup, known, round, into),
      (round: number, into: Samples | undefined) => cliRound(docker, round, into),
      (round: number, into: Samples | undefined) => engineRound(docker, round, into),
    ];
    const last = (a: number[]) => ms(a[a.length - 1] ?? Number.NaN, 0);
    for (let round = 0; round <= LAUNCHES; round++) {
      for (let k = 0; k < kinds.length; k++) {
        cleanup.check();
        await kinds[(round + k) % kinds.length]!(round, round === 0 ? undefined : s);
        if (PAUSE_MS) await sleep(PAUSE_MS);
      }
      if (round === 0) console.log('warm-up round done');
      else {
        console.log(
          `round ${String(round).padStart(2)}/${LAUNCHES}: Running after skaha ${last(s.skahaRunning)} ms (POST ${last(s.skahaPost)}), ` +
            `podman CLI ${last(s.cliRunning)}, engine API ${last(s.engineRunning)}; app answers after ${last(s.skahaReady)} / ${last(s.cliReady)} / ${last(s.engineReady)} ms; DELETE → gone ${last(s.skahaDelete)} ms`,
        );
      }
    }

    const skaha = summarize(s.skahaRunning);
    const post = summarize(s.skahaPost);
    const skahaReady = summarize(s.skahaReady);
    const cli = summarize(s.cliRunning);
    const cliReady = summarize(s.cliReady);
    const eng = summarize(s.engineRunning);
    const engReady = summarize(s.engineReady);
    const del = summarize(s.skahaDelete);
    const headers = ['measure (ms)', 'n', 'min', 'p50', 'p95', 'max', 'mean'];
    const rows = [
      row('skaha: POST → status Running', skaha),
      row('skaha: the POST alone', post),
      row('peer, podman CLI: run -d → inspect running', cli),
      row('peer, engine API: create + start → inspect running', eng),
      row('skaha: POST → app answers /healthz', skahaReady),
      row('peer, podman CLI: run -d → app answers', cliReady),
      row('peer, engine API: create → app answers', engReady),
      row('skaha: DELETE → session gone (404)', del),
    ];
    const ratioHeaders = ['ratio skaha / peer', 'p50', 'p95'];
    const ratioRows = [
      ['to Running: skaha / podman CLI', ratio(skaha.p50, cli.p50), ratio(skaha.p95, cli.p95)],
      ['to Running: skaha / engine API', ratio(skaha.p50, eng.p50), ratio(skaha.p95, eng.p95)],
      ['to app answers: skaha / podman CLI', ratio(skahaReady.p50, cliReady.p50), ratio(skahaReady.p95, cliReady.p95)],
      ['to app answers: skaha / engine API', ratio(skahaReady.p50, engReady.p50), ratio(skahaReady.p95, engReady.p95)],
    ];
    const verdict = `goal p50(POST → Running) < ${GOAL_P50_MS} ms: ${skaha.p50 < GOAL_P50_MS ? 'met' : 'NOT met'} (p50 ${ms(skaha.p50, 0)} ms)`;
    const firstGet = `the session was already Running at the first GET after the POST in ${s.runningAtFirstGet} of ${s.skahaRunning.length} launches`;
    console.log(`\n${textTable(headers, rows)}\n\n${textTable(ratioHeaders, ratioRows)}\n\n${verdict}\n${firstGet}`);
    console.log('\n--- markdown ---');
    console.log(
      `Launch latency, ${LAUNCHES} sequential launches of each kind of \`${WEB_IMAGE}\` (skaha: type=contributed, cores=1, ram=1), after one warm-up; ${machineLine(m)}.\n`,
    );
    console.log(markdownTable(headers, rows));
    console.log('');
    console.log(markdownTable(ratioHeaders, ratioRows));
    console.log(`\n${verdict}; ${firstGet}.`);
    console.log('--- end ---\n');
  } catch (err) {
    failed = true;
    if (!cleanup.aborted) {
      console.error(`launch benchmark failed: ${errorMessage(err)}`);
      if (server) console.error(`server log (last lines):\n${serverLogTail(server)}`);
    }
  } finally {
    await cleanup.run();
  }
  process.exit(failed ? 1 : 0);
}

await main();
