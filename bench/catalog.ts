/**
 * The image catalog with a big registry (issue 8): a real docker-registry (TLS, token auth, as in
 * the tests) holding BENCH_IMAGES images (BENCH_REPOS repositories, each image its own config
 * with a `canfar.net/types` label), a skaha server with a `registry` catalog source, then:
 *
 *   - time to first listing: from starting `skaha serve` to GET /image listing every image;
 *   - GET /skaha/v0/image and ?type=notebook: p50/p99 of sequential keep-alive requests;
 *   - side by side, what reading the registry live costs (skaha reads its list per request from a
 *     Redis cache filled by a cron job; a server without a cache would walk the registry): one
 *     full walk cold (new client), and what a background refresh of an unchanged registry costs
 *     (tag lists plus the HEADs that are due), by the same RegistryCatalog.
 *
 *   node --import tsx bench/catalog.ts
 *
 * Environment: BENCH_IMAGES (5000), BENCH_REPOS (100), BENCH_REQUESTS (1000), BENCH_TIMEOUT_S (1800).
 */
import fs from 'node:fs';
import http from 'node:http';
import { RegistryClient } from '../src/catalog/registry/client.js';
import { RegistryCatalog } from '../src/catalog/registry/registry.js';
import { startRegistry } from '../test/helpers/registry.js';
import { Cleanup, envInt, machine, machineLine, markdownTable, ms, now, ratio, serverRssMiB, sleep, startServer, summarize, textTable } from './lib.js';

