import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SESSION_LABEL } from '../../../src/backends/labels.js';
import { cleanupList, engine, launch, runJob, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';
import { openThroughProxy } from '../../helpers/sessions.js';

/** The address a session's container has on its network. */
async function addressOf(id: string): Promise<string> {
  const [container] = await engine().listContainers({ all: true, filters: { label: [`${SESSION_LABEL.id}=${id}`] } });
  const networks = Object.values(container!.NetworkSettings.Networks);
  assert.equal(networks.length, 1, 'one network');
  return networks[0]!.IPAddress;
}

/** A job script that tries TCP to each host:port and prints `<host>:<port> open|blocked`. */
const probe = (targets: string[]) =>
  `python3 - <<'PY'\nimport socket\nfor t in ${JSON.stringify(targets)}:\n    h, p = t.rsplit(':', 1)\n    s = socket.socket(); s.settimeout(3)\n    try:\n        s.connect((h, int(p))); print(t, 'open')\n    except Exception as e:\n        print(t, 'blocked', type(e).__name__)\n    finally:\n        s.close()\nPY`;

/**
 * Issue 15 point 4, probed from inside a session as a published image would: each user's
 * sessions are on a network of their own that netavark isolates from every other user's.
 */
describe('network isolation between users on Podman', () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add);
  });
  after(() => cleanups.run());

  it('lets a job reach its owner\'s web app but not another user\'s, in either direction', async () => {
    const alice = await tp.newUser('neta');
    const bob = await tp.newUser('netb');
    const aliceApp = await launch(tp, alice.token, { name: 'aapp', image: WEB_IMAGE, type: 'contributed' });
    const bobApp = await launch(tp, bob.token, { name: 'bapp', image: WEB_IMAGE, type: 'contributed' });
    for (const [id, token] of [[aliceApp, alice.token], [bobApp, bob.token]] as const) {
      assert.equal((await openThroughProxy(tp, `/session/contrib/${id}/`, { authorization: `Bearer ${token}` })).status, 200);
    }
    const [a, b] = [await addressOf(aliceApp), await addressOf(bobApp)];
    assert.notEqual(a.split('.').slice(0, 3).join('.'), b.split('.').slice(0, 3).join('.'), `different networks: ${a} ${b}`);

    const engineSocket = '\nfor s in /run/skaha/podman.sock /run/podman/podman.sock /var/run/docker.sock; do [ -e $s ] && echo "engine socket $s"; done; true';
    const fromAlice = await runJob(tp, alice.token, probe([`${a}:5000`, `${b}:5000`]) + engineSocket);
    assert.equal(fromAlice.status, 'Succeeded', fromAlice.logs);
    assert.match(fromAlice.logs, new RegExp(`^${a}:5000 open$`, 'm'), `the probe works: ${fromAlice.logs}`);
    assert.match(fromAlice.logs, new RegExp(`^${b}:5000 blocked`, 'm'), `another user's session: ${fromAlice.logs}`);
    assert.doesNotMatch(fromAlice.logs, /engine socket/, 'no container engine socket inside a session');

    const fromBob = await runJob(tp, bob.token, probe([`${a}:5000`, `${b}:5000`]));
    assert.match(fromBob.logs, new RegExp(`^${a}:5000 blocked`, 'm'), fromBob.logs);
    assert.match(fromBob.logs, new RegExp(`^${b}:5000 open$`, 'm'), fromBob.logs);
  });
});
