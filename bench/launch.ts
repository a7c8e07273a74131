/**
 * Launch latency (bench/README.md): how long from `POST /skaha/v0/session` to a Running
 * contributed session, against the same container started straight on Podman.
 *
 *   node --import tsx bench/launch.ts
 *
 * Each round, in rotating order:
 *   skaha   POST /skaha/v0/session (type=contributed, webapp image, cores=1, ram=1), then
 *           GET /skaha/v0/session/<id> every 20 ms until status Running; then DELETE it and
 *           wait until it is gone (404).
 *   cli     `podman run -d --rm --user 200000:200000 --cap-drop ALL -p 127.0.0.1::5000 <image>`,
 *           then `podman inspect` every 20 ms until running; then `podman rm -f -t 0`.
 *   engine  the same container through the Docker-compatible API on skaha's socket
 *           (dockerode create + start + inspect until running); then remove.
 * Round 0 is a warm-up and not counted.
 *
 * Environment: BENCH_LAUNCHES (20), BENCH_PAUSE_MS (250, between steps), BENCH_TIMEOUT_S (900).
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
const POLL_MS = 20;
const STEP_TIMEOUT_MS = 60_000;
const GOAL_P50_MS = 1000;

const PEER_USER = '200000:200000';
const RUN_ID = randomHex(4);
const RUN_LABEL = `skaha-bench.run=${RUN_ID}`;

interface Samples {
  skahaRunning: number[];
  skahaPost: number[];
  skahaDelete: number[];
  cli: number[];
  engine: number[];
  runningAtFirstGet: number;
}

async function skahaRound(server: Server, cleanup: Cleanup, known: Set<string>, round: number, s: Samples | undefined): Promise<void> {
  const t0 = now();
  const { id, ms: postMs } = await cleanup.track(
    server.api.launch({ name: `lat-${round}`, image: WEB_IMAGE, type: 'contributed', cores: '1', ram: '1' }),
  );
  known.add(id);
  let polls = 0;
  for (;;) {
    const status = await server.api.status(id);
    polls++;
    if (status === 'Running') break;
    if (status !== 'Pending') throw new Error(`session ${id} is ${status ?? 'gone'} while waiting for Running`);
    if (now() - t0 > STEP_TIMEOUT_MS) throw new Error(`session ${id} not Running after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const running = now() - t0;

  const td = now();
  const r = await server.api.request('DELETE', `/skaha/v0/session/${id}`);
  if (r.status !== 200) throw new Error(`DELETE /skaha/v0/session/${id} -> ${r.status} ${r.body.trim()}`);
  while ((await server.api.status(id)) !== undefined) {
    if (now() - td > STEP_TIMEOUT_MS) throw new Error(`session ${id} still listed ${STEP_TIMEOUT_MS} ms after DELETE`);
    await sleep(POLL_MS);
  }
  const deleted = now() - td;
  known.delete(id);
  if (s) {
    s.skahaRunning.push(running);
    s.skahaPost.push(postMs);
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
    'run', '-d', '--rm',
    '--name', `skaha-bench-${RUN_ID}-cli-${round}`,
    '--label', RUN_LABEL,
    '--user', PEER_USER,
    '--cap-drop', 'ALL',
    '-p', '127.0.0.1::5000',
    WEB_IMAGE,
  ]);
  for (;;) {
    if ((await podman(['inspect', '--format', '{{.State.Running}}', id])) === 'true') break;
    if (now() - t0 > STEP_TIMEOUT_MS) throw new Error(`podman container ${id} not running after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const t = now() - t0;
  // --rm may remove it first: "no such container" from rm is fine.
  await podman(['rm', '-f', '-t', '0', id]).catch(() => undefined);
  await gone(docker, id);
  if (s) s.cli.push(t);
}

async function engineRound(docker: Docker, round: number, s: Samples | undefined): Promise<void> {
  const t0 = now();
  const container = await docker.createContainer({
    name: `skaha-bench-${RUN_ID}-api-${round}`,
    Image: WEB_IMAGE,
    User: PEER_USER,
    Labels: { 'skaha-bench.run': RUN_ID },
    ExposedPorts: { '5000/tcp': {} },
    HostConfig: { CapDrop: ['ALL'], PortBindings: { '5000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  await container.start();
  for (;;) {
    if ((await container.inspect()).State.Running) break;
    if (now() - t0 > STEP_TIMEOUT_MS) throw new Error(`engine container ${container.id} not running after ${STEP_TIMEOUT_MS} ms`);
    await sleep(POLL_MS);
  }
  const t = now() - t0;
  await container.remove({ force: true, v: true });
  await gone(docker, container.id);
  if (s) s.engine.push(t);
}

/** This run's peer containers, whatever state they are in. */
async function removePeers(docker: Docker): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: { label: [RUN_LABEL] } });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
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

    const s: Samples = { skahaRunning: [], skahaPost: [], skahaDelete: [], cli: [], engine: [], runningAtFirstGet: 0 };
    const kinds = [
      (round: number, into: Samples | undefined) => skahaRound(srv, cleanup, known, round, into),
      (round: number, into: Samples | undefined) => cliRound(docker, round, into),
      (round: number, into: Samples | undefined) => engineRound(docker, round, into),
    ];
    for (let round = 0; round <= LAUNCHES; round++) {
      for (let k = 0; k < kinds.length; k++) {
        cleanup.check();
        await kinds[(round + k) % kinds.length]!(round, round === 0 ? undefined : s);
        if (PAUSE_MS) await sleep(PAUSE_MS);
      }
      if (round > 0) {
        const last = (a: number[]) => ms(a[a.length - 1] ?? Number.NaN, 0);
        console.log(`round ${String(round).padStart(2)}/${LAUNCHES}: skaha ${last(s.skahaRunning)} ms (POST ${last(s.skahaPost)}), podman CLI ${last(s.cli)} ms, engine API ${last(s.engine)} ms`);
      } else {
        console.log('warm-up round done');
      }
    }

    const skaha = summarize(s.skahaRunning);
    const post = summarize(s.skahaPost);
    const del = summarize(s.skahaDelete);
    const cli = summarize(s.cli);
    const eng = summarize(s.engine);
    const headers = ['measure (ms)', 'n', 'min', 'p50', 'p95', 'max', 'mean'];
    const rows = [
      row('skaha: POST → Running', skaha),
      row('skaha: POST alone', post),
      row('peer: podman run -d + inspect (CLI)', cli),
      row('peer: create + start + inspect (engine API)', eng),
      row('skaha: DELETE → gone (not a goal)', del),
    ];
    const ratioHeaders = ['ratio', 'p50', 'p95'];
    const ratioRows = [
      ['skaha POST→Running / podman CLI', ratio(skaha.p50, cli.p50), ratio(skaha.p95, cli.p95)],
      ['skaha POST→Running / engine API', ratio(skaha.p50, eng.p50), ratio(skaha.p95, eng.p95)],
    ];
    const verdict = `goal p50(POST → Running) < ${GOAL_P50_MS} ms: ${skaha.p50 < GOAL_P50_MS ? 'met' : 'NOT met'} (p50 ${ms(skaha.p50, 0)} ms)`;
    console.log(`\n${textTable(headers, rows)}\n\n${textTable(ratioHeaders, ratioRows)}\n\n${verdict}`);
    console.log(`status was already Running at the first GET after the POST in ${s.runningAtFirstGet}/${s.skahaRunning.length} launches`);
    console.log('\n--- markdown ---');
    console.log(`Launch latency, ${LAUNCHES} sequential launches of \`${WEB_IMAGE}\` (type=contributed, cores=1, ram=1) after one warm-up; ${machineLine(m)}.\n`);
    console.log(markdownTable(headers, rows));
    console.log('');
    console.log(markdownTable(ratioHeaders, ratioRows));
    console.log(`\n${verdict}.`);
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
