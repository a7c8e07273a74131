import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import Docker from 'dockerode';
import { DEFAULT_CONTAINERS_CONF, DEFAULT_ENGINE_HOME } from '../../../src/common/paths.js';
import { HEADLESS_IMAGE, WEB_IMAGE } from '../../helpers/platform.js';
import { DESKTOP_IMAGE, NOTEBOOK_IMAGE, TERMINAL_IMAGE } from '../../helpers/sessions.js';
import { describeBackendContract } from './contract.js';

/**
 * The backend contract on real Podman. The suite runs its own `podman system service` on a
 * private socket, so restarting it (the watch-reconnect case) disturbs no other test; it is
 * stopped by its process ID, never by name.
 */
const socketPath = `/run/skaha/contract-${crypto.randomBytes(4).toString('hex')}.sock`;
let service: ChildProcess | undefined;

async function startService(): Promise<void> {
  fs.rmSync(socketPath, { force: true });
  service = spawn('podman', ['system', 'service', '--time=0', `unix://${socketPath}`], {
    stdio: 'ignore',
    env: { ...process.env, CONTAINERS_CONF: DEFAULT_CONTAINERS_CONF, HOME: DEFAULT_ENGINE_HOME },
  });
  const docker = new Docker({ socketPath });
  for (let i = 0; i < 150; i++) {
    if (
      await docker.ping().then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`podman system service did not answer on ${socketPath}`);
}

async function stopService(): Promise<void> {
  const child = service;
  service = undefined;
  if (!child || child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

const containerOf = async (docker: Docker, id: string, appId?: string) => {
  const list = await docker.listContainers({ all: true, filters: { label: [`canfar.net/id=${id}`] } });
  return list.find((c) => (c.Labels['canfar.net/app-id'] ?? '') === (appId ?? ''));
};

describeBackendContract('podman', {
  setUp: startService,
  tearDown: stopService,
  config: () => ({ backend: 'podman', podman: { socketPath, startService: false } }),
  images: { web: WEB_IMAGE, headless: HEADLESS_IMAGE, desktop: DESKTOP_IMAGE, terminal: TERMINAL_IMAGE, notebook: NOTEBOOK_IMAGE },
  // `true` and `false` end by themselves.
  finish: async () => undefined,
  // The web image answers on its port.
  serve: async () => async () => undefined,
  async restartEngine() {
    await stopService();
    await startService();
  },
  async checkDesktopApp(desktopId, appId) {
    const docker = new Docker({ socketPath });
    const desktop = await containerOf(docker, desktopId);
    const app = await containerOf(docker, appId ? desktopId : '', appId);
    assert.ok(desktop && app);
    const info = await docker.getContainer(app.Id).inspect();
    assert.equal(info.HostConfig.NetworkMode, `container:${desktop.Id}`, "the app joins the desktop's network, and so its X display");
  },
  deadlineOf: async () => undefined,
  logsAreReal: true,
});
