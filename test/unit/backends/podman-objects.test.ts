import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Docker from 'dockerode';
import type { LaunchSpec } from '../../../src/backends/backend.js';
import { labelValue, recordFromInspect, statusOf, toContainerCreate } from '../../../src/backends/podman/objects.js';

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
    { kind: 'file', hostPath: '/data/sessions/vl91sfzz/passwd', containerPath: '/etc/passwd', secret: false },
  ],
  workingDir: '/arc/home/alice',
  hostname: 'web1',
  resources: { coresRequest: 1, coresLimit: 2, ramRequestGiB: 1, ramLimitGiB: 2, gpus: 0 },
  ports: [5000],
  deadlineSeconds: 345600,
  jobName: 'skaha-contributed-alice-vl91sfzz',
};

describe('Podman container objects', () => {
  it('builds the whole create body: the user, no capabilities, no privilege gain, loopback ports, limits', () => {
    assert.deepEqual(toContainerCreate(spec, { network: 'skaha-u200001', instance: 'skaha', stopTimeoutSeconds: 5, pidsLimit: 4096 }), {
      name: 'skaha-contributed-alice-vl91sfzz',
      Image: 'images.canfar.net/skaha/webapp:1.0',
      Env: ['HOME=/arc/home/alice'],
      User: '200001:200001',
      WorkingDir: '/arc/home/alice',
      Hostname: 'web1',
      Labels: {
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
        'canfar.net/image': 'images.canfar.net/skaha/webapp:1.0',
        'canfar.net/cores-request': '1',
        'canfar.net/cores-limit': '2',
        'canfar.net/ram-request-gib': '1',
        'canfar.net/ram-limit-gib': '2',
        'canfar.net/gpus': '0',
        'canfar.net/deadline-seconds': '345600',
        'canfar.net/instance': 'skaha',
      },
      ExposedPorts: { '5000/tcp': {} },
      StopTimeout: 5,
      HostConfig: {
        Binds: ['/data/arc/home/alice:/arc/home/alice:rw', '/data/sessions/vl91sfzz/passwd:/etc/passwd:ro'],
        PortBindings: { '5000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
        NetworkMode: 'skaha-u200001',
        GroupAdd: ['300000'],
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Privileged: false,
        NanoCpus: 2e9,
        CpuShares: 1024,
        Memory: 2 * 2 ** 30,
        MemoryReservation: 2 ** 30,
        PidsLimit: 4096,
        RestartPolicy: { Name: 'no' },
      },
    });
  });

  it("puts a desktop-app in its desktop's network namespace, headless jobs keep their own command", () => {
    const app = toContainerCreate(
      { ...spec, type: 'desktop-app', appId: 'abc', ports: [], command: ['/skaha-system/start-desktop-software.sh'], args: [] },
      { network: 'skaha-u200001', instance: 'skaha', stopTimeoutSeconds: 5, pidsLimit: 0 },
      'c0ffee',
    );
    assert.equal(app.HostConfig?.NetworkMode, 'container:c0ffee');
    assert.equal(app.Hostname, undefined, 'a shared namespace keeps the desktop hostname');
    assert.equal(app.Labels?.['canfar.net/app-id'], 'abc');
    assert.deepEqual(app.Entrypoint, ['/skaha-system/start-desktop-software.sh']);
    assert.deepEqual(app.Cmd, []);
    assert.equal(app.HostConfig?.PidsLimit, undefined);
  });

  it('maps engine states to v0 status words', () => {
    const state = (s: Partial<Docker.ContainerInspectInfo['State']>) =>
      ({ Status: 'running', ExitCode: 0, OOMKilled: false, ...s }) as Docker.ContainerInspectInfo['State'];
    assert.equal(statusOf(state({ Status: 'created' }), false), 'Pending');
    assert.equal(statusOf(state({ Status: 'running' }), false), 'Running');
    assert.equal(statusOf(state({ Status: 'running' }), true), 'Terminating');
    assert.equal(statusOf(state({ Status: 'exited', ExitCode: 0 }), false), 'Succeeded');
    assert.equal(statusOf(state({ Status: 'exited', ExitCode: 137 }), false), 'Failed');
    assert.equal(statusOf(state({ Status: 'exited', ExitCode: 0, OOMKilled: true }), false), 'Failed');
    assert.equal(statusOf(state({ Status: 'removing' }), false), 'Terminating');
  });

  it('rebuilds a record from labels and state alone', () => {
    const body = toContainerCreate(spec, { network: 'skaha-u200001', instance: 'skaha', stopTimeoutSeconds: 5, pidsLimit: 0 });
    const info = {
      Id: 'abc',
      Created: '2025-03-05T21:48:20.5Z',
      Config: { Labels: body.Labels, User: body.User, Image: spec.image },
      HostConfig: { GroupAdd: ['300000'] },
      State: { Status: 'exited', ExitCode: 0, OOMKilled: false, StartedAt: '2025-03-05T21:48:21Z', FinishedAt: '2025-03-05T21:50:00Z' },
    } as unknown as Docker.ContainerInspectInfo;
    assert.deepEqual(recordFromInspect(info, { terminating: false, deadlineOverride: 99 }), {
      id: 'vl91sfzz',
      username: 'alice',
      name: 'web1',
      type: 'contributed',
      image: spec.image,
      uid: 200001,
      gid: 200001,
      supplementalGroups: [300000],
      status: 'Succeeded',
      createdAt: new Date('2025-03-05T21:48:20.5Z'),
      startedAt: new Date('2025-03-05T21:48:21Z'),
      finishedAt: new Date('2025-03-05T21:50:00Z'),
      exitCode: 0,
      deadlineSeconds: 99,
      resources: spec.resources,
    });
    assert.equal(
      recordFromInspect({ ...info, Config: { ...info.Config, Labels: {} } } as Docker.ContainerInspectInfo, { terminating: false }),
      undefined,
      'not ours',
    );
  });

  it('makes label values legal', () => {
    assert.equal(labelValue('-My Name!-'), 'My-Name');
    assert.equal(labelValue('x'.repeat(80)).length, 63);
  });
});
