import path from 'node:path';
import { Command } from 'commander';
import { connectEngine } from '../../engine/process.js';
import type Docker from 'dockerode';
import { PullProgress, pullFailureReason, pullImage, type PullStreamEvent } from '../../engine/pull.js';
import { parseTypes, TYPES_LABEL } from '../../catalog/catalog.js';
import { checkImage, type RuleResult } from '../../catalog/check.js';
import { HarborCatalog } from '../../catalog/harbor/harbor.js';
import { RegistryClient, type RegistryEndpoint } from '../../catalog/registry/client.js';
import { installRegistryAuthorities } from '../../catalog/sources.js';
import { DEFAULT_CONTAINERS_CONF, DEFAULT_ENGINE_HOME, LAUNCH_SCRIPTS_DIR } from '../../common/paths.js';
import { isSessionType, SESSION_TYPES } from '../../sessions/model.js';
import { Spinner, table } from '../format.js';
import { fail, print, printJson, UsageError } from '../run.js';

const MARK = { pass: 'PASS', fail: 'FAIL', warn: 'WARN', skip: 'SKIP' } as const;

export function imageCommands(program: Command): void {
  const image = program.command('image').description('container images: check, publish to a registry, session types');
  image
    .command('check')
    .description('check an image against the container rules for the session types in its labels (exit 1 if any rule fails)')
    .argument('<image>', 'image reference in the local engine')
    .option('--engine-socket <path>', 'Docker-compatible API socket (env SKAHA_ENGINE_SOCKET)', process.env.SKAHA_ENGINE_SOCKET ?? '/run/skaha/podman.sock')
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      '\nRules: standard distribution, runs as any non-root uid, sss in nsswitch (advice), valid labels;\ndesktop-app: xterm, non-blocking /skaha/init.sh, /skaha/startup.sh ending in exec "$@";\ninteractive types: the type\'s port answers HTTP as a non-root uid. See docs/container-authors.md.\n\nExample:\n  skaha image check images.canfar.net/skaha/terminal:1.0',
    )
    .action(async (ref: string, opts: { engineSocket: string; json?: boolean }) => {
      try {
        const docker = await localEngine(opts.engineSocket);
        const results = await checkImage(docker, ref, { launchScriptsDir: LAUNCH_SCRIPTS_DIR });
        const failed = results.some((r) => r.outcome === 'fail');
        if (opts.json) printJson({ image: ref, ok: !failed, results });
        else printCheck(ref, results);
        process.exitCode = failed ? 1 : 0;
      } catch (err) {
        fail(err);
      }
    });

  image
    .command('publish')
    .description('check a local image, push it to a registry and set its session types there')
    .argument('<image>', 'image reference in the local engine')
    .argument('<target>', 'where to publish it: <registry host>/<project>/<name>:<tag>')
    .requiredOption('-t, --types <types>', 'session types, comma separated (notebook, desktop, carta, contributed, firefly, headless, desktop-app)')
    .option('--harbor', 'the registry is Harbor: set types as Harbor labels (else as the canfar.net/types image label)')
    .option('--skip-check', 'do not run `skaha image check` first')
    .option('--json', 'print the result as JSON')
    .option('--engine-socket <path>', 'Docker-compatible API socket (env SKAHA_ENGINE_SOCKET)', process.env.SKAHA_ENGINE_SOCKET ?? '/run/skaha/podman.sock')
    .addHelpText(
      'after',
      `${REGISTRY_HELP}\n\nExamples:\n  SKAHA_REGISTRY_USERNAME=alice SKAHA_REGISTRY_SECRET=... skaha image publish mytool:1.0 images.example.org/astro/mytool:1.0 --types desktop-app\n  skaha image publish nb:2 harbor.example.org/skaha/nb:2 --types notebook,headless --harbor`,
    )
    .action(async (source: string, target: string, opts: { types: string; harbor?: boolean; skipCheck?: boolean; json?: boolean; engineSocket: string }) => {
      try {
        const ref = parseTarget(target);
        const types = parseTypeList(opts.types);
        const registry = registryFor(ref);
        const docker = await localEngine(opts.engineSocket);
        if (!opts.skipCheck) {
          const spinner = new Spinner().start(`checking ${source} as ${types.join(', ')}`);
          const results = await checkImage(docker, source, { launchScriptsDir: LAUNCH_SCRIPTS_DIR, types });
          spinner.stop();
          if (results.some((r) => r.outcome === 'fail')) {
            printCheck(source, results);
            throw new Error(`${source} does not follow the container rules; fix it or use --skip-check`);
          }
        }
        const auth = engineAccess(ref, registry);
        await docker.getImage(source).tag({ repo: `${ref.host}/${ref.repository}`, tag: ref.tag });
        try {
          await pushWithProgress(docker, target, auth);
        } finally {
          if (source !== target)
            await docker
              .getImage(target)
              .remove({ noprune: true })
              .catch(() => undefined);
        }
        const digest = await setTypes(registry, ref, types, opts.harbor);
        if (opts.json) printJson({ image: target, types, digest });
        else print(`published ${target} (${digest}) as ${types.join(', ')}`);
      } catch (err) {
        fail(err);
      }
    });

  image
    .command('types')
    .description('show, or with --set change, the session types of a published image')
    .argument('<image>', 'published image: <registry host>/<project>/<name>:<tag>')
    .option('--set <types>', 'new session types, comma separated')
    .option('--harbor', 'the registry is Harbor (types are its labels)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `${REGISTRY_HELP}\n\nExamples:\n  skaha image types images.example.org/astro/mytool:1.0\n  skaha image types images.example.org/astro/mytool:1.0 --set desktop-app,headless`,
    )
    .action(async (target: string, opts: { set?: string; harbor?: boolean; json?: boolean }) => {
      try {
        const ref = parseTarget(target);
        const registry = registryFor(ref);
        if (opts.set !== undefined) await setTypes(registry, ref, parseTypeList(opts.set), opts.harbor);
        const types = await readTypes(registry, ref, opts.harbor);
        if (opts.json) printJson({ image: target, types });
        else print(`${target}: ${types.length ? types.join(', ') : '(no session types: not launchable)'}`);
      } catch (err) {
        fail(err);
      }
    });
}

