import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { cleanupList, engine, launch, randomName, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { DESKTOP_IMAGE, execIn } from '../../helpers/sessions.js';
import { eventually } from '../../helpers/wait.js';

/** The host's name for an engine network's bridge (Podman's own API says it; the Docker one does not). */
async function bridgeOf(network: string): Promise<string> {
  const info = await new Promise<{ network_interface?: string }>((resolve, reject) => {
    engine().modem.dial({ path: `/v4.0.0/libpod/networks/${network}/json`, method: 'GET', statusCodes: { 200: true } }, (err, data) =>
      err ? reject(err) : resolve(data as { network_interface?: string }),
    );
  });
  assert.ok(info.network_interface, `network ${network} names its bridge: ${JSON.stringify(info)}`);
  return info.network_interface;
}

/**
 * Issue 16 point 1: a server started on an engine where its sessions' network and bridge do not
 * exist yet (netavark makes the bridge with the first container) still gets its desktops'
 * callbacks. Other tests keep containers on the shared engine, so "fresh" is made for this
 * server alone: a network name of its own, whose bridge does not exist when the server starts.
 */
describe('a fresh engine: no network, no bridge, then a desktop', () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  const prefix = randomName('skfresh');
  before(async () => {
    tp = await startPlatform(cleanups.add, { podman: { network: prefix } });
  });
  after(async () => {
    await cleanups.run();
    await engine()
      .getNetwork(prefix)
      .remove()
      .catch(() => undefined);
  });

  it("its desktop's Astro Software menu lists the desktop-apps, called back through the listener", async () => {
    // The server made its network, but netavark makes the bridge only with the first container.
    const bridge = await bridgeOf(prefix);
    assert.ok(!fs.existsSync(`/sys/class/net/${bridge}`), `bridge ${bridge} does not exist yet`);
    const ready = await tp.request('GET', '/readyz');
    assert.equal(ready.status, 200, ready.body);
    const { token } = await tp.newUser('fresh');
    const id = await launch(tp, token, { name: 'fresh', image: DESKTOP_IMAGE, type: 'desktop' });
    assert.equal(await tp.waitStatus(token, id, ['Running', 'Failed', 'Succeeded'], 180_000), 'Running');

    // The desktop was told its network's gateway and the callback port, not its own loopback.
    const env = await execIn(id, ['printenv', 'SKAHA_API_URL']);
    assert.match(env.trim(), /^http:\/\/\d+\.\d+\.\d+\.\d+:\d+$/);
    assert.doesNotMatch(env, /127\.0\.0\.1|localhost/);

    const menu = await eventually(
      "the desktop's menu file",
      () => execIn(id, ['sh', '-c', 'cat /tmp/skaha-desktop/menu 2>/dev/null || true']),
      (text) => text.endsWith('[end]\n'),
      120_000,
    );
    assert.match(menu, /\[submenu\] \(Astro Software\)/);
    assert.match(menu, /\[submenu\] \(skaha\)[\s\S]*\[exec\] \(terminal:1\.0\)/, menu);
    const logs = (await tp.request('GET', `/skaha/v0/session/${id}`, { token, query: { view: 'logs' } })).body;
    assert.doesNotMatch(logs, /build-menu: cannot list desktop-apps/);

    // The listener answers session containers only: this host, at the same address, is dropped.
    const fromHost = await fetch(`${env.trim()}/skaha/v0/image`).then(
      (r) => `answered ${r.status}`,
      (err: Error) => `dropped: ${err.message}`,
    );
    assert.match(fromHost, /^dropped/);
    // And a session container gets the API only, not the proxy or the account routes.
    const probe = `import urllib.request, urllib.error
try:
    print(urllib.request.urlopen('${env.trim()}/auth/session').status)
except urllib.error.HTTPError as e:
    print(e.code)`;
    const proxied = await execIn(id, ['python3', '-c', probe]);
    assert.equal(proxied.trim(), '404');
  });
});
