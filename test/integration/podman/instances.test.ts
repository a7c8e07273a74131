import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupList, engine, launch, removeNetworks, startPlatform, testInstance, WEB_IMAGE, type TestPlatform } from '../../helpers/platform.js';
import { openThroughProxy } from '../../helpers/sessions.js';

/**
 * Issue 16 point 3: two servers on one engine. Each claims a network name and a uid range; a
 * second server asking for either is refused at start with a clear message, and a server with
 * its own sees nothing of the other's sessions, even for a user of the same name.
 */
describe('two skaha servers on one engine', () => {
  let first: TestPlatform;
  let second: TestPlatform;
  const cleanups = cleanupList();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-instances-'));
  before(async () => {
    first = await startPlatform(cleanups.add);
    second = await startPlatform(cleanups.add);
  });
  let autoNetworkName: string | undefined;
  after(async () => {
    await cleanups.run();
    if (autoNetworkName) await removeNetworks(autoNetworkName);
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** Start a server that must be refused; returns the message it was refused with. */
  async function refused(overrides: Record<string, unknown>): Promise<string> {
    const dataDir = fs.mkdtempSync(path.join(scratch, 'data-'));
    const attempt = cleanupList();
    try {
      await startPlatform(attempt.add, overrides, { dataDir });
    } catch (err) {
      return (err as Error).message;
    } finally {
      await attempt.run();
    }
    assert.fail('the server started');
  }

  it("refuses a server that asks for another's network name or overlapping uids", async () => {
    const taken = testInstance(first.dataDir);
    const sameNetwork = await refused({ podman: { network: taken.podman.network } });
    assert.match(sameNetwork, new RegExp(`network "${taken.podman.network}" belongs to the skaha server whose data directory is ${first.dataDir}`));

    const overlapping = await refused({ identity: { uidMin: taken.identity.uidMin + 10, uidMax: taken.identity.uidMax + 10 } });
    assert.match(
      overlapping,
      new RegExp(
        `overlaps ${taken.identity.uidMin}\\.\\.${taken.identity.uidMax} of the skaha server on network "${taken.podman.network}".*the same uid would be two people`,
      ),
    );
    // The first server goes on untroubled.
    assert.equal((await first.request('GET', '/readyz')).status, 200);
  });

  it('gives a server that sets no uid range one no live server holds, and the same one after a restart', async () => {
    const dataDir = fs.mkdtempSync(path.join(scratch, 'data-'));
    const unset = { identity: { uidMin: undefined, uidMax: undefined } };
    const firstRun = cleanupList();
    const auto = await startPlatform(firstRun.add, unset, { dataDir, keepData: true });
    const remembered = JSON.parse(fs.readFileSync(path.join(dataDir, 'uid-range.json'), 'utf8')) as { uidMin: number; uidMax: number };
    const { username } = await auto.newUser('auto');
    const uid = (await auto.platform.store.findUser(username))!.uid;
    assert.equal(uid, remembered.uidMin, "the store's first uid is the range's first");

    // No other live server on the engine (with another identity store) hands out any uid of it.
    for (const network of await engine().listNetworks()) {
      const labels = network.Labels ?? {};
      const other = { dataDir: labels['canfar.net/data-dir'], uidMin: Number(labels['canfar.net/uid-min']), uidMax: Number(labels['canfar.net/uid-max']) };
      if (!other.dataDir || other.dataDir === dataDir || !fs.existsSync(other.dataDir)) continue;
      assert.ok(other.uidMax < remembered.uidMin || other.uidMin > remembered.uidMax, `${JSON.stringify(remembered)} meets ${JSON.stringify(other)}`);
    }

    // A server configured into that range is refused; the automatic one keeps it across a restart.
    assert.match(await refused({ identity: { uidMin: uid, uidMax: uid + 10 } }), /the same uid would be two people/);
    await firstRun.run();
    const again = await startPlatform(cleanups.add, unset, { dataDir });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dataDir, 'uid-range.json'), 'utf8')), remembered);
    const { username: next } = await again.newUser('auto');
    assert.equal((await again.platform.store.findUser(next))!.uid, uid + 1);
  });

  it('gives a server that names no network one of its own, beside a server that holds the first choice', async () => {
    const said: string[] = [];
    const log = { info: (m: string) => void said.push(m), warn: () => {}, error: () => {} };
    // `first` runs on a name of its own; a server on `skaha` (the setup server) may or may not
    // run here: either way the new server must take a name no live server holds.
    const auto = await startPlatform(cleanups.add, { podman: { network: '' } }, { dataDir: fs.mkdtempSync(path.join(scratch, 'data-')), log });
    const { token } = await auto.newUser('auto');
    const id = await launch(auto, token, { name: 'mine', image: WEB_IMAGE, type: 'contributed' });
    assert.equal(await auto.waitStatus(token, id, ['Running', 'Failed']), 'Running');
    const [container] = await engine().listContainers({ filters: { label: [`canfar.net/id=${id}`] } });
    const network = container!.Labels['canfar.net/instance']!;
    assert.notEqual(network, testInstance(first.dataDir).podman.network);
    assert.ok(network === 'skaha' || /^skaha-[0-9a-f]{8}$/.test(network), network);
    autoNetworkName = network;
  });

  it("hides a server's sessions from another on the same engine, for a user of the same name", async () => {
    const alice = await first.newUser('twin');
    const id = await launch(first, alice.token, { name: 'mine', image: WEB_IMAGE, type: 'contributed' });
    assert.equal(await first.waitStatus(alice.token, id, ['Running', 'Failed']), 'Running');
    const twin = (await second.platform.store.createToken(alice.username, 'twin')).token;

    const listed = await second.request('GET', '/skaha/v0/session', { token: twin });
    assert.equal(listed.status, 200);
    assert.deepEqual(JSON.parse(listed.body), []);
    assert.equal((await second.request('GET', `/skaha/v0/session/${id}`, { token: twin })).status, 404);
    assert.equal((await second.request('DELETE', `/skaha/v0/session/${id}`, { token: twin })).status, 404);
    assert.equal((await openThroughProxy(second, `/session/contrib/${id}/`, { authorization: `Bearer ${twin}` }, 5_000)).status, 404);
    assert.ok(!second.platform.backend.list().some((s) => s.id === id), "not in the second server's index");

    // The first server's session is untouched and its own server still reaches it.
    assert.equal(await first.waitStatus(alice.token, id, ['Running']), 'Running');
    assert.equal((await openThroughProxy(first, `/session/contrib/${id}/`, { authorization: `Bearer ${alice.token}` })).status, 200);
  });
});