/** `skaha admin image pull`: fill the engine ahead of launches (the server's catalog.prePull does it at start). */
export function adminImageCommands(admin: Command): void {
  admin
    .command('image')
    .description("images in this machine's engine")
    .command('pull')
    .description('pull images into the engine now, with progress, so first launches do not wait')
    .argument('<images...>', 'image references')
    .option('--engine-socket <path>', 'Docker-compatible API socket (env SKAHA_ENGINE_SOCKET)', process.env.SKAHA_ENGINE_SOCKET ?? '/run/skaha/podman.sock')
    .addHelpText('after', `${REGISTRY_HELP}\n\nExample:\n  skaha admin image pull images.canfar.net/skaha/notebook:1.0 images.canfar.net/skaha/desktop:1.0`)
    .action(async (images: string[], opts: { engineSocket: string }) => {
      try {
        const docker = await localEngine(opts.engineSocket);
        for (const image of images) {
          const ref = parseTarget(image);
          const auth = engineAccess(ref, registryFor(ref));
          const started = Date.now();
          const spinner = new Spinner().start(`pulling ${image}`);
          const running = await pullImage(docker, image, auth, (progress) => {
            if (!progress.error) spinner.update(`pulling ${image}: ${progress.summary()}`);
          });
          try {
            await running.done;
          } catch (err) {
            spinner.stop();
            throw new Error(`${image}: ${pullFailureReason((err as Error).message)}: ${(err as Error).message}`);
          }
          spinner.stop();
          print(`pulled ${image} in ${((Date.now() - started) / 1000).toFixed(1)} s (${running.progress.summary()})`);
        }
      } catch (err) {
        fail(err);
      }
    });
}

const REGISTRY_HELP = `
Registry access: SKAHA_REGISTRY_USERNAME and SKAHA_REGISTRY_SECRET (a Harbor robot account or CLI
secret works), SKAHA_REGISTRY_URL (default https://<host>), SKAHA_REGISTRY_CA (PEM file of the
registry's certificate authority; also given to the local engine for the push).`;

interface Target {
  host: string;
  repository: string;
  tag: string;
}

/** `host[:port]/project/name:tag` → parts; the host is required (a registry, not a local name). */
function parseTarget(target: string): Target {
  const m = /^([^/]+\.[^/]+|[^/]+:\d+|localhost)\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*):([\w][\w.-]{0,127})$/.exec(target);
  if (!m) throw new UsageError(`not a registry image reference: ${target} (want <registry host>/<project>/<name>:<tag>)`);
  return { host: m[1]!, repository: m[2]!, tag: m[3]! };
}

