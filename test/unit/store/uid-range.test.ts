import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { DEFAULT_UID_RANGE, settleUidRange as settleWithOrigin, uidRangeOf } from '../../../src/store/uid-range.js';

const settleUidRange = (...args: Parameters<typeof settleWithOrigin>) => {
  const { configured: _configured, ...range } = settleWithOrigin(...args);
  return range;
};

describe("a data directory's uid range", () => {
  const dirs: string[] = [];
  const fresh = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-uids-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  const unset = (dataDir: string) => ({ dataDir, identity: {} });

  it('is the default when alone, and stays what it was chosen as', () => {
    const dataDir = fresh();
    assert.deepEqual(settleUidRange(unset(dataDir), []), DEFAULT_UID_RANGE);
    assert.deepEqual(uidRangeOf(unset(dataDir)), DEFAULT_UID_RANGE, 'skaha admin reads the same');
    assert.deepEqual(settleUidRange(unset(dataDir), [DEFAULT_UID_RANGE]), DEFAULT_UID_RANGE, 'remembered, even when another server now holds it');
  });

  it("skips other servers' ranges and the shared groups above them", () => {
    const dataDir = fresh();
    const chosen = settleUidRange(unset(dataDir), [DEFAULT_UID_RANGE, { uidMin: 400_000, uidMax: 400_100 }]);
    assert.deepEqual(chosen, { uidMin: 500_000, uidMax: 589_999 });
    assert.deepEqual(uidRangeOf(unset(dataDir)), chosen);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dataDir, 'uid-range.json'), 'utf8')), chosen);
  });

  it('is the configured one when set, remembered for a later start without it', () => {
    const dataDir = fresh();
    const configured = { uidMin: 700_000, uidMax: 700_999 };
    assert.deepEqual(
      settleWithOrigin({ dataDir, identity: configured }, [configured]),
      { ...configured, configured: true },
      "a collision is the caller's to refuse",
    );
    assert.deepEqual(settleWithOrigin(unset(dataDir), []), { ...configured, configured: false });
  });

  it('keeps the default for a store that predates remembering (its users have uids there)', () => {
    const dataDir = fresh();
    fs.writeFileSync(path.join(dataDir, 'skaha.db'), '');
    assert.deepEqual(settleUidRange(unset(dataDir), [DEFAULT_UID_RANGE]), DEFAULT_UID_RANGE);
  });
});
