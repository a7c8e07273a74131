import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A 32-byte secret kept in `<dataDir>/secrets/<name>.key` (0600), created on first use; the
 * same across restarts so signed cookies and callback tokens stay valid.
 */
export function loadOrCreateKey(dataDir: string, name: string): Buffer {
  const file = path.join(dataDir, 'secrets', `${name}.key`);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, crypto.randomBytes(32), { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return fs.readFileSync(file);
}

/** HMAC-signed values: `<base64url payload>.<base64url signature>`. */
export class Signer {
  constructor(private readonly key: Buffer) {}

  sign(payload: string): string {
    const body = Buffer.from(payload).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  /** The payload, or undefined when the signature does not match. */
  verify(value: string): string | undefined {
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const body = value.slice(0, dot);
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(value.slice(dot + 1));
    if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) return undefined;
    return Buffer.from(body, 'base64url').toString('utf8');
  }

  mac(body: string): string {
    return crypto.createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
