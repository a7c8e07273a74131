import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Configuration } from 'openid-client';
import { oidcOfferOf } from '../../../src/api/auth/oidc.js';
import { defaultMethod, grantOf, resourceOf } from '../../../src/cli/oidc.js';
import { loadSettings, updateSettings } from '../../../src/cli/settings.js';

const unsignedJwt = (payload: object) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

describe('OIDC login: the pure parts', () => {
  it("offers the CLI client (else the server's) and the audience the server checks, or nothing", () => {
    const base = { issuer: 'https://id.example', audience: '', clientId: 'web', cliClientId: '', cliScopes: ['openid', 'offline_access'] };
    assert.deepEqual(oidcOfferOf(base), { issuer: 'https://id.example', clientId: 'web', audience: 'web', scopes: ['openid', 'offline_access'] });
    assert.deepEqual(oidcOfferOf({ ...base, cliClientId: 'cli', audience: 'https://skaha.example' })?.clientId, 'cli');
    assert.equal(oidcOfferOf({ ...base, issuer: '' }), undefined, 'no issuer');
    assert.equal(oidcOfferOf({ ...base, clientId: '' }), undefined, 'no client to log in with');
  });

  it('sends the audience as an RFC 8707 resource only when it is a URL', () => {
    assert.equal(resourceOf('https://skaha.example/api'), 'https://skaha.example/api');
    assert.equal(resourceOf('skaha-client'), undefined);
    assert.equal(resourceOf('urn:skaha'), undefined);
  });

  it('keeps expiry from expires_in, else the JWT exp, and the old refresh token when none is sent', () => {
    const before = Date.now();
    const a = grantOf(
      { access_token: 'opaque', token_type: 'bearer', expires_in: 60, refresh_token: 'r1' },
      { issuer: 'https://id', clientId: 'cli', resource: 'https://api' },
    );
    assert.ok(a.oidc.expiresAtMs! >= before + 60_000 && a.oidc.expiresAtMs! <= Date.now() + 60_000);
    assert.deepEqual({ ...a.oidc, expiresAtMs: 0 }, { issuer: 'https://id', clientId: 'cli', resource: 'https://api', refreshToken: 'r1', expiresAtMs: 0 });
    const b = grantOf({ access_token: unsignedJwt({ exp: 2_000_000_000 }), token_type: 'bearer' }, { ...a.oidc });
    assert.deepEqual([b.oidc.expiresAtMs, b.oidc.refreshToken], [2_000_000_000_000, 'r1'], 'an issuer that does not rotate');
    assert.equal(grantOf({ access_token: 'opaque', token_type: 'bearer' }, { issuer: 'https://id', clientId: 'cli' }).oidc.expiresAtMs, undefined);
  });

  it('picks the device flow over SSH or without a display, and only when the issuer has it', () => {
    const withDevice = new Configuration({ issuer: 'https://id', device_authorization_endpoint: 'https://id/device' }, 'cli');
    const without = new Configuration({ issuer: 'https://id' }, 'cli');
    assert.equal(defaultMethod(withDevice, { SSH_CONNECTION: '10.0.0.1 5 10.0.0.2 22', DISPLAY: ':0' }), 'device');
    assert.equal(defaultMethod(without, { SSH_CONNECTION: '10.0.0.1 5 10.0.0.2 22' }), 'browser');
    if (process.platform === 'linux') {
      assert.equal(defaultMethod(withDevice, {}), 'device');
      assert.equal(defaultMethod(withDevice, { WAYLAND_DISPLAY: 'wayland-0' }), 'browser');
    }
  });
});

describe('the config file lock', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-settings-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('serialises read-change-write, so concurrent updates all land, in a 0600 file', async () => {
    const file = path.join(dir, 'a', 'config.json');
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        updateSettings(async (s) => {
          await new Promise((r) => setTimeout(r, 5));
          s.contexts[`c${i}`] = { url: 'http://127.0.0.1', version: 'v0', auth: 'token', token: `t${i}` };
        }, file),
      ),
    );
    assert.equal(Object.keys(loadSettings(file).contexts).length, 8);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.ok(!fs.existsSync(`${file}.lock`));
  });

  it('writes nothing when the change throws, and takes over a lock left by a dead process', async () => {
    const file = path.join(dir, 'b', 'config.json');
    await updateSettings((s) => void (s.active = 'x'), file);
    await assert.rejects(
      updateSettings(() => {
        throw new Error('no');
      }, file),
      /no/,
    );
    assert.equal(loadSettings(file).active, 'x');
    fs.writeFileSync(`${file}.lock`, '');
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(`${file}.lock`, old, old);
    await updateSettings((s) => void (s.active = 'y'), file);
    assert.equal(loadSettings(file).active, 'y');
  });
});
