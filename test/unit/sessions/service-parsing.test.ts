import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEnv, parseOption, parseRegistryAuth } from '../../../src/sessions/params.js';
import { SkahaError } from '../../../src/common/errors.js';

const options = [1, 2, 4, 8];

describe('launch parameter parsing (spec §3.5)', () => {
  it('takes v0 integers only and v1 decimals whose integer part is an option', () => {
    assert.equal(parseOption('cores', undefined, options, 'v0'), undefined);
    assert.equal(parseOption('cores', '', options, 'v0'), undefined);
    assert.equal(parseOption('cores', '4', options, 'v0'), 4);
    assert.equal(parseOption('cores', '2.5', options, 'v1'), 2.5);
    for (const [raw, version] of [
      ['2.5', 'v0'],
      ['3', 'v0'],
      ['-1', 'v1'],
      ['1e3', 'v1'],
      ['0x2', 'v0'],
      ['16', 'v1'],
    ] as const) {
      assert.throws(
        () => parseOption('cores', raw, options, version),
        (err: SkahaError) => err.statusCode === 400 && err.message === `Invalid value for 'cores': ${raw}`,
      );
    }
  });

  it('keeps KEY=VALUE env entries and silently drops the rest, as skaha does', () => {
    assert.deepEqual(parseEnv(['A=1', 'B=two words', 'C=x=y', 'D=', '=e', 'noequals', '1BAD=x', 'REPLICA_ID=3']), [
      ['A', '1'],
      ['B', 'two words'],
      ['REPLICA_ID', '3'],
    ]);
  });

  it('decodes x-skaha-registry-auth as base64(username:secret)', () => {
    const header = Buffer.from('robot$me:s3cret').toString('base64');
    assert.deepEqual(parseRegistryAuth(header, 'images.canfar.net/p/i:1'), { username: 'robot$me', password: 's3cret', serveraddress: 'images.canfar.net' });
    for (const bad of ['nocolon', 'a:b:c', ':secret', 'user:']) {
      assert.throws(() => parseRegistryAuth(Buffer.from(bad).toString('base64'), 'x/y'), /Invalid input\. {2}Must be in form of username:secret/);
    }
  });
});
