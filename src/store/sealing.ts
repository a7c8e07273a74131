import crypto from 'node:crypto';
import { loadOrCreateKey } from '../auth/keys.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM sealing of registry secrets, the same for every credential store. The key is kept
 * apart from the database (<dataDir>/secrets/registry-credentials.key, 0600), so a copy of the
 * database alone (a SQLite file, a PostgreSQL dump) reveals no secret. Each secret is bound to
 * its owner and host (additional authenticated data), so a row moved to another user or host no
 * longer opens. Layout: IV (12 bytes) | ciphertext | tag (16 bytes).
 */
export class CredentialSealer {
  private loaded: Buffer | undefined;

  /** `keySource`: the 32-byte key, or where to get it on first use. */
  constructor(private readonly keySource: Buffer | (() => Buffer)) {}

  /** The sealer of a data directory; its key is read (created the first time) when first needed. */
  static forDataDir(dataDir: string): CredentialSealer {
    return new CredentialSealer(() => loadOrCreateKey(dataDir, 'registry-credentials'));
  }

  private get key(): Buffer {
    if (!this.loaded) {
      const key = typeof this.keySource === 'function' ? this.keySource() : this.keySource;
      if (key.length !== 32) throw new Error('a credential sealing key has 32 bytes');
      this.loaded = key;
    }
    return this.loaded;
  }

  seal(owner: string, host: string, secret: string): Buffer {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(boundTo(owner, host));
    return Buffer.concat([iv, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  }

  /** The secret, or undefined when it was sealed under another key, owner or host, or altered. */
  unseal(owner: string, host: string, sealed: Buffer): string | undefined {
    if (sealed.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, IV_BYTES));
      decipher.setAAD(boundTo(owner, host));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

function boundTo(owner: string, host: string): Buffer {
  return Buffer.from(`${owner}\n${host}`);
}
