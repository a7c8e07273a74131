import assert from 'node:assert/strict';
import { demuxLogs } from '../../src/backends/log-tail.js';
import { engine, type TestPlatform } from './platform.js';

export const NOTEBOOK_IMAGE = 'images.canfar.net/skaha/notebook:1.0';
export const DESKTOP_IMAGE = 'images.canfar.net/skaha/desktop:1.0';
export const TERMINAL_IMAGE = 'images.canfar.net/skaha/terminal:1.0';

/** Run a command inside a session's container (as its user) and return its output. */
export async function execIn(sessionId: string, cmd: string[], env: string[] = []): Promise<string> {
  const docker = engine();
  const [container] = await docker
    .listContainers({ filters: { label: [`canfar.net/id=${sessionId}`], status: ['running'] } })
    .then((list) => list.filter((c) => !c.Labels['canfar.net/app-id']));
  assert.ok(container, `session ${sessionId} has a running container`);
  const exec = await docker.getContainer(container.Id).exec({ Cmd: cmd, Env: env, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve());
  });
  return demuxLogs(Buffer.concat(chunks));
}

/** GET through the proxy until the session's app answers something other than the waiting page. */
export async function openThroughProxy(tp: TestPlatform, path: string, headers: Record<string, string>, timeoutMs = 90_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let r: Response | undefined;
  while (Date.now() < deadline) {
    r = await fetch(`${tp.base}${path}`, { headers, redirect: 'manual' });
    if (r.status !== 503 && r.status !== 502) return r;
    await new Promise((x) => setTimeout(x, 500));
  }
  return r!;
}
