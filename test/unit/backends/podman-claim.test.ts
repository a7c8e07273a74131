import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { autoNetwork, claimConflict, claimLabels, claimOf, type EngineClaim } from '../../../src/backends/podman/claim.js';

const mine: EngineClaim = { network: 'skaha', dataDir: '/var/lib/skaha', store: 'sqlite:/var/lib/skaha/skaha.db', uidMin: 200000, uidMax: 299999 };
const live = () => true;

describe('claims of servers sharing one engine', () => {
  it('reads back what it writes, and nothing from a network without a whole claim', () => {
    assert.deepEqual(claimOf(claimLabels(mine)), mine);
    assert.equal(claimOf(undefined), undefined);
    assert.equal(claimOf({ 'canfar.net/instance': 'skaha' }), undefined);
    assert.equal(claimOf({ ...claimLabels(mine), 'canfar.net/uid-min': 'many' }), undefined);
  });

  it('lets the same server start again, and a server with its own network and uids beside it', () => {
    assert.deepEqual(claimConflict(mine, [mine], live), {});
    const other = { network: 'skaha2', dataDir: '/srv/skaha2', store: 'sqlite:/srv/skaha2/skaha.db', uidMin: 300000, uidMax: 399999 };
    assert.deepEqual(claimConflict(mine, [other], live), {});
  });

  it('refuses a second server on the same network name', () => {
    const other = { ...mine, dataDir: '/srv/other', store: 'sqlite:/srv/other/skaha.db', uidMin: 500000, uidMax: 500999 };
    assert.match(claimConflict(mine, [other], live).refuse ?? '', /network "skaha" belongs to the skaha server whose data directory is \/srv\/other/);
  });

  it('refuses overlapping configured uid ranges from another store, at either end, and warns of a kept one', () => {
    for (const [uidMin, uidMax] of [
      [299999, 300500],
      [100000, 200000],
      [250000, 250001],
    ] as const) {
      const other = { network: 'skaha2', dataDir: '/srv/skaha2', store: 'sqlite:/srv/skaha2/skaha.db', uidMin, uidMax };
      assert.match(claimConflict(mine, [other], live).refuse ?? '', /overlaps .* network "skaha2".*the same uid would be two people/, `${uidMin}..${uidMax}`);
    }
  });

  it('lets replicas of one identity store share uids, and ignores a server that is gone', () => {
    const replica = { ...mine, network: 'skaha-b', dataDir: '/srv/b', store: 'postgres://db:5432/skaha' };
    assert.deepEqual(claimConflict({ ...mine, store: 'postgres://db:5432/skaha' }, [replica], live), {});
    const gone = { ...mine, dataDir: '/tmp/removed' };
    assert.deepEqual(
      claimConflict(mine, [gone], (c) => c.dataDir !== '/tmp/removed'),
      {},
    );
  });

  it('names a server left to choose: its earlier name, else skaha while free, else one of its data directory', () => {
    assert.equal(autoNetwork('/var/lib/skaha', [], live), 'skaha');
    assert.equal(autoNetwork('/tmp/second', [mine], live), autoNetwork('/tmp/second', [mine], live), 'the same name each time');
    assert.match(autoNetwork('/tmp/second', [mine], live), /^skaha-[0-9a-f]{8}$/);
    assert.notEqual(autoNetwork('/tmp/second', [mine], live), autoNetwork('/tmp/third', [mine], live));
    assert.equal(
      autoNetwork('/tmp/second', [mine], () => false),
      'skaha',
      'the holder is gone',
    );
    assert.equal(autoNetwork('/srv/b', [mine, { ...mine, network: 'mine-before', dataDir: '/srv/b' }], live), 'mine-before');
  });
});
