import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CredentialPulls } from '../../../src/backends/podman/credential-pulls.js';
import { PullJournal } from '../../../src/backends/podman/pull-journal.js';
import { parseImageReference, repositoryOf } from '../../../src/catalog/registry/access.js';

describe('image references as the distribution API names them', () => {
  it('splits host (with its port), repository and tag or digest', () => {
    assert.deepEqual(parseImageReference('127.0.0.1:5000/private/kep:1.0'), { host: '127.0.0.1:5000', repository: 'private/kep', reference: '1.0' });
    assert.deepEqual(parseImageReference('images.canfar.net/skaha/a/b@sha256:abc'), {
      host: 'images.canfar.net',
      repository: 'skaha/a/b',
      reference: 'sha256:abc',
    });
    assert.deepEqual(parseImageReference('registry:5000/team/tool'), { host: 'registry:5000', repository: 'team/tool', reference: 'latest' });
    assert.equal(repositoryOf('127.0.0.1:5000/private/kep@sha256:abc'), '127.0.0.1:5000/private/kep');
  });
});

describe('the record of images pulled with credentials (KEP-2535)', () => {
  const dirs: string[] = [];
  const file = () => {
    dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-pulls-')));
    return path.join(dirs.at(-1)!, 'podman', 'credential-pulls.json');
  };
  after(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

  it('asks for a check by image and repository, survives a restart, and forgets images the engine lost', () => {
    const where = file();
    const pulls = new CredentialPulls(where);
    assert.equal(pulls.isEmpty(), true);
    pulls.add('sha256:aaa', 'r.example/private/x');
    assert.equal(pulls.needsCheck('sha256:aaa', 'r.example/private/x'), true);
    assert.equal(pulls.needsCheck('sha256:aaa', 'r.example/public/x'), false, 'the same bytes under another name');
    assert.equal(pulls.needsCheck('sha256:bbb', 'r.example/private/x'), false, 'another image of the repository, pulled without credentials');

    const restarted = new CredentialPulls(where);
    assert.equal(restarted.needsCheck('sha256:aaa', 'r.example/private/x'), true);
    restarted.retain(['sha256:bbb']);
    assert.equal(new CredentialPulls(where).isEmpty(), true);
    assert.ok(!fs.readFileSync(where, 'utf8').includes('secret'));
  });

  it('checks a repository while it is being pulled with credentials, before its image ID is known', () => {
    const pulls = new CredentialPulls(file());
    const first = pulls.begin('r.example/private/x');
    const second = pulls.begin('r.example/private/x');
    assert.equal(pulls.needsCheck('sha256:ccc', 'r.example/private/x'), true);
    first();
    first();
    assert.equal(pulls.needsCheck('sha256:ccc', 'r.example/private/x'), true, 'one pull still runs');
    second();
    assert.equal(pulls.isEmpty(), true);
  });

  it("refuses to start from a record it cannot read rather than make private images everyone's", () => {
    const where = file();
    fs.mkdirSync(path.dirname(where), { recursive: true });
    fs.writeFileSync(where, '{"sha256:aaa": ["r.example/priv');
    assert.throws(() => new CredentialPulls(where), /cannot read .*credential-pulls\.json/);
  });
});

describe('the journal of launches waiting for their image', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-journal-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const spec = (sessionId: string, appId?: string) => ({
    sessionId,
    ...(appId ? { appId } : {}),
    username: 'alice',
    name: 'job',
    type: 'headless' as const,
    image: 'r.example/private/x:1',
    env: [] as Array<[string, string]>,
    uid: 200000,
    gid: 200000,
    supplementalGroups: [],
    mounts: [],
    hostname: 'job',
    resources: { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 },
    ports: [] as number[],
    deadlineSeconds: 60,
    jobName: `skaha-headless-alice-${sessionId}`,
    registryAuth: { username: 'alice', password: 'hunter2', serveraddress: 'r.example' },
  });

  it('writes down pending and failed launches, never their credentials, and reads them back after a restart', () => {
    const journal = new PullJournal(path.join(dir, 'pulls'));
    assert.deepEqual(journal.all(), [], 'no directory yet: nothing');
    const created = new Date('2026-11-26T10:00:00Z');
    journal.pending(spec('aaaaaaaa'), created);
    journal.failed(spec('bbbbbbbb', 'cccccccc'), created, new Date('2026-11-26T10:01:00Z'), 'Failed to pull image "r.example/private/x:1": not found');
    for (const name of fs.readdirSync(path.join(dir, 'pulls'))) {
      const text = fs.readFileSync(path.join(dir, 'pulls', name), 'utf8');
      assert.ok(!text.includes('hunter2') && !text.includes('registryAuth'), `${name} holds no credentials`);
      assert.equal(fs.statSync(path.join(dir, 'pulls', name)).mode & 0o777, 0o600);
    }
    const again = new PullJournal(path.join(dir, 'pulls'));
    const byKey = new Map(again.all().map((e) => [e.key, e.file]));
    assert.deepEqual([...byKey.keys()].sort(), ['aaaaaaaa', 'bbbbbbbb/cccccccc']);
    assert.equal(byKey.get('aaaaaaaa')?.failed, undefined);
    assert.equal(byKey.get('aaaaaaaa')?.createdAt, created.toISOString());
    assert.deepEqual(byKey.get('bbbbbbbb/cccccccc')?.failed, {
      at: '2026-11-26T10:01:00.000Z',
      event: 'Failed to pull image "r.example/private/x:1": not found',
    });
    fs.writeFileSync(path.join(dir, 'pulls', 'torn.json'), '{"spec":');
    again.remove('aaaaaaaa');
    assert.deepEqual(
      again.all().map((e) => e.key),
      ['bbbbbbbb/cccccccc'],
      'removed, and a torn file skipped',
    );
  });
});
