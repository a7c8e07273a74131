import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DeletionJournal } from '../../../src/backends/podman/deletions.js';
import { writeDurably } from '../../../src/common/durable.js';

describe('DeletionJournal', () => {
  it("keeps acknowledged deletions across a reopen, covers a desktop's apps, and forgets finished ones", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-deletions-'));
    try {
      const journal = new DeletionJournal(dir);
      journal.record('desk0001', new Date('2026-12-04T00:00:00Z'));
      journal.record('nbk00001/app00001');
      const reopened = new DeletionJournal(dir);
      assert.deepEqual(
        reopened
          .all()
          .map((d) => d.key)
          .sort(),
        ['desk0001', 'nbk00001/app00001'],
      );
      assert.equal(reopened.covering('desk0001/app00009')?.key, 'desk0001', "a desktop's deletion covers its apps");
      assert.equal(reopened.covering('nbk00001'), undefined, "an app's deletion does not cover its desktop");
      assert.equal(reopened.all().find((d) => d.key === 'desk0001')?.at, '2026-12-04T00:00:00.000Z', 'the time it was asked for is kept');
      reopened.remove('desk0001');
      assert.deepEqual(
        new DeletionJournal(dir).all().map((d) => d.key),
        ['nbk00001/app00001'],
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ignores what a crash left half-written: a temporary file was never acknowledged', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-deletions-'));
    try {
      fs.writeFileSync(path.join(dir, '.torn.json.123.tmp'), '{"key":"torn0001"');
      fs.writeFileSync(path.join(dir, 'garbage.json'), 'not json');
      writeDurably(path.join(dir, 'good0001.json'), JSON.stringify({ key: 'good0001', at: new Date().toISOString() }));
      assert.deepEqual(
        new DeletionJournal(dir).all().map((d) => d.key),
        ['good0001'],
      );
      assert.ok(!fs.existsSync(path.join(dir, '.torn.json.123.tmp')), 'the torn write is cleaned up');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
