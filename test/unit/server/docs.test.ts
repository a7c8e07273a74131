import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { renderConfigDocs } from '../../../src/server/config-docs.js';
import { SKAHA_ERRORS } from '../../../src/common/errors.js';
import { loadConfig, resolveConfig } from '../../../src/server/config.js';

describe('documents derived from code', () => {
  it('docs/config.md is what `npm run docs` generates', () => {
    assert.equal(fs.readFileSync('docs/config.md', 'utf8'), renderConfigDocs(), 'run `npm run docs`');
  });

  it('docs/errors.md lists every SKAHA_ERR_* code with its status, and no stale ones', () => {
    const doc = fs.readFileSync('docs/errors.md', 'utf8');
    const documented = new Set([...doc.matchAll(/`(SKAHA_ERR_[A-Z_]+)` \| (\d{3})/g)].map((m) => `${m[1]}:${m[2]}`));
    const actual = new Set(Object.entries(SKAHA_ERRORS).map(([code, e]) => `${code}:${e.statusCode}`));
    assert.deepEqual([...documented].sort(), [...actual].sort());
  });
});

describe('configuration', () => {
  it('takes defaults < file < environment < flags', () => {
    const file = `${fs.mkdtempSync('/tmp/skaha-conf-')}/c.json`;
    fs.writeFileSync(file, JSON.stringify({ port: 1, sessions: { maxUserSessions: 3 }, dataDir: '/tmp/a' }));
    const fromFile = loadConfig({ configFile: file }, {});
    assert.equal(fromFile.port, 1);
    assert.equal(fromFile.sessions.maxUserSessions, 3);
    assert.equal(fromFile.sessions.expirySeconds, 345600, 'defaults fill the rest of a section');
    assert.equal(fromFile.storage.hostDir, '/tmp/a/arc');
    const fromEnv = loadConfig({ configFile: file }, { SKAHA_PORT: '2', SKAHA_DATA_DIR: '/tmp/b' });
    assert.deepEqual([fromEnv.port, fromEnv.dataDir], [2, '/tmp/b']);
    const fromFlags = loadConfig({ configFile: file, port: 3, dataDir: '/tmp/c' }, { SKAHA_PORT: '2' });
    assert.deepEqual([fromFlags.port, fromFlags.dataDir], [3, '/tmp/c']);
  });

  it('refuses bad values with the path of the field', () => {
    assert.throws(() => resolveConfig({ sessions: { maxUserSessions: 0 } }), /invalid configuration at \/sessions\/maxUserSessions/);
    assert.throws(() => resolveConfig({ port: 'eighty' }), /invalid configuration at \/port/);
    assert.throws(() => loadConfig({ configFile: '/nonexistent.json' }, {}), /cannot read config file \/nonexistent.json/);
  });

  it('reads the OIDC client secret from its file, and names the field when it cannot', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-config-'));
    try {
      const file = path.join(dir, 'client-secret');
      fs.writeFileSync(file, 's3cr3t\nignored\n', { mode: 0o600 });
      assert.equal(resolveConfig({ oidc: { clientSecret: 'inline', clientSecretFile: file } }).oidc.clientSecret, 's3cr3t');
      assert.throws(
        () => resolveConfig({ oidc: { clientSecretFile: path.join(dir, 'missing') } }),
        /invalid configuration at \/oidc\/clientSecretFile: cannot read .*missing \(ENOENT\)/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
