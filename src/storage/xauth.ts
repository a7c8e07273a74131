import crypto from 'node:crypto';

const MIT_MAGIC_COOKIE = 'MIT-MAGIC-COOKIE-1';
/** libXau's FamilyWild: the entry matches any address, so it works over TCP and the unix socket. */
const FAMILY_WILD = 0xffff;

function counted(data: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(data.length);
  return Buffer.concat([length, data]);
}

/**
 * An .Xauthority file (libXau format) holding one MIT-MAGIC-COOKIE-1 for `display` (e.g. "1").
 * Each desktop gets its own cookie, given only to it and its desktop-apps, so no other container
 * can draw on or read its screen (design.md: no `-ac`).
 */
export function xauthorityFile(display: string, cookie: Buffer = crypto.randomBytes(16)): Buffer {
  const family = Buffer.alloc(2);
  family.writeUInt16BE(FAMILY_WILD);
  return Buffer.concat([family, counted(Buffer.alloc(0)), counted(Buffer.from(display)), counted(Buffer.from(MIT_MAGIC_COOKIE)), counted(cookie)]);
}