const IMAGES = envInt('BENCH_IMAGES', 5000, 10, 100_000);
const REPOS = envInt('BENCH_REPOS', 100, 1, 10_000);
const REQUESTS = envInt('BENCH_REQUESTS', 1000, 10, 100_000);
const TIMEOUT_S = envInt('BENCH_TIMEOUT_S', 1800, 60, 7200);
const WARMUP = 50;
const GOAL_P99_MS = 10;
const TYPES = ['notebook,headless', 'desktop-app', 'headless', 'carta', 'contributed'];

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  cleanup.installSignalHandlers();
  cleanup.timeLimit(TIMEOUT_S);
  let failed = false;
  try {
    const m = machine();
    console.log(`image catalog: ${IMAGES} images in ${REPOS} repositories; ${machineLine(m)}`);
    const reg = await startRegistry({ auth: 'token', users: { bench: 'bench-secret' } });
    cleanup.add('stop the registry', () => reg.stop());

    // --- fill the registry: one shared layer, a config and a manifest per image ----------------
    const client = new RegistryClient({ url: reg.url, caFile: reg.caFile, username: 'bench', password: 'bench-secret' });
    cleanup.add('close the registry client', () => client.close());
    const t0 = now();
    const perRepo = Math.ceil(IMAGES / REPOS);
    let made = 0;
    const repos = Array.from({ length: REPOS }, (_, r) => `bench/tool-${String(r).padStart(4, '0')}`);
    await Promise.all(
      repos.map(async (repo, r) => {
        const layer = Buffer.from(`layer of ${repo}`);
        const layerDigest = await client.putBlob(repo, layer);
        for (let t = 0; t < perRepo && r * perRepo + t < IMAGES; t++) {
          const config = Buffer.from(
            JSON.stringify({
              architecture: 'amd64',
              os: 'linux',
              config: { Labels: { 'canfar.net/types': TYPES[(r + t) % TYPES.length] } },
              rootfs: { type: 'layers', diff_ids: [layerDigest] },
            }),
          );
          const configDigest = await client.putBlob(repo, config);
          const manifest = {
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
            layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
          };
          await client.putManifest(repo, `v${t}`, manifest.mediaType, Buffer.from(JSON.stringify(manifest)));
          made++;
        }
        cleanup.check();
      }),
    );
    console.log(`registry filled with ${made} images in ${((now() - t0) / 1000).toFixed(1)} s`);

    // --- the peer: walking the registry live ----------------------------------------------------
    const live = new RegistryCatalog({ url: reg.url, caFile: reg.caFile, username: 'bench', password: 'bench-secret' });
    cleanup.add('close the live catalog', () => live.close());
    let t = now();
    const cold = await live.fetch();
    const coldMs = now() - t;
    t = now();
    await live.fetch();
    const warmMs = now() - t;
    if (cold.length !== IMAGES) throw new Error(`a registry walk listed ${cold.length} images, want ${IMAGES}`);
    console.log(`registry walk: cold ${ms(coldMs, 0)} ms, warm ${ms(warmMs, 0)} ms`);

    // --- skaha: time to first listing, then /image latency -------------------------------------
    const config = {
      registryHosts: ['images.canfar.net', reg.host],
      catalog: { sources: [{ kind: 'local' }, { kind: 'registry', url: reg.url, caFile: reg.caFile, username: 'bench', password: 'bench-secret' }] },
    };
    /** Start a server (on `workDir`'s data, if given) and time it to listening and to listing every image. */
    const startAndList = async (workDir?: string) => {
      const started = now();
      const server = await startServer(cleanup, { config, ...(workDir ? { workDir } : {}) });
      const listening = now() - started;
      for (;;) {
        cleanup.check();
        const r = await server.api.request('GET', '/skaha/v0/image');
        const n = r.status === 200 ? (JSON.parse(r.body) as unknown[]).filter((i) => (i as { id: string }).id.startsWith(reg.host)).length : 0;
        if (n === IMAGES) return { server, listening, listed: now() - started };
        if (now() - started > 600_000) throw new Error(`only ${n}/${IMAGES} images listed after 600 s`);
        await sleep(50);
      }
    };
    const first = await startAndList();
    const { listening, listed: firstListing } = first;
    console.log(`skaha serve: listening after ${ms(listening, 0)} ms, all ${IMAGES} images listed after ${ms(firstListing, 0)} ms`);
    const server = first.server;
    for (const line of fs.readFileSync(server.logFile, 'utf8').split('\n'))
      if (/image catalog|skaha serving|podman/.test(line)) console.log(`  server: ${line}`);

    // Time to the last byte on a keep-alive connection, body not decoded: the server's share,
    // without the client's gunzip and JSON work (which any client pays, whatever the server).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (urlPath: string, encoding: string) =>
      new Promise<{ status: number; bytes: number; ms: number }>((resolve, reject) => {
        const t0 = now();
        http
          .get(`${server.base}${urlPath}`, { agent, headers: { authorization: `Bearer ${server.token}`, 'accept-encoding': encoding } }, (res) => {
            let bytes = 0;
            res.on('data', (c: Buffer) => (bytes += c.length));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, ms: now() - t0 }));
            res.on('error', reject);
          })
          .on('error', reject);
      });
    const timed = async (urlPath: string, count: number, encoding = 'gzip') => {
      for (let i = 0; i < WARMUP; i++) await get(urlPath, encoding);
      const samples: number[] = [];
      let bytes = 0;
      for (let i = 0; i < count; i++) {
        const r = await get(urlPath, encoding);
        if (r.status !== 200) throw new Error(`GET ${urlPath} -> ${r.status}`);
        samples.push(r.ms);
        bytes = r.bytes;
      }
      return { ...summarize(samples), bytes };
    };
    const all = await timed('/skaha/v0/image', REQUESTS);
    const identity = await timed('/skaha/v0/image', REQUESTS, 'identity');
    const notebooks = await timed('/skaha/v0/image?type=notebook', REQUESTS);
    agent.destroy();
    const rss = serverRssMiB(server);

    // A restart on the same data directory: the last good list of each source is on disk. (After
    // the latency runs: a restarted server walks the registry again in the background.)
    await server.stop();
    const again = await startAndList(server.workDir);
    console.log(`restarted: listening after ${ms(again.listening, 0)} ms, all ${IMAGES} images listed after ${ms(again.listed, 0)} ms`);

    const headers = ['measure', 'p50 ms', 'p99 ms', 'vs reading the registry per request (cold walk)'];
    const rows = [
      [
        `GET /image (${IMAGES} registry images, gzip, ${(all.bytes / 1024).toFixed(0)} KiB)`,
        ms(all.p50, 2),
        ms(all.p99, 2),
        `${ratio(coldMs, all.p99)} faster (p99)`,
      ],
      [
        `GET /image (no compression, ${(identity.bytes / 1024).toFixed(0)} KiB)`,
        ms(identity.p50, 2),
        ms(identity.p99, 2),
        `${ratio(coldMs, identity.p99)} faster (p99)`,
      ],
      ['GET /image?type=notebook', ms(notebooks.p50, 2), ms(notebooks.p99, 2), `${ratio(coldMs, notebooks.p99)} faster (p99)`],
      ['registry walk, cold (every tag: HEAD, manifest, config)', ms(coldMs, 0), '-', '-'],
      ['background refresh, unchanged registry (tag lists + due HEADs)', ms(warmMs, 0), '-', '-'],
      ['time to first full listing after start (empty data directory)', ms(firstListing, 0), '-', `listening after ${ms(listening, 0)} ms`],
      ['time to full listing after a restart (same data directory)', ms(again.listed, 0), '-', `listening after ${ms(again.listening, 0)} ms`],
    ];
    console.log(
      `\n${textTable(headers, rows)}\nserver RSS ${rss.toFixed(0)} MiB; goal: /image p99 < ${GOAL_P99_MS} ms → ${all.p99 < GOAL_P99_MS ? 'met' : 'NOT met'}`,
    );
    console.log(`\nmarkdown:\n${markdownTable(headers, rows)}`);
  } catch (err) {
    failed = true;
    console.error(`benchmark failed: ${(err as Error).message}`);
  } finally {
    await cleanup.run();
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
