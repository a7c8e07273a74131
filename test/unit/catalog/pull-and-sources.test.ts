import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { formatBytesOf, PullProgress, pullFailureReason } from '../../../src/engine/pull.js';
import { nextLink, parseChallenge } from '../../../src/catalog/registry/client.js';
import { eventsTable } from '../../../src/api/session/views.js';
import { lastEventMessage } from '../../../src/cli/commands/sessions.js';
import { resolveConfig } from '../../../src/server/config.js';
import { CachedCatalog } from '../../../src/catalog/catalog.js';

describe('pull progress from the engine stream', () => {
  it('adds up layers and bytes as Podman reports them', () => {
    const p = new PullProgress();
    // The lines Podman 4's compat /images/create writes (status, id, progressDetail).
    p.feed({ status: 'Already exists', progressDetail: {}, id: 'd86c023e33f0' });
    p.feed({ status: 'Pulling fs layer', progressDetail: {}, id: '578d46f0173d' });
    p.feed({ status: 'Pulling fs layer', progressDetail: {}, id: '16bc49f253e6' });
    p.feed({ status: 'Downloading', progressDetail: { current: 1_200_000_000, total: 2_400_000_000 }, id: '578d46f0173d' });
    p.feed({ status: 'Downloading', progressDetail: { current: 100_000_000, total: 1_000_000_000 }, id: '16bc49f253e6' });
    assert.equal(p.summary(), '1.3 of 3.4 GB, 1 of 3 layers');
    p.feed({ status: 'Download complete', progressDetail: {}, id: '578d46f0173d' });
    assert.equal(p.summary(), '2.5 of 3.4 GB, 2 of 3 layers');
    assert.equal(p.error, undefined);
    p.feed({
      progressDetail: {},
      errorDetail: { message: 'initializing source docker://r/x:1: reading manifest 1 in r/x: manifest unknown:\n manifest unknown' },
      error: 'x',
    });
    assert.equal(p.error, 'initializing source docker://r/x:1: reading manifest 1 in r/x: manifest unknown: manifest unknown');
  });

  it('names the reason a user can act on', () => {
    assert.equal(pullFailureReason('reading manifest 1.0 in r/x: unauthorized: authentication required'), 'unauthorized');
    assert.equal(pullFailureReason('reading manifest 1.0 in r/x: manifest unknown: manifest unknown'), 'not found');
    assert.equal(pullFailureReason('writing blob: storing blob to file: write /var/tmp/x: no space left on device'), 'disk full');
    assert.equal(
      pullFailureReason('pinging container registry r: Get "https://r/v2/": x509: certificate signed by unknown authority'),
      'registry certificate not trusted',
    );
    assert.equal(formatBytesOf(512, 900), '512 of 900 B');
  });
});

describe('what skaha create --wait shows while a session is Pending', () => {
  it('is the message of the last event of the view=events table', () => {
    const t = new Date('2026-11-25T10:00:00Z');
    const table = eventsTable([
      { type: 'Normal', reason: 'Pulling', message: 'Pulling image "r/x:1"', firstTime: t, lastTime: t },
      { type: 'Normal', reason: 'Pulling', message: 'Pulling image "r/x:1": 1.2 of 3.4 GB, 3 of 7 layers', firstTime: t, lastTime: t },
    ]);
    assert.equal(lastEventMessage(table), 'Pulling image "r/x:1": 1.2 of 3.4 GB, 3 of 7 layers');
    assert.equal(lastEventMessage('<none>\n'), undefined);
  });
});

describe('registry protocol details', () => {
  it('parses token challenges and Link pagination', () => {
    assert.deepEqual(parseChallenge('realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'), {
      realm: 'https://auth.example/token',
      service: 'registry.example',
      scope: 'repository:a/b:pull',
    });
    assert.equal(nextLink('</v2/_catalog?last=skaha%2Fz&n=1000>; rel="next"'), '/v2/_catalog?last=skaha%2Fz&n=1000');
    assert.equal(nextLink(undefined), undefined);
  });
});

describe('catalog sources in the configuration', () => {
  it('defaults to the engine, and refuses a registry source without a URL', () => {
    assert.deepEqual(resolveConfig({}).catalog.sources, [{ kind: 'local' }]);
    assert.throws(() => resolveConfig({ catalog: { sources: [{ kind: 'registry' }] } }), /catalog\/sources\/0\/url: a registry source needs an http\(s\) URL/);
    assert.throws(() => resolveConfig({ catalog: { sources: [{ kind: 'quay' }] } }), /invalid configuration at \/catalog\/sources\/0\/kind/);
    assert.throws(
      () => resolveConfig({ catalog: { sources: [{ kind: 'harbor', url: 'https://h.example', passwordFile: '/nonexistent/secret' }] } }),
      /catalog\/sources\/0\/passwordFile: cannot read \/nonexistent\/secret \(ENOENT\)/,
    );
  });
});

describe('the catalog cache across restarts', () => {
  it("serves a remote source's last good list at once after a restart, then its fresh one", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-catalog-'));
    const log = { warn() {}, info() {} };
    const image = (id: string) => ({ id, types: ['headless'], digest: 'sha256:' + '0'.repeat(64) });
    let answer = [image('r.example/a/b:1')];
    let gate: Promise<void> | undefined;
    let open: () => void = () => {};
    const slow = {
      name: 'registry r.example',
      fetch: async () => {
        if (gate) await gate;
        return answer;
      },
    };
    const first = new CachedCatalog([slow], log, dir);
    await first.start(60_000, 5_000);
    assert.deepEqual(
      first.list().map((i) => i.id),
      ['r.example/a/b:1'],
    );
    await first.stop();

    // Restarted, with the registry not answering yet: the remembered list, without waiting.
    answer = [image('r.example/a/b:2')];
    gate = new Promise<void>((resolve) => (open = resolve));
    const second = new CachedCatalog([slow], log, dir);
    await second.start(60_000, 60_000);
    assert.deepEqual(
      second.list().map((i) => i.id),
      ['r.example/a/b:1'],
    );
    open();
    gate = undefined;
    await second.refresh();
    assert.deepEqual(
      second.list().map((i) => i.id),
      ['r.example/a/b:2'],
    );
    await second.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