function parseTypeList(list: string): string[] {
  const types = parseTypes(list);
  const unknown = types.filter((t) => !isSessionType(t));
  if (types.length === 0 || unknown.length)
    throw new UsageError(`invalid session type(s): ${unknown.join(', ') || '(none)'}; choose from ${SESSION_TYPES.join(', ')}`);
  return types;
}

function registryFor(ref: Target): RegistryEndpoint {
  const env = process.env;
  const url = env.SKAHA_REGISTRY_URL || `https://${ref.host}`;
  return {
    url,
    ...(env.SKAHA_REGISTRY_USERNAME ? { username: env.SKAHA_REGISTRY_USERNAME, password: env.SKAHA_REGISTRY_SECRET ?? '' } : {}),
    ...(env.SKAHA_REGISTRY_CA ? { caFile: path.resolve(env.SKAHA_REGISTRY_CA) } : {}),
  };
}

async function setTypes(registry: RegistryEndpoint, ref: Target, types: string[], harbor?: boolean): Promise<string> {
  if (harbor) {
    const catalog = new HarborCatalog(registry);
    try {
      await catalog.setTypes(ref.repository, ref.tag, types, SESSION_TYPES);
    } finally {
      await catalog.close();
    }
  }
  const client = new RegistryClient(registry);
  try {
    // Harbor lists both its labels and the image's own; keep the image label in step there too
    // only when it already has one (a push to Harbor leaves it as built).
    if (!harbor) return await client.relabel(ref.repository, ref.tag, { [TYPES_LABEL]: types.join(',') });
    return await client.digestOf(ref.repository, ref.tag);
  } finally {
    await client.close();
  }
}

async function readTypes(registry: RegistryEndpoint, ref: Target, harbor?: boolean): Promise<string[]> {
  if (harbor) {
    const catalog = new HarborCatalog(registry);
    try {
      return (await catalog.fetchOne(ref.repository, ref.tag)).types;
    } finally {
      await catalog.close();
    }
  }
  const client = new RegistryClient(registry);
  try {
    return parseTypes((await client.imageConfig(ref.repository, ref.tag)).labels[TYPES_LABEL]);
  } finally {
    await client.close();
  }
}

type EngineAuth = { username: string; password: string; serveraddress: string };

/**
 * What the local engine needs to push to or pull from `ref`'s registry: the registry's authority
 * where the engine looks for it, and the credentials, if any, for this one operation.
 */
function engineAccess(ref: Target, registry: RegistryEndpoint): EngineAuth | undefined {
  if (registry.caFile) installRegistryAuthorities([{ kind: 'registry', url: registry.url, caFile: registry.caFile }], DEFAULT_ENGINE_HOME);
  return registry.username ? { username: registry.username, password: registry.password ?? '', serveraddress: ref.host } : undefined;
}

/** Push through the local engine, showing bytes pushed on a terminal. */
async function pushWithProgress(docker: Docker, target: string, auth: EngineAuth | undefined): Promise<void> {
  const spinner = new Spinner().start(`pushing ${target}`);
  const progress = new PullProgress();
  try {
    const stream = await docker.getImage(target).push(auth ? { authconfig: auth } : {});
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(
        stream,
        (err: Error | null) => (err ? reject(err) : resolve()),
        (event: PullStreamEvent) => {
          progress.feed(event);
          spinner.update(`pushing ${target}: ${progress.summary()}`);
        },
      ),
    );
  } finally {
    spinner.stop();
  }
  if (progress.error) throw new Error(`push failed: ${progress.error}`);
}

async function localEngine(socketPath: string): Promise<Docker> {
  return connectEngine({ socketPath, containersConf: DEFAULT_CONTAINERS_CONF, startService: true, logFile: path.join('/tmp', 'skaha-cli-podman.log') });
}

function printCheck(ref: string, results: RuleResult[]): void {
  const failed = results.some((r) => r.outcome === 'fail');
  print(
    `${table(
      ['', 'RULE', 'DETAIL'],
      results.map((r) => [MARK[r.outcome], r.rule, r.detail]),
    )}\n${failed ? `${ref} does not follow the rules` : `${ref} follows the rules`}`,
  );
}
