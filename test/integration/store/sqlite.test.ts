import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { SqliteRegistryCredentials } from '../../../src/store/credentials.js';
import { CredentialSealer } from '../../../src/store/sealing.js';
import { SqliteIdentityStore } from '../../../src/store/sqlite.js';
import { describeStoreContract, type Opened } from './contract.js';

/** The store contract on SQLite: each case in its own data directory. */
const dirs: string[] = [];

function openAt(dir: string, range: { uidMin: number; uidMax: number }, sealer?: CredentialSealer): Opened {
  const identity = new SqliteIdentityStore(dir, range);
  const credentials = new SqliteRegistryCredentials(dir, sealer);
  return {
    identity,
    credentials,
    async close() {
      await identity.close();
      await credentials.close();
    },
  };
}

describeStoreContract('sqlite', {
  async setUp() {},
  async tearDown() {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  },
  async fresh(range) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-store-'));
    dirs.push(dir);
    return { ...openAt(dir, range), reopen: async (sealer) => openAt(dir, range, sealer) };
  },
});

it("keeps skaha.db (hashes and sealed secrets) readable by the server's user only, whatever the umask", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-store-mode-'));
  const old = process.umask(0o022);
  try {
    // A database made before the rule, world-readable: opening it closes it up.
    fs.writeFileSync(path.join(dir, 'skaha.db'), '');
    fs.chmodSync(path.join(dir, 'skaha.db'), 0o644);
    const opened = openAt(dir, { uidMin: 200000, uidMax: 200010 });
    await opened.identity.ensureUser('alice');
    for (const file of fs.readdirSync(dir).filter((f) => f.startsWith('skaha.db'))) {
      assert.equal(fs.statSync(path.join(dir, file)).mode & 0o777, 0o600, file);
    }
    await opened.close();
  } finally {
    process.umask(old);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
