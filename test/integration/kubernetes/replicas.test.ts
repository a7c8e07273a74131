import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../../../src/server/config.js';
import { createPlatform, type Platform } from '../../../src/server/platform.js';
import { createNamespace, missingKubeBinaries, startKubeCluster, type KubeCluster } from '../../helpers/kube-cluster.js';
import { missingPostgres, startPostgres, type PostgresCluster } from '../../helpers/postgres.js';

/**
 * Two skaha servers against one cluster (issue 9: multi-replica safe). They share the identity
 * store (a PostgreSQL database, as docs/operations.md says replicas must; one SQLite file where
 * PostgreSQL is not installed) and the data directory's keys, and nothing else: each has its own
 * informers and its own reaper. Expiry and cleanup are the cluster's (activeDeadlineSeconds, TTL), and every
 * deletion is idempotent, so neither server's reaper trips over the other's.
 */
const WEB = 'images.canfar.net/skaha/webapp:1.0';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(
  'two servers on one Kubernetes cluster',
  { skip: missingKubeBinaries().filter((b) => b !== 'helm').length > 0 && 'needs the control-plane binaries (scripts/test.sh builds them)' },
  () => {
    let cluster: KubeCluster;
    let postgres: PostgresCluster | undefined;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-replicas-'));
    const warnings: string[] = [];
    const servers: Array<{ platform: Platform; base: string }> = [];
    let token = '';

    before(async () => {
      cluster = await startKubeCluster();
      await createNamespace(cluster, 'skaha-replicas');
      let identity = {};
      if (!missingPostgres()) {
        postgres = await startPostgres();
        const passwordFile = path.join(dataDir, 'db-password');
        fs.writeFileSync(passwordFile, postgres.password);
        identity = { store: 'postgres', postgres: { url: await postgres.createDatabase('replicas'), passwordFile } };
      }
      for (const name of ['a', 'b']) {
        const config = resolveConfig({
          port: 0,
          dataDir,
          backend: 'kubernetes',
          kubernetes: { kubeconfig: cluster.kubeconfigPath, namespace: 'skaha-replicas' },
          sessions: { expirySeconds: 5, reaperIntervalMs: 200, maxUserSessions: 2 },
          identity,
        });
        const log = { info() {}, warn: (m: string) => void warnings.push(`${name}: ${m}`), error: (m: string) => void warnings.push(`${name}: ${m}`) };
        const platform = await createPlatform(config, { log, requestLog: false });
        servers.push({ platform, base: await platform.listen() });
      }
      token = (await servers[0]!.platform.store.createToken('rita', 'test')).token;
    });
    after(async () => {
      for (const s of servers) await s.platform.close();
      await cluster?.stop();
      await postgres?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    const call = (server: number, method: string, p: string, form?: Record<string, string>) =>
      fetch(`${servers[server]!.base}${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(form ? { body: new URLSearchParams(form).toString() } : {}),
      });
    const statusOn = async (server: number, id: string) => {
      const r = await call(server, 'GET', `/skaha/v0/session/${id}`);
      return r.status === 200 ? ((await r.json()) as { status: string }).status : r.status;
    };
    const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) assert.fail(what);
        await sleep(100);
      }
    };

    it('a session made through one server is seen, deleted and expired through either, without errors', async () => {
      const made = await call(0, 'POST', '/skaha/v1/session', { name: 'shared', image: WEB, type: 'contributed' });
      assert.equal(made.status, 200);
      const id = (await made.text()).trim();
      await until('server b lists it (its watch)', async () => (await statusOn(1, id)) === 'Running', 10_000);

      const other = (await (await call(1, 'POST', '/skaha/v1/session', { name: 'other', image: WEB, type: 'contributed' })).text()).trim();
      await until('server a lists the one b made', async () => (await statusOn(0, other)) === 'Running', 10_000);
      // Both servers delete the same session at once: one deletes, the other finds it done.
      const deletes = await Promise.all([call(0, 'DELETE', `/skaha/v1/session/${other}`), call(1, 'DELETE', `/skaha/v1/session/${other}`)]);
      for (const r of deletes) assert.ok(r.status === 200 || r.status === 404, `delete answered ${r.status}`);
      await until('gone on both', async () => (await statusOn(0, other)) === 404 && (await statusOn(1, other)) === 404);

      // Expiry: both reapers run every 200 ms; the cluster's deadline ends the Job.
      await until('expired on both', async () => {
        const [a, b] = [await statusOn(0, id), await statusOn(1, id)];
        return (a === 'Failed' || a === 404) && (b === 'Failed' || b === 404);
      });
      await sleep(1000);
      assert.deepEqual(warnings, [], 'no reaper tripped over the other, nothing else went wrong');
    });

    it('keeps a user within the session limit when launches race through both servers', async () => {
      const lena = (await servers[0]!.platform.store.createToken('lena', 'test')).token;
      const launch = (server: number, name: string) =>
        fetch(`${servers[server]!.base}/skaha/v1/session`, {
          method: 'POST',
          headers: { authorization: `Bearer ${lena}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ name, image: WEB, type: 'contributed' }).toString(),
        });
      // Four launches on each server at once: each server's own lock orders its four, but
      // nothing but the count after the launch orders them across servers.
      const answers = await Promise.all([0, 1, 0, 1, 0, 1, 0, 1].map((server, i) => launch(server, `race${i}`)));
      const made: string[] = [];
      for (const r of answers) {
        const text = (await r.text()).trim();
        if (r.status === 200) made.push(text);
        else assert.match(text, /maximum of 2 active sessions/, `a refused launch says why (${r.status})`);
      }
      assert.ok(made.length >= 1 && made.length <= 2, `${made.length} launches went through, limit 2`);
      const active = async (server: number) => {
        const list = (await (await fetch(`${servers[server]!.base}/skaha/v1/session`, { headers: { authorization: `Bearer ${lena}` } })).json()) as Array<{
          id: string;
          status: string;
        }>;
        return list
          .filter((s) => s.status === 'Pending' || s.status === 'Running')
          .map((s) => s.id)
          .sort();
      };
      await until('both servers list exactly the launches that went through', async () => {
        const [a, b] = [await active(0), await active(1)];
        return JSON.stringify(a) === JSON.stringify([...made].sort()) && JSON.stringify(b) === JSON.stringify(a);
      });
      for (const id of made) {
        const r = await fetch(`${servers[0]!.base}/skaha/v1/session/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${lena}` } });
        assert.equal(r.status, 200, await r.text());
      }
    });
  },
);
