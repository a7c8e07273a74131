import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { SESSION_LABEL } from '../../../src/backends/labels.js';
import { cleanupList, engine, launch, runJob, startPlatform, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';
import { freePort } from '../../helpers/ports.js';
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
  let callbackPort: number;
  const cleanups = cleanupList();
  before(async () => {
    callbackPort = await freePort();
    tp = await startPlatform(cleanups.add, { podman: { callbackPort } });
  });
  after(() => cleanups.run());

  it("lets a job reach its owner's web app but not another user's, in either direction", async () => {
    const alice = await tp.newUser('neta');
    const bob = await tp.newUser('netb');
    const aliceApp = await launch(tp, alice.token, { name: 'aapp', image: WEB_IMAGE, type: 'contributed' });
    const bobApp = await launch(tp, bob.token, { name: 'bapp', image: WEB_IMAGE, type: 'contributed' });
    for (const [id, token] of [
      [aliceApp, alice.token],
      [bobApp, bob.token],
    ] as const) {
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

  it('lets a session reach the callback API on its gateway and no other port of this host', async () => {
    // A service of this host on all addresses, as a database or an engine API might be.
    const hostService = net.createServer((socket) => socket.end('hello\n'));
    await new Promise<void>((resolve) => hostService.listen(0, '0.0.0.0', resolve));
    cleanups.add(() => new Promise((resolve) => hostService.close(() => resolve())));
    const servicePort = (hostService.address() as net.AddressInfo).port;
    const platformPort = new URL(tp.base).port;
    const hostAddress = Object.entries(os.networkInterfaces())
      .filter(([name]) => !name.startsWith('podman') && !name.startsWith('veth'))
      .flatMap(([, addresses]) => addresses ?? [])
      .find((a) => a.family === 'IPv4' && !a.internal)?.address;
    assert.ok(hostAddress, 'this host has an outside address');

    const { token } = await tp.newUser('netc');
    // The gateway from the container's own routing table: what a published image would read.
    const script = `python3 - <<'PY'
import socket, struct, urllib.request, urllib.error
gw = next(socket.inet_ntoa(struct.pack('<L', int(f[2], 16))) for f in (l.split() for l in open('/proc/net/route').readlines()[1:]) if f[1] == '00000000')
def tcp(h, p):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((h, p)); return 'open'
    except Exception as e:
        return 'blocked ' + type(e).__name__
    finally:
        s.close()
for name, h, p in [('gateway-service', gw, ${servicePort}), ('gateway-platform', gw, ${platformPort}), ('host-service', '${hostAddress}', ${servicePort})]:
    print(name, tcp(h, p))
try:
    print('callback', urllib.request.urlopen('http://%s:${callbackPort}/skaha/v0/image' % gw, timeout=5).status)
except urllib.error.HTTPError as e:
    print('callback', e.code)
except Exception as e:
    print('callback unreachable', type(e).__name__)
PY`;
    // The probe itself works: the same host service answers this host's own client.
    const local = await new Promise<string>((resolve, reject) => {
      const c = net.connect(servicePort, hostAddress, () =>
        c.once('data', (d) => {
          resolve(String(d));
          c.end();
        }),
      );
      c.once('error', reject);
    });
    assert.equal(local, 'hello\n');
    const job = await runJob(tp, token, script);
    assert.equal(job.status, 'Succeeded', job.logs);
    for (const name of ['gateway-service', 'gateway-platform', 'host-service']) {
      assert.match(job.logs, new RegExp(`^${name} blocked`, 'm'), `${name}: ${job.logs}`);
    }
    // The callback API answers (401: a job holds no callback token).
    assert.match(job.logs, /^callback 401$/m, job.logs);
  });
});
