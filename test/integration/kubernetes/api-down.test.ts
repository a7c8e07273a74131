import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { LaunchSpec } from '../../../src/backends/backend.js';
import { KubernetesBackend } from '../../../src/backends/kubernetes/backend.js';
import { LAUNCH_SCRIPTS_DIR } from '../../../src/common/paths.js';
import { SkahaError } from '../../../src/common/errors.js';
import { createNamespace, missingKubeBinaries, startKubeCluster, type KubeCluster } from '../../helpers/kube-cluster.js';

/**
 * The backend's own promises at its edges, against a real API server: a bad image reference is
 * the caller's 400 and makes nothing; a launch that fails half-way removes its Job; an API server that is gone is a 503, while the index keeps
 * answering from what it last saw; a start against nothing throws.
 */
const quiet = { info() {}, warn() {}, error() {} };

function spec(id: string, image: string, storageDir: string): LaunchSpec {
  return {
    sessionId: id,
    username: 'alice',
    name: 'web',
    type: 'contributed',
    image,
    env: [],
    uid: 200001,
    gid: 200001,
    supplementalGroups: [],
    mounts: [{ kind: 'storage', hostPath: path.join(storageDir, 'home', 'alice'), subPath: 'home/alice', containerPath: '/arc/home/alice', readOnly: false }],
    hostname: 'web',
    resources: { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 },
    ports: [5000],
    deadlineSeconds: 600,
    jobName: `skaha-contributed-alice-${id}`,
  };
}

describe(
  'the Kubernetes backend when things go wrong',
  { skip: missingKubeBinaries().filter((b) => b !== 'helm').length > 0 && 'needs the control-plane binaries (scripts/test.sh builds them)' },
  () => {
    let cluster: KubeCluster | undefined;
    const storageDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-k8s-down-'));
    after(async () => {
      await cluster?.stop();
      fs.rmSync(storageDir, { recursive: true, force: true });
    });

    it('refuses a bad image with 400, removes a half-made session, answers 503 once the API server is gone, and keeps its index', async () => {
      cluster = await startKubeCluster();
      await createNamespace(cluster, 'down');
      const kc = new KubeConfig();
      kc.loadFromFile(cluster.kubeconfigPath);
      const options: ConstructorParameters<typeof KubernetesBackend>[1] = {
        namespace: 'down',
        storage: { kind: 'hostPath', hostPath: storageDir },
        launchScripts: { hostDir: LAUNCH_SCRIPTS_DIR, configMap: 'skaha-launch-scripts' },
        imagePullPolicy: 'IfNotPresent',
        nodeSelector: {},
        ttlAfterFinishedSeconds: { headless: 3600, interactive: 86400 },
        log: quiet,
      };
      const backend = new KubernetesBackend(kc, options);
      await backend.start();

      await assert.rejects(backend.create(spec('badimage', 'images.canfar.net/Not An Image', storageDir)), (err: SkahaError) => err.statusCode === 400);
      const jobs = await kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: 'down' });
      assert.equal(jobs.items.length, 0, 'nothing was made for it');

      // A part that cannot be made (here: its Service name is taken) takes the Job down with it.
      await kc.makeApiClient(CoreV1Api).createNamespacedService({
        namespace: 'down',
        body: { metadata: { name: 'skaha-contributed-svc-clash001' }, spec: { ports: [{ port: 80 }] } },
      });
      await assert.rejects(backend.create(spec('clash001', 'images.canfar.net/skaha/webapp:1.0', storageDir)), (err: SkahaError) => err.statusCode === 503);
      assert.equal(backend.get('clash001'), undefined, 'not listed');
      for (let i = 0; i < 100 && (await kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: 'down' })).items.length > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      assert.equal((await kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: 'down' })).items.length, 0, 'its Job is gone');

      await backend.create(spec('kept0001', 'images.canfar.net/skaha/webapp:1.0', storageDir));
      await backend.create(spec('kept0001', 'images.canfar.net/skaha/webapp:1.0', storageDir));
      assert.equal(backend.list().length, 1, 'create is idempotent');

      await cluster.stop();
      await assert.rejects(backend.create(spec('during01', 'images.canfar.net/skaha/webapp:1.0', storageDir)), (err: SkahaError) => {
        assert.equal(err.statusCode, 503);
        assert.match(err.message, /^temporarily unavailable/);
        return true;
      });
      assert.deepEqual(
        backend.list().map((r) => r.id),
        ['kept0001'],
        'the index still answers, with nothing half-made in it',
      );
      assert.equal((await backend.availability()).available, false);
      await backend.close();

      await assert.rejects(new KubernetesBackend(kc, options).start(), /cannot write ConfigMap .*ECONNREFUSED/, 'a start against nothing throws');
    });
  },
);
