import net from 'node:net';
import type Docker from 'dockerode';
import { demuxLogs } from '../backends/log-tail.js';
import { isSessionType, SESSION_TYPE_TABLE, type SessionType } from '../sessions/model.js';
import { recipeFor } from '../sessions/recipes.js';
import { parseTypes, TYPES_LABEL } from './catalog.js';

/** One rule of the seed's container guide, checked against one image. */
export interface RuleResult {
  rule: string;
  outcome: 'pass' | 'fail' | 'warn' | 'skip';
  detail: string;
}

interface CheckOptions {
  /** Host directory with the platform's launch scripts (mounted at /skaha-system). */
  launchScriptsDir: string;
  /** The uid (and gid) the checks run as: anything but 0. */
  uid?: number;
  /** How long a session type's port may take to answer, in milliseconds. */
  portTimeoutMs?: number;
  /** Check for these session types instead of the image's label (what it is about to be published as). */
  types?: string[];
}

const CHECK_UID = 54321;
const SECURITY = { CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'] };

interface RunResult {
  exitCode: number | undefined;
  output: string;
  timedOut: boolean;
}

/** Run a command in a throwaway container of the image, as the check uid; always removed. */
async function run(
  docker: Docker,
  image: string,
  cmd: string[],
  opts: { uid: number; timeoutMs: number; entrypoint?: string[]; mounts?: string[] },
): Promise<RunResult> {
  const container = await docker.createContainer({
    Image: image,
    User: `${opts.uid}:${opts.uid}`,
    Entrypoint: opts.entrypoint ?? ['/bin/sh', '-c'],
    Cmd: cmd,
    Env: ['HOME=/tmp'],
    HostConfig: { ...SECURITY, NetworkMode: 'none', ...(opts.mounts ? { Binds: opts.mounts } : {}) },
  });
  try {
    await container.start();
    let timedOut = false;
    const waited = (await Promise.race([container.wait(), new Promise((r) => setTimeout(r, opts.timeoutMs, undefined))])) as
      { StatusCode?: number } | undefined;
    if (!waited) {
      timedOut = true;
      await container.kill().catch(() => undefined);
    }
    const logs = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    return { exitCode: waited?.StatusCode, output: demuxLogs(Buffer.isBuffer(logs) ? logs : Buffer.from(String(logs))).trim(), timedOut };
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write('GET / HTTP/1.0\r\n\r\n');
    });
    socket.setTimeout(2000, () => socket.destroy());
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('HTTP/'));
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/** Start the image as a session of `type` would start and wait for its port to answer HTTP. */
async function typePortAnswers(docker: Docker, image: string, type: SessionType, o: Required<Omit<CheckOptions, 'types'>>): Promise<RuleResult> {
  const port = SESSION_TYPE_TABLE[type].ports[0]!;
  const recipe = recipeFor({
    type: type as Exclude<SessionType, 'desktop-app'>,
    sessionId: 'checkimg',
    username: 'checker',
    uid: o.uid,
    resources: { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 },
    layout: { topLevelDir: '/arc' },
    hostname: 'localhost',
    apiBaseUrl: 'http://127.0.0.1:9',
    userEnv: [],
    desktopAppToken: 'none',
  });
  const container = await docker.createContainer({
    Image: image,
    User: `${o.uid}:${o.uid}`,
    ...(recipe.command ? { Entrypoint: recipe.command } : {}),
    Env: [...recipe.env.map(([k, v]) => `${k}=${v}`)],
    ExposedPorts: { [`${port}/tcp`]: {} },
    HostConfig: {
      ...SECURITY,
      Binds: [`${o.launchScriptsDir}:/skaha-system:ro`],
      Tmpfs: { '/arc/home/checker': 'rw,mode=1777', '/arc/projects': 'rw,mode=1777' },
      PortBindings: { [`${port}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] },
    },
  });
  try {
    await container.start();
    const info = await container.inspect();
    const hostPort = Number(info.NetworkSettings.Ports?.[`${port}/tcp`]?.[0]?.HostPort);
    const deadline = Date.now() + o.portTimeoutMs;
    while (Date.now() < deadline) {
      if (await portAnswers(hostPort)) {
        return {
          rule: `${type}: answers HTTP on port ${port} as uid ${o.uid}`,
          outcome: 'pass',
          detail: `after ${Math.round((o.portTimeoutMs - (deadline - Date.now())) / 100) / 10} s`,
        };
      }
      const state = (await container.inspect()).State;
      if (!state.Running) {
        const logs = demuxLogs((await container.logs({ stdout: true, stderr: true })) as unknown as Buffer)
          .trim()
          .split('\n')
          .slice(-2)
          .join(' | ');
        return {
          rule: `${type}: answers HTTP on port ${port} as uid ${o.uid}`,
          outcome: 'fail',
          detail: `exited with code ${state.ExitCode} as a non-root user: ${logs}`,
        };
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    return { rule: `${type}: answers HTTP on port ${port} as uid ${o.uid}`, outcome: 'fail', detail: `nothing answered within ${o.portTimeoutMs / 1000} s` };
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/**
 * Check an image of the engine against the seed's container rules for the session types in its
 * labels: a standard distribution, runs as an arbitrary non-root uid, sss in nsswitch (advice),
 * xterm for desktop-apps, a non-blocking /skaha/init.sh, a /skaha/startup.sh that ends with
 * `exec "$@"`, valid labels, and the type's port answering.
 */
export async function checkImage(docker: Docker, image: string, options: CheckOptions): Promise<RuleResult[]> {
  const o = { uid: CHECK_UID, portTimeoutMs: 90_000, ...options };
  const results: RuleResult[] = [];
  let inspect: Docker.ImageInspectInfo;
  try {
    inspect = await docker.getImage(image).inspect();
  } catch {
    return [{ rule: 'image is in the engine', outcome: 'fail', detail: `${image} is not in the engine; build or pull it first` }];
  }
  const types = o.types ?? parseTypes(inspect.Config?.Labels?.[TYPES_LABEL]);
  const unknown = types.filter((t) => !isSessionType(t));
  results.push(
    types.length === 0
      ? {
          rule: `labels: ${TYPES_LABEL} names its session types`,
          outcome: 'fail',
          detail: 'no session types: label the image, e.g. canfar.net/types=notebook,headless',
        }
      : unknown.length
        ? { rule: `labels: ${TYPES_LABEL} names its session types`, outcome: 'fail', detail: `unknown type(s): ${unknown.join(', ')}` }
        : { rule: `labels: ${TYPES_LABEL} names its session types`, outcome: 'pass', detail: types.join(', ') },
  );

  const osRelease = await run(docker, image, ['. /etc/os-release && echo "$PRETTY_NAME"'], { uid: o.uid, timeoutMs: 20_000 });
  results.push(
    osRelease.exitCode === 0 && osRelease.output
      ? { rule: 'based on a standard Linux distribution', outcome: 'pass', detail: osRelease.output }
      : { rule: 'based on a standard Linux distribution', outcome: 'fail', detail: 'no /etc/os-release (or no /bin/sh)' },
  );

  const asUser = await run(docker, image, ['id -u && test -w /tmp'], { uid: o.uid, timeoutMs: 20_000 });
  results.push(
    asUser.exitCode === 0 && asUser.output.split('\n')[0] === String(o.uid)
      ? { rule: 'runs as an arbitrary non-root uid', outcome: 'pass', detail: `uid ${o.uid}, no capabilities` }
      : { rule: 'runs as an arbitrary non-root uid', outcome: 'fail', detail: asUser.output || `exit ${asUser.exitCode}` },
  );

  const nss = await run(docker, image, ['grep -E "^(passwd|group):" /etc/nsswitch.conf'], { uid: o.uid, timeoutMs: 20_000 });
  const sss = /^passwd:.*\bsss\b/m.test(nss.output) && /^group:.*\bsss\b/m.test(nss.output);
  results.push({
    rule: 'nsswitch.conf uses sss for passwd and group',
    outcome: sss ? 'pass' : 'warn',
    detail: sss ? 'ok' : 'group names will show as numbers (advice, not required)',
  });

  if (types.includes('headless') && (inspect.Config?.Cmd?.length || inspect.Config?.Entrypoint?.length)) {
    const own = await run(docker, image, [], {
      uid: o.uid,
      timeoutMs: 15_000,
      entrypoint: [...(inspect.Config.Entrypoint ?? []), ...(inspect.Config.Cmd ?? [])],
    });
    results.push(
      own.timedOut || own.exitCode === 0
        ? { rule: "headless: the image's own command runs as a non-root uid", outcome: 'pass', detail: own.timedOut ? 'still running after 15 s' : 'exit 0' }
        : {
            rule: "headless: the image's own command runs as a non-root uid",
            outcome: 'fail',
            detail: `exit ${own.exitCode}: ${own.output.split('\n').slice(-1)[0] ?? ''}`,
          },
    );
  }

  if (types.includes('desktop-app')) {
    const xterm = await run(docker, image, ['command -v xterm'], { uid: o.uid, timeoutMs: 20_000 });
    results.push(
      xterm.exitCode === 0
        ? { rule: 'desktop-app: xterm is installed', outcome: 'pass', detail: xterm.output }
        : { rule: 'desktop-app: xterm is installed', outcome: 'fail', detail: 'no xterm on PATH' },
    );

    const init = await run(
      docker,
      image,
      ['if [ -e /skaha/init.sh ]; then /skaha/init.sh >/dev/null 2>&1 && echo returned || echo "failed $?"; else echo absent; fi'],
      { uid: o.uid, timeoutMs: 15_000 },
    );
    results.push(
      init.output === 'absent'
        ? { rule: 'desktop-app: /skaha/init.sh returns (does not block)', outcome: 'skip', detail: 'no /skaha/init.sh' }
        : init.timedOut
          ? { rule: 'desktop-app: /skaha/init.sh returns (does not block)', outcome: 'fail', detail: 'still running after 15 s: init.sh must not block' }
          : init.output === 'returned'
            ? { rule: 'desktop-app: /skaha/init.sh returns (does not block)', outcome: 'pass', detail: 'returned' }
            : { rule: 'desktop-app: /skaha/init.sh returns (does not block)', outcome: 'fail', detail: init.output },
    );

    const startup = await run(docker, image, ['if [ -e /skaha/startup.sh ]; then /skaha/startup.sh /bin/echo skaha-startup-ok; else echo absent; fi'], {
      uid: o.uid,
      timeoutMs: 15_000,
    });
    results.push(
      startup.output === 'absent'
        ? { rule: 'desktop-app: /skaha/startup.sh ends with exec "$@"', outcome: 'skip', detail: 'no /skaha/startup.sh' }
        : startup.output.split('\n').includes('skaha-startup-ok')
          ? { rule: 'desktop-app: /skaha/startup.sh ends with exec "$@"', outcome: 'pass', detail: 'ran the command it was given' }
          : {
              rule: 'desktop-app: /skaha/startup.sh ends with exec "$@"',
              outcome: 'fail',
              detail: startup.timedOut ? 'did not run its argument within 15 s' : 'did not run the command it was given: end it with exec "$@"',
            },
    );
  }

  for (const type of types) {
    if (!isSessionType(type) || SESSION_TYPE_TABLE[type].ports.length === 0) continue;
    results.push(await typePortAnswers(docker, image, type, o));
  }
  return results;
}
