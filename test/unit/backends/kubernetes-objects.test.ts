import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CoreV1Event, V1Job, V1Pod } from '@kubernetes/client-node';
import type { LaunchSpec } from '../../../src/backends/backend.js';
import {
  cpuQuantity,
  launchScriptsConfigMapName,
  makeFilesConfigMap,
  makeLaunchScriptsConfigMap,
  registrySecretName,
  makeFilesSecret,
  makeJob,
  makeRegistrySecret,
  makeService,
  memoryQuantity,
  planMounts,
  type KubernetesObjectOptions,
} from '../../../src/backends/kubernetes/objects.js';
import { parseQuantity, podHold, recordFromJob, sessionEvents, START_FAILURE_ANNOTATION, statusOf } from '../../../src/backends/kubernetes/records.js';
import { jobName } from '../../../src/sessions/ids.js';

const opts: KubernetesObjectOptions = {
  namespace: 'skaha-workload',
  storage: { kind: 'hostPath', hostPath: '/cavern' },
  launchScripts: { hostDir: '/opt/skaha/images/launch-scripts', configMap: 'skaha-launch-scripts' },
  imagePullPolicy: 'IfNotPresent',
  nodeSelector: {},
  ttlAfterFinishedSeconds: { headless: 3600, interactive: 86400 },
};

const spec: LaunchSpec = {
  sessionId: 'vl91sfzz',
  username: 'alice',
  name: 'web1',
  type: 'contributed',
  image: 'images.canfar.net/skaha/webapp:1.0',
  env: [['HOME', '/arc/home/alice']],
  uid: 200001,
  gid: 200001,
  supplementalGroups: [300000],
  mounts: [
    { kind: 'storage', hostPath: '/data/arc/home/alice', subPath: 'home/alice', containerPath: '/arc/home/alice', readOnly: false },
    { kind: 'storage', hostPath: '/data/arc/projects', subPath: 'projects', containerPath: '/arc/projects', readOnly: false },
    { kind: 'scratch', hostPath: '/data/sessions/vl91sfzz/scratch', containerPath: '/scratch' },
    { kind: 'file', hostPath: '/data/sessions/vl91sfzz/passwd', containerPath: '/etc/passwd', secret: false },
    { kind: 'file', hostPath: '/data/sessions/vl91sfzz/group', containerPath: '/etc/group', secret: false },
    { kind: 'launchScripts', hostPath: '/opt/skaha/images/launch-scripts', containerPath: '/skaha-system' },
  ],
  workingDir: '/arc/home/alice',
  hostname: 'web1',
  resources: { coresRequest: 0.5, coresLimit: 2, ramRequestGiB: 1, ramLimitGiB: 2, gpus: 0 },
  ports: [5000],
  deadlineSeconds: 345600,
  jobName: 'skaha-contributed-alice-vl91sfzz',
};

const files = new Map([
  ['/data/sessions/vl91sfzz/passwd', Buffer.from('alice:x:200001:200001::/arc/home/alice:/bin/bash\n')],
  ['/data/sessions/vl91sfzz/group', Buffer.from('alice:x:200001:\n')],
]);

const labels = {
  'canfar.net/id': 'vl91sfzz',
  'canfar.net/username': 'alice',
  'canfar.net/name': 'web1',
  'canfar.net/kind': 'contributed',
  'canfar.net/job': 'skaha-contributed-alice-vl91sfzz',
  'canfar.net/flavor': 'flexible',
  'canfar.net/accelerator': 'none',
  'canfar.net/community': 'default',
  'canfar.net/project': 'default',
  'app.kubernetes.io/managed-by': 'skaha',
  'app.kubernetes.io/part-of': 'canfar',
  'canfar.net/uid': '200001',
};

const owner = [{ apiVersion: 'batch/v1', kind: 'Job', name: 'skaha-contributed-alice-vl91sfzz', uid: 'uid-1', controller: true }];

