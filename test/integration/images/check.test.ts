import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkImage, type RuleResult } from '../../../src/catalog/check.js';
import { connectEngine } from '../../../src/engine/process.js';
import { DEFAULT_CONTAINERS_CONF, LAUNCH_SCRIPTS_DIR } from '../../../src/common/paths.js';
import { HEADLESS_IMAGE, WEB_IMAGE } from '../../helpers/platform.js';
import { buildImage as buildWithEngine } from '../../helpers/images.js';

// The engine may not run yet when this file runs first: start it as the platform would.
const docker = await connectEngine({
  socketPath: '/run/skaha/podman.sock',
  containersConf: DEFAULT_CONTAINERS_CONF,
  startService: true,
  logFile: '/tmp/skaha-test-podman.log',
});
const built: string[] = [];

/** Build a small image FROM the headless reference image; removed when the tests end. */
async function buildImage(tag: string, containerfile: string, files: Record<string, string> = {}): Promise<void> {
  await buildWithEngine(docker, tag, containerfile, files);
  built.push(tag);
}

const outcome = (results: RuleResult[], rule: string) => results.find((r) => r.rule.startsWith(rule))?.outcome;

describe("skaha image check: the seed's container rules", () => {
  before(async () => {
    await buildImage(
      'localhost/skaha-test/root-only:1',
      `FROM ${HEADLESS_IMAGE}\nLABEL canfar.net/types=headless\nCMD ["/bin/sh", "-c", "touch /root/needs-root"]\n`,
    );
    await buildImage('localhost/skaha-test/no-xterm:1', `FROM ${HEADLESS_IMAGE}\nLABEL canfar.net/types=desktop-app\n`);
    await buildImage('localhost/skaha-test/blocking-init:1', `FROM ${HEADLESS_IMAGE}\nLABEL canfar.net/types=desktop-app\nCOPY init.sh /skaha/init.sh\n`, {
      'init.sh': '#!/bin/sh\nsleep 3600\n',
    });
    await buildImage(
      'localhost/skaha-test/startup-no-exec:1',
      `FROM ${HEADLESS_IMAGE}\nLABEL canfar.net/types=desktop-app\nCOPY startup.sh /skaha/startup.sh\n`,
      { 'startup.sh': '#!/bin/sh\nexport X=1\necho "ready"\n' },
    );
    await buildImage('localhost/skaha-test/bad-label:1', `FROM ${HEADLESS_IMAGE}\nLABEL canfar.net/types=notebok\n`);
  });
  after(async () => {
    for (const tag of built)
      await docker
        .getImage(tag)
        .remove({ force: true })
        .catch(() => undefined);
  });

  const check = (image: string) => checkImage(docker, image, { launchScriptsDir: LAUNCH_SCRIPTS_DIR, portTimeoutMs: 30_000 });

  it('passes the reference images', async () => {
    for (const image of [HEADLESS_IMAGE, WEB_IMAGE]) {
      const results = await check(image);
      assert.deepEqual(
        results.filter((r) => r.outcome === 'fail'),
        [],
        image,
      );
      assert.ok(results.some((r) => r.rule.startsWith('runs as an arbitrary non-root uid') && r.outcome === 'pass'));
    }
  });

  it('fails an image whose command only works as root, naming the rule', async () => {
    assert.equal(outcome(await check('localhost/skaha-test/root-only:1'), "headless: the image's own command runs as a non-root uid"), 'fail');
  });

  it('fails a desktop-app without xterm', async () => {
    assert.equal(outcome(await check('localhost/skaha-test/no-xterm:1'), 'desktop-app: xterm is installed'), 'fail');
  });

  it('fails a blocking /skaha/init.sh', async () => {
    assert.equal(outcome(await check('localhost/skaha-test/blocking-init:1'), 'desktop-app: /skaha/init.sh returns'), 'fail');
  });

  it('fails a /skaha/startup.sh that does not exec its argument', async () => {
    assert.equal(outcome(await check('localhost/skaha-test/startup-no-exec:1'), 'desktop-app: /skaha/startup.sh ends with exec'), 'fail');
  });

  it('fails unknown session types in the label', async () => {
    const results = await check('localhost/skaha-test/bad-label:1');
    assert.equal(outcome(results, 'labels:'), 'fail');
    assert.match(results[0]!.detail, /notebok/);
  });
});
