import path from 'node:path';
import { Command } from 'commander';
import { connectEngine } from '../../backends/podman/engine-process.js';
import { checkImage } from '../../catalog/check.js';
import { DEFAULT_CONTAINERS_CONF, LAUNCH_SCRIPTS_DIR } from '../../server/paths.js';
import { table } from '../format.js';
import { fail, print, printJson } from '../run.js';

const MARK = { pass: 'PASS', fail: 'FAIL', warn: 'WARN', skip: 'SKIP' } as const;

export function imageCommands(program: Command): void {
  const image = program.command('image').description('container images on this machine\'s engine');
  image
    .command('check')
    .description('check an image against the container rules for the session types in its labels (exit 1 if any rule fails)')
    .argument('<image>', 'image reference in the local engine')
    .option('--engine-socket <path>', 'Docker-compatible API socket (env SKAHA_ENGINE_SOCKET)', process.env.SKAHA_ENGINE_SOCKET ?? '/run/skaha/podman.sock')
    .option('--json', 'print the results as JSON')
    .addHelpText('after', '\nRules: standard distribution, runs as any non-root uid, sss in nsswitch (advice), valid labels;\ndesktop-app: xterm, non-blocking /skaha/init.sh, /skaha/startup.sh ending in exec "$@";\ninteractive types: the type\'s port answers HTTP as a non-root uid. See docs/container-authors.md.\n\nExample:\n  skaha image check images.canfar.net/skaha/terminal:1.0')
    .action(async (ref: string, opts: { engineSocket: string; json?: boolean }) => {
      try {
        const docker = await connectEngine({
          socketPath: opts.engineSocket,
          containersConf: DEFAULT_CONTAINERS_CONF,
          startService: true,
          logFile: path.join('/tmp', 'skaha-image-check-podman.log'),
        });
        const results = await checkImage(docker, ref, { launchScriptsDir: LAUNCH_SCRIPTS_DIR });
        const failed = results.some((r) => r.outcome === 'fail');
        if (opts.json) printJson({ image: ref, ok: !failed, results });
        else print(`${table(['', 'RULE', 'DETAIL'], results.map((r) => [MARK[r.outcome], r.rule, r.detail]))}\n${failed ? `${ref} does not follow the rules` : `${ref} follows the rules`}`);
        process.exitCode = failed ? 1 : 0;
      } catch (err) {
        fail(err);
      }
    });
}
