// Temporary probe (removed after use): how fast does Podman remove N `sleep` containers at once?
import { engine, HEADLESS_IMAGE, now, randomHex } from './lib.js';

const N = Number(process.env.N ?? 30);
const docker = engine();
const run = randomHex(4);
const label = `skaha-bench.probe=${run}`;

async function make(): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const c = await docker.createContainer({
      name: `skaha-bench-probe-${run}-${ids.length}-${randomHex(2)}`,
      Image: HEADLESS_IMAGE,
      Entrypoint: ['sleep'],
      Cmd: ['3600'],
      User: '200000:200000',
      Labels: { 'skaha-bench.probe': run },
      StopTimeout: 5,
      HostConfig: { CapDrop: ['ALL'], NetworkMode: 'skaha' },
    });
    await c.start();
    ids.push(c.id);
  }
  return ids;
}

try {
  for (const variant of ['SIGKILL then remove', 'remove force (StopTimeout 5)', 'SIGTERM, wait 5 s, remove force']) {
    const ids = await make();
    const t0 = now();
    await Promise.all(
      ids.map(async (id) => {
        const c = docker.getContainer(id);
        if (variant.startsWith('SIGKILL')) await c.kill({ signal: 'SIGKILL' }).catch(() => undefined);
        if (variant.startsWith('SIGTERM')) {
          await c.kill({ signal: 'SIGTERM' });
          await Promise.race([c.wait().catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
        }
        await c.remove({ force: true, v: true });
      }),
    );
    console.log(`${N} containers, ${variant}: all removed in ${((now() - t0) / 1000).toFixed(1)} s`);
  }
} finally {
  const left = await docker.listContainers({ all: true, filters: { label: [label] } });
  for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  if (left.length) console.log(`removed ${left.length} leftovers`);
}
process.exit(0);