describe('Kubernetes session objects', () => {
  it('builds the whole Job: the user, no privilege, no token, labels, resources, deadline, volumes', () => {
    const plan = planMounts(spec, opts, files);
    assert.deepEqual(makeJob(spec, opts, plan), {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'skaha-contributed-alice-vl91sfzz',
        namespace: 'skaha-workload',
        labels,
        annotations: { 'canfar.net/username': 'alice', 'canfar.net/name': 'web1' },
      },
      spec: {
        activeDeadlineSeconds: 345600,
        ttlSecondsAfterFinished: 86400,
        backoffLimit: 0,
        parallelism: 1,
        completions: 1,
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: 'Never',
            hostname: 'web1',
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: {
              runAsUser: 200001,
              runAsGroup: 200001,
              runAsNonRoot: true,
              supplementalGroups: [300000],
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'contributed',
                image: 'images.canfar.net/skaha/webapp:1.0',
                imagePullPolicy: 'IfNotPresent',
                env: [{ name: 'HOME', value: '/arc/home/alice' }],
                workingDir: '/arc/home/alice',
                ports: [{ containerPort: 5000, protocol: 'TCP' }],
                resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '2', memory: '2Gi' } },
                securityContext: { allowPrivilegeEscalation: false, privileged: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
                volumeMounts: [
                  { name: 'user-storage', mountPath: '/arc/home/alice', subPath: 'home/alice', readOnly: false },
                  { name: 'user-storage', mountPath: '/arc/projects', subPath: 'projects', readOnly: false },
                  { name: 'scratch-scratch', mountPath: '/scratch', readOnly: false },
                  { name: 'session-files', mountPath: '/etc/passwd', subPath: 'passwd', readOnly: true },
                  { name: 'session-files', mountPath: '/etc/group', subPath: 'group', readOnly: true },
                  { name: 'launch-scripts', mountPath: '/skaha-system', readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'user-storage', hostPath: { path: '/cavern', type: 'Directory' } },
              { name: 'scratch-scratch', emptyDir: {} },
              { name: 'launch-scripts', configMap: { name: 'skaha-launch-scripts', defaultMode: 0o555 } },
              { name: 'session-files', configMap: { name: 'skaha-contributed-alice-vl91sfzz-files', defaultMode: 0o444 } },
            ],
          },
        },
      },
    });
  });

  it('puts user storage on a PVC with the same sub-paths, and headless Jobs get their own TTL', () => {
    const pvc = { ...opts, storage: { kind: 'pvc', claimName: 'arc' } as const };
    const job = makeJob({ ...spec, type: 'headless', ports: [] }, pvc, planMounts(spec, pvc, files));
    assert.deepEqual(job.spec?.template.spec?.volumes?.[0], { name: 'user-storage', persistentVolumeClaim: { claimName: 'arc' } });
    assert.equal(job.spec?.ttlSecondsAfterFinished, 3600);
    assert.equal(job.spec?.backoffLimit, 0);
    assert.equal(job.spec?.template.spec?.containers[0]?.name, 'headless');
  });

  it("a desktop-app is owned by its desktop Job and draws on the desktop pod's X display", () => {
    const xauth = Buffer.from([0xff, 0xff, 0, 0, 1, 0x31]);
    const app: LaunchSpec = {
      ...spec,
      type: 'desktop-app',
      appId: 'abc',
      name: 'terminal-1-0',
      hostname: 'terminal-1-0',
      ports: [],
      env: [['DISPLAY', '127.0.0.1:1']],
      mounts: [{ kind: 'file', hostPath: '/data/sessions/vl91sfzz/Xauthority', containerPath: '/skaha-session/Xauthority', secret: true }],
      jobName: 'vl91sfzz-abc-alice-terminal-1-0',
      joinSessionOf: 'vl91sfzz',
    };
    const plan = planMounts(app, opts, new Map([['/data/sessions/vl91sfzz/Xauthority', xauth]]));
    const job = makeJob(app, opts, plan, { jobName: 'skaha-desktop-alice-vl91sfzz', jobUid: 'uid-d', podIp: '10.0.0.7' });
    assert.deepEqual(job.metadata?.ownerReferences, [
      { apiVersion: 'batch/v1', kind: 'Job', name: 'skaha-desktop-alice-vl91sfzz', uid: 'uid-d', controller: false, blockOwnerDeletion: true },
    ]);
    assert.equal(job.metadata?.labels?.['canfar.net/app-id'], 'abc');
    const container = job.spec?.template.spec?.containers[0];
    assert.equal(container?.name, 'terminal-1-0');
    assert.deepEqual(container?.env, [{ name: 'DISPLAY', value: '10.0.0.7:1' }]);
    assert.deepEqual(container?.volumeMounts, [{ name: 'session-secrets', mountPath: '/skaha-session/Xauthority', subPath: 'Xauthority', readOnly: true }]);
    assert.deepEqual(job.spec?.template.spec?.volumes, [
      { name: 'session-secrets', secret: { secretName: 'vl91sfzz-abc-alice-terminal-1-0-files', defaultMode: 0o444 } },
    ]);
    assert.equal(makeService(app, opts, 'uid-a'), undefined, 'desktop-apps have no Service');
    assert.deepEqual(makeFilesSecret(app, opts, plan, 'uid-a'), {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: 'vl91sfzz-abc-alice-terminal-1-0-files',
        namespace: 'skaha-workload',
        labels: {
          ...labels,
          'canfar.net/kind': 'desktop-app',
          'canfar.net/name': 'terminal-1-0',
          'canfar.net/job': 'vl91sfzz-abc-alice-terminal-1-0',
          'canfar.net/app-id': 'abc',
        },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: 'vl91sfzz-abc-alice-terminal-1-0', uid: 'uid-a', controller: true }],
      },
      data: { Xauthority: xauth.toString('base64') },
    });
  });

  it("builds the Service, the passwd/group ConfigMap, and the user's pull secret", () => {
    const plan = planMounts(spec, opts, files);
    assert.deepEqual(makeService(spec, opts, 'uid-1'), {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'skaha-contributed-svc-vl91sfzz', namespace: 'skaha-workload', labels, ownerReferences: owner },
      spec: {
        type: 'ClusterIP',
        selector: { 'canfar.net/id': 'vl91sfzz', 'canfar.net/kind': 'contributed' },
        ports: [{ name: 'tcp-5000', port: 5000, targetPort: 5000, protocol: 'TCP' }],
      },
    });
    assert.deepEqual(makeFilesConfigMap(spec, opts, plan, 'uid-1'), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'skaha-contributed-alice-vl91sfzz-files', namespace: 'skaha-workload', labels, ownerReferences: owner },
      data: { passwd: 'alice:x:200001:200001::/arc/home/alice:/bin/bash\n', group: 'alice:x:200001:\n' },
    });
    assert.equal(makeFilesSecret(spec, opts, plan, 'uid-1'), undefined, 'no secret files, no Secret');
    assert.equal(makeRegistrySecret(spec, opts), undefined, 'no credentials, no pull secret');
    const priv = { ...spec, registryAuth: { username: 'Alice', password: 's3cret', serveraddress: 'images.canfar.net' } };
    const secret = makeRegistrySecret(priv, opts);
    assert.equal(secret?.metadata?.name, 'registry-auth-alice');
    assert.match(registrySecretName('_bob.'), /^registry-auth-bob-[0-9a-f]{8}$/, "a username that is no DNS label gets a hash: never bob's secret");
    assert.equal(secret?.type, 'kubernetes.io/dockerconfigjson');
    assert.deepEqual(JSON.parse(Buffer.from(secret?.data?.['.dockerconfigjson'] ?? '', 'base64').toString()), {
      auths: { 'images.canfar.net': { username: 'Alice', password: 's3cret', auth: Buffer.from('Alice:s3cret').toString('base64') } },
    });
    assert.deepEqual(makeJob(priv, opts, plan).spec?.template.spec?.imagePullSecrets, [{ name: secret?.metadata?.name }]);
  });

  it('keeps GPU sessions on GPU nodes and the others off them, when asked (spec §5.7)', () => {
    const plan = planMounts(spec, opts, files);
    assert.equal(makeJob(spec, opts, plan).spec?.template.spec?.affinity, undefined, 'off by default');
    const gpu = makeJob({ ...spec, resources: { ...spec.resources, gpus: 2 } }, { ...opts, gpuNodeAffinity: true }, plan);
    assert.deepEqual(gpu.spec?.template.spec?.affinity, {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'nvidia.com/gpu.count', operator: 'Gt', values: ['0'] }] }],
        },
      },
    });
    assert.deepEqual(gpu.spec?.template.spec?.containers[0]?.resources, {
      requests: { cpu: '500m', memory: '1Gi', 'nvidia.com/gpu': '2' },
      limits: { cpu: '2', memory: '2Gi', 'nvidia.com/gpu': '2' },
    });
    assert.equal(gpu.metadata?.labels?.['canfar.net/accelerator'], 'gpu');
    const cpu = makeJob(spec, { ...opts, gpuNodeAffinity: true }, plan);
    assert.deepEqual(cpu.spec?.template.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]?.matchExpressions, [
      { key: 'nvidia.com/gpu.count', operator: 'DoesNotExist' },
    ]);
  });

  it('names the launch-scripts ConfigMap by its scripts: one per version, immutable', () => {
    const scripts = { 'skaha-notebook.sh': '#!/bin/sh\necho nb\n', 'start-desktop-software.sh': '#!/bin/sh\necho app\n' };
    const name = launchScriptsConfigMapName('skaha-launch-scripts', scripts);
    assert.match(name, /^skaha-launch-scripts-[0-9a-f]{8}$/);
    assert.equal(
      launchScriptsConfigMapName('skaha-launch-scripts', {
        'start-desktop-software.sh': scripts['start-desktop-software.sh'],
        'skaha-notebook.sh': scripts['skaha-notebook.sh'],
      }),
      name,
      'order does not matter',
    );
    assert.notEqual(
      launchScriptsConfigMapName('skaha-launch-scripts', { ...scripts, 'skaha-notebook.sh': '#!/bin/sh\necho nb2\n' }),
      name,
      'a changed script: another ConfigMap',
    );
    assert.notEqual(
      launchScriptsConfigMapName('skaha-launch-scripts', { 'a.sh': 'bc', 'ab.sh': 'c' }),
      launchScriptsConfigMapName('skaha-launch-scripts', { 'a.sh': 'b', 'ab.sh': 'cc' }),
      'names and contents do not run together',
    );
    const configMap = makeLaunchScriptsConfigMap('skaha-workload', 'skaha-launch-scripts', scripts);
    assert.deepEqual([configMap.metadata?.name, configMap.metadata?.namespace, configMap.immutable, configMap.data], [name, 'skaha-workload', true, scripts]);
  });

  it('writes quantities as the chart does and reads any quantity back', () => {
    assert.deepEqual([cpuQuantity(2), cpuQuantity(0.25), memoryQuantity(8), memoryQuantity(1.5)], ['2', '250m', '8Gi', '1536Mi']);
    assert.deepEqual(
      [parseQuantity('250m'), parseQuantity('8Gi'), parseQuantity('1k'), parseQuantity('1e3'), parseQuantity('bad')],
      [0.25, 8 * 2 ** 30, 1000, 1000, 0],
    );
  });
});

