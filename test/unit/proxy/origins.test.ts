import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SessionOrigins } from '../../../src/proxy/origins.js';

describe('SessionOrigins', () => {
  const local = new SessionOrigins('auto', () => 'http://127.0.0.1:8555');
  const named = new SessionOrigins('sessions.example.org', () => 'https://skaha.example.org');

  it('puts sessions under localhost on loopback, under the configured domain otherwise, nowhere when unset', () => {
    assert.equal(local.baseOf('abcd1234'), 'http://abcd1234.localhost:8555');
    assert.equal(named.baseOf('abcd1234'), 'https://abcd1234.sessions.example.org');
    assert.equal(new SessionOrigins('auto', () => 'https://skaha.example.org').enabled, false, 'auto needs loopback');
    assert.equal(new SessionOrigins('', () => 'http://127.0.0.1:8555').baseOf('abcd1234'), 'http://127.0.0.1:8555');
    assert.equal(local.platformUrl('/session-login?to=x'), 'http://127.0.0.1:8555/session-login?to=x');
  });

  it('reads the session from a Host header, and nothing else', () => {
    assert.equal(local.sessionOf('abcd1234.localhost:8555'), 'abcd1234');
    assert.equal(local.sessionOf('ABCD1234.LOCALHOST'), 'abcd1234');
    for (const host of [
      '127.0.0.1:8555',
      'localhost:8555',
      'x.abcd1234.localhost',
      'abcd12345.localhost',
      '1bcd1234.localhost',
      'abcd1234.localhost.evil.example',
      undefined,
    ]) {
      assert.equal(local.sessionOf(host), undefined, String(host));
    }
  });

  it("hands tickets only to addresses under a session's own origin and path", () => {
    assert.equal(local.sessionAt('http://abcd1234.localhost:8555/session/contrib/abcd1234/x?y=1'), 'abcd1234');
    for (const url of [
      'http://abcd1234.localhost:8555/session/contrib/zzzz1234/',
      'http://abcd1234.localhost:9999/session/contrib/abcd1234/',
      'https://abcd1234.localhost:8555/session/contrib/abcd1234/',
      'http://user:pw@abcd1234.localhost:8555/session/contrib/abcd1234/',
      'http://abcd1234.localhost:8555/auth/session',
      'http://evil.example/session/contrib/abcd1234/',
      '/session/contrib/abcd1234/',
      'not a url',
    ]) {
      assert.equal(local.sessionAt(url), undefined, url);
    }
  });
});
