import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CredentialPulls } from '../../../src/backends/podman/credential-pulls.js';
import { parseImageReference, repositoryOf } from '../../../src/catalog/registry/access.js';

describe('image references as the distribution API names them', () => {
  it('splits host (with its port), repository and tag or digest', () => {
    assert.deepEqual(parseImageReference('127.0.0.1:5000/private/kep:1.0'), { host: '127.0.0.1:5000', repository: 'private/kep', reference: '1.0' });
    assert.deepEqual(parseImageReference('images.canfar.net/skaha/a/b@sha256:abc'), { host: 'images.canfar.net', repository: 'skaha/a/b', reference: 'sha256:abc' });
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

  it('refuses to start from a record it cannot read rather than make private images everyone\'s', () => {
    const where = file();
    fs.mkdirSync(path.dirname(where), { recursive: true });
    fs.writeFileSync(where, '{"sha256:aaa": ["r.example/priv');
    assert.throws(() => new CredentialPulls(where), /cannot read .*credential-pulls\.json/);
  });
});