describe('Kubernetes session records', () => {
  const plan = planMounts(spec, opts, files);
  const job = (status: V1Job['status'] = {}, extra: Partial<V1Job['metadata']> = {}): V1Job => {
    const j = makeJob(spec, opts, plan);
    return { ...j, metadata: { ...j.metadata, uid: 'uid-1', creationTimestamp: new Date('2025-03-05T21:48:20Z'), ...extra }, status };
  };
  const pod = (phase: string, extra: Partial<V1Pod['metadata']> = {}): V1Pod => ({ metadata: { name: 'p', ...extra }, status: { phase } });

  it('maps Job and pod state to v0 status words', () => {
    assert.equal(statusOf(job(), undefined, false), 'Pending');
    assert.equal(statusOf(job({ active: 1 }), pod('Pending'), false), 'Pending');
    assert.equal(statusOf(job({ active: 1 }), pod('Running'), false), 'Running');
    assert.equal(statusOf(job({ active: 1 }), pod('Running'), true), 'Terminating');
    assert.equal(statusOf(job({}, { deletionTimestamp: new Date() }), pod('Running'), false), 'Terminating');
    assert.equal(statusOf(job({ active: 1 }), pod('Running', { deletionTimestamp: new Date() }), false), 'Terminating');
    assert.equal(statusOf(job({ succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] }), pod('Succeeded'), false), 'Succeeded');
    assert.equal(statusOf(job({ conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }] }), pod('Succeeded'), false), 'Succeeded');
    assert.equal(statusOf(job({ failed: 1 }), pod('Failed'), false), 'Failed');
    assert.equal(statusOf(job({ conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded' }] }), undefined, false), 'Failed');
  });

  it('rebuilds the record Podman would give from the Job alone (watch JSON or list objects)', () => {
    const finished = job({ startTime: '2025-03-05T21:48:21Z' as unknown as Date, completionTime: new Date('2025-03-05T21:50:00Z'), succeeded: 1 });
    const p: V1Pod = {
      metadata: { name: 'p' },
      status: {
        phase: 'Succeeded',
        containerStatuses: [{ name: 'c', image: '', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0 } } }],
      },
    };
    assert.deepEqual(recordFromJob(finished, p, { terminating: false }), {
      id: 'vl91sfzz',
      username: 'alice',
      name: 'web1',
      type: 'contributed',
      image: spec.image,
      uid: 200001,
      gid: 200001,
      supplementalGroups: [300000],
      status: 'Succeeded',
      createdAt: new Date('2025-03-05T21:48:20Z'),
      startedAt: new Date('2025-03-05T21:48:21Z'),
      finishedAt: new Date('2025-03-05T21:50:00Z'),
      exitCode: 0,
      deadlineSeconds: 345600,
      resources: spec.resources,
    });
    assert.equal(recordFromJob({ metadata: { name: 'other' } }, undefined, { terminating: false }), undefined, 'not ours');
  });

  it('keeps a username that is no valid label value exact, in an annotation', () => {
    const odd = { ...spec, username: '_bob.' };
    const j = makeJob(odd, opts, plan);
    assert.equal(j.metadata?.labels?.['canfar.net/username'], 'bob', 'a valid label for selection');
    assert.equal(j.spec?.template.metadata?.labels?.['canfar.net/username'], 'bob');
    const record = recordFromJob({ ...j, metadata: { ...j.metadata, creationTimestamp: new Date() } }, undefined, { terminating: false });
    assert.equal(record?.username, '_bob.', 'ownership rests on the exact name');
  });

  it('a 50-character username: every label value within 63 characters, the exact name in the annotation', () => {
    const username = 'firstname.lastname-of-a-long-institutional-account';
    assert.equal(username.length, 50);
    const long = { ...spec, username, jobName: jobName('contributed', username, spec.sessionId) };
    const j = makeJob(long, opts, planMounts(long, opts, files));
    assert.equal(j.metadata?.name, long.jobName);
    for (const labelSet of [j.metadata?.labels ?? {}, j.spec?.template.metadata?.labels ?? {}]) {
      for (const [key, value] of Object.entries(labelSet)) {
        assert.ok(value.length <= 63 && /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(value), `${key}=${value}`);
      }
    }
    assert.equal(j.metadata?.labels?.['canfar.net/job'], long.jobName, 'the job label names the Job');
    const record = recordFromJob({ ...j, metadata: { ...j.metadata, creationTimestamp: new Date() } }, undefined, { terminating: false });
    assert.equal(record?.username, username);
  });

  it('says why a pod is Pending: unscheduled, pulling, a pull that failed once, an image that can never be pulled', () => {
    const image = 'images.canfar.net/skaha/none:1.0';
    const waiting = (reason: string, message = ''): V1Pod => ({
      metadata: { name: 'p' },
      status: {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True' }],
        containerStatuses: [{ name: 'c', image, imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message } } }],
      },
    });
    assert.equal(podHold(undefined, image), undefined);
    assert.equal(podHold({ metadata: {}, status: { phase: 'Running' } }, image), undefined);
    const unscheduled: V1Pod = {
      metadata: {},
      status: {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
          },
        ],
      },
    };
    assert.deepEqual(podHold(unscheduled, image), {
      note: "No node can take this session yet (Unschedulable): 0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.",
    });
    assert.equal(podHold(waiting('ContainerCreating'), image)?.note, `The node is pulling image ${image} or creating the container.`);
    const once = podHold(waiting('ErrImagePull', 'rpc error: not found'), image);
    assert.deepEqual(
      once,
      { note: `Pulling image ${image} failed (ErrImagePull): rpc error: not found; the node tries again.` },
      'one failed pull is not the end',
    );
    for (const reason of ['ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']) {
      assert.deepEqual(podHold(waiting(reason, 'why'), image)?.unpullable, { reason, message: 'why' }, reason);
    }
  });

  it('a session skaha ended because its image cannot be pulled is Failed, finished when it was ended', () => {
    const failure = { reason: 'ImagePullBackOff', message: 'Back-off pulling image', at: '2025-03-05T21:49:00.000Z', pod: 'p' };
    const ended = job(
      { active: 1, startTime: new Date('2025-03-05T21:48:21Z') },
      { annotations: { ...makeJob(spec, opts, plan).metadata?.annotations, [START_FAILURE_ANNOTATION]: JSON.stringify(failure) } },
    );
    assert.equal(statusOf(ended, pod('Pending'), false), 'Failed');
    assert.equal(recordFromJob(ended, pod('Pending'), { terminating: false })?.finishedAt?.toISOString(), failure.at);
    assert.equal(statusOf(ended, pod('Pending'), true), 'Terminating', 'a delete still shows');
  });

  it('turns Kubernetes Events of both styles into view=events rows, oldest first', () => {
    const events: CoreV1Event[] = [
      {
        metadata: {},
        involvedObject: {},
        type: 'Normal',
        reason: 'Started',
        message: 'Started container',
        eventTime: '2025-03-05T21:48:25.000000Z' as unknown as Date,
      },
      {
        metadata: {},
        involvedObject: {},
        type: 'Warning',
        reason: 'BackOff',
        message: 'Back-off pulling image\n',
        firstTimestamp: new Date('2025-03-05T21:48:21Z'),
        lastTimestamp: new Date('2025-03-05T21:49:00Z'),
      },
    ];
    assert.deepEqual(sessionEvents(events), [
      {
        type: 'Warning',
        reason: 'BackOff',
        message: 'Back-off pulling image',
        firstTime: new Date('2025-03-05T21:48:21Z'),
        lastTime: new Date('2025-03-05T21:49:00Z'),
      },
      {
        type: 'Normal',
        reason: 'Started',
        message: 'Started container',
        firstTime: new Date('2025-03-05T21:48:25Z'),
        lastTime: new Date('2025-03-05T21:48:25Z'),
      },
    ]);
  });
});
