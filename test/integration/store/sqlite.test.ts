import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
