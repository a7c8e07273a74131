import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CredentialSealer } from '../../../src/store/sealing.js';
import type { IdentityStore, RegistryCredentials } from '../../../src/store/store.js';

/**
 * One suite, every identity store (issue 9: SQLite, and PostgreSQL for several servers): what
 * the authenticators, the account routes and `skaha admin` rely on. Each target opens real
 * stores (a SQLite file, a database in a throwaway PostgreSQL cluster).
 */
interface StoreTarget {
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /**
   * Stores on one fresh, empty place (a new data directory, a new database); `reopen` opens more
   * on the same place: what a restarted server or `skaha admin` (another process) would see.
   */
  fresh(uidRange: { uidMin: number; uidMax: number }): Promise<{ reopen(sealer?: CredentialSealer): Promise<Opened> } & Opened>;
}

export interface Opened {
  identity: IdentityStore;
  credentials: RegistryCredentials;
  close(): Promise<void>;
}

const RANGE = { uidMin: 200000, uidMax: 200009 };

export function describeStoreContract(name: string, target: StoreTarget, opts: { skip?: string | false } = {}): void {
  describe(`identity store contract: ${name}`, { skip: opts.skip ?? false }, () => {
    const opened: Opened[] = [];
    const open = async (range = RANGE) => {
      const stores = await target.fresh(range);
      opened.push(stores);
      return stores;
    };
    before(() => target.setUp());
    after(async () => {
      for (const s of opened.reverse()) await s.close().catch(() => undefined);
      await target.tearDown();
    });

    it('allocates uids from the range in order, once per user, and refuses when it is used up', async () => {
      const { identity } = await open({ uidMin: 200000, uidMax: 200002 });
      assert.equal(await identity.findUser('alice'), undefined, 'findUser never creates');
      const alice = await identity.ensureUser('alice');
      assert.deepEqual(alice, { username: 'alice', uid: 200000, gid: 200000, groups: [] });
      assert.deepEqual(await identity.ensureUser('alice'), alice, 'idempotent');
      assert.deepEqual(await identity.findUser('alice'), alice);
      assert.equal((await identity.ensureUser('bob')).uid, 200001);
      assert.equal((await identity.ensureUser('carol')).uid, 200002);
      await assert.rejects(identity.ensureUser('dave'), /no free uid left in identity.uidMin..uidMax/);
      assert.equal(await identity.findUser('dave'), undefined);
      await assert.rejects(identity.ensureUser('Not Valid'), /^Error: invalid username 'Not Valid'/);
      await assert.rejects(identity.ensureUser(''), /invalid username/);
      // Names the session images already have would be a second /etc/passwd entry of that name.
      for (const name of ['root', 'nobody', 'daemon', 'www-data', 'systemd-network']) {
        await assert.rejects(identity.ensureUser(name), new RegExp(`invalid username '${name}': it is a system account`));
        assert.equal(await identity.findUser(name), undefined);
      }
      await assert.rejects(identity.ensureGroup('sudo'), /invalid group name 'sudo': it is a system group/);
      await assert.rejects(identity.addToGroup('carol', 'users'), /system group/);
      assert.deepEqual((await identity.findUser('carol'))?.groups, [], 'nothing changed');
    });

    it('allocates shared gids above the uid range, and keeps memberships sorted by gid', async () => {
      const { identity } = await open();
      const astro = await identity.ensureGroup('astro');
      assert.deepEqual(astro, { name: 'astro', gid: RANGE.uidMax + 1 });
      assert.deepEqual(await identity.ensureGroup('astro'), astro, 'idempotent');
      await assert.rejects(identity.ensureGroup('Bad Group'), /invalid group name 'Bad Group'/);
      // addToGroup makes the user and the group when new; twice is once.
      const batch = await identity.addToGroup('erin', 'batch');
      assert.deepEqual(batch, { name: 'batch', gid: RANGE.uidMax + 2 });
      await identity.addToGroup('erin', 'astro');
      await identity.addToGroup('erin', 'batch');
      const erin = await identity.findUser('erin');
      assert.deepEqual(erin?.groups, [astro, batch], 'sorted by gid, no duplicates');
      assert.equal(erin?.uid, RANGE.uidMin);
      assert.deepEqual((await identity.ensureUser('erin')).groups, [astro, batch], 'ensureUser of an existing user carries its groups');
      await assert.rejects(identity.addToGroup('Bad User', 'astro'), /invalid username/);
    });

    it('checks passwords against scrypt hashes, the same way for unknown users', async () => {
      const { identity } = await open();
      await assert.rejects(identity.setPassword('frank', 'short'), /at least 8 characters/);
      assert.equal(await identity.findUser('frank'), undefined, 'a refused password creates no user');
      await identity.setPassword('frank', 'correct horse');
      assert.equal((await identity.verifyPassword('frank', 'correct horse'))?.username, 'frank');
      assert.equal(await identity.verifyPassword('frank', 'wrong horse'), undefined);
      assert.equal(await identity.verifyPassword('nobody', 'correct horse'), undefined);
      await identity.ensureUser('gina');
      assert.equal(await identity.verifyPassword('gina', ''), undefined, 'a user without a password cannot log in with one');
      await identity.setPassword('frank', 'battery staple');
      assert.equal(await identity.verifyPassword('frank', 'correct horse'), undefined, 'the old password is replaced');
      assert.equal((await identity.verifyPassword('frank', 'battery staple'))?.uid, RANGE.uidMin);
    });

    it('keeps API tokens as hashes with scopes, expiry and revocation', async () => {
      const { identity } = await open();
      await identity.addToGroup('hank', 'astro');
      const { token, info } = await identity.createToken('hank', 'laptop');
      assert.match(token, /^skt_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(info.scopes, ['read', 'launch'], 'read and launch by default');
      assert.equal(info.expiresAt, null);
      assert.equal(info.username, 'hank');
      const found = await identity.userForToken(token);
      assert.equal(found?.user.username, 'hank');
      assert.deepEqual(
        found?.user.groups.map((g) => g.name),
        ['astro'],
      );
      assert.deepEqual(found?.token, info, 'what is read back is what was made');

      const admin = await identity.createToken('hank', 'ops', { scopes: ['read', 'admin', 'read'], expiresAt: new Date(Date.now() + 3600_000) });
      assert.deepEqual(admin.info.scopes, ['read', 'admin'], 'no duplicate scopes');
      assert.equal((await identity.userForToken(admin.token))?.token.expiresAt, admin.info.expiresAt);
      await assert.rejects(identity.createToken('hank', 'x', { scopes: [] }), /scopes are some of read, launch, admin/);
      await assert.rejects(identity.createToken('hank', 'x', { scopes: ['root' as 'read'] }), /scopes are some of/);

      const expired = await identity.createToken('hank', 'old', { expiresAt: new Date(Date.now() - 1000) });
      assert.equal(await identity.userForToken(expired.token), undefined, 'an expired token is refused');
      assert.equal(await identity.userForToken(`skt_${crypto.randomBytes(32).toString('base64url')}`), undefined);
      assert.equal(await identity.userForToken(''), undefined);

      assert.deepEqual((await identity.listTokens('hank')).map((t) => t.name).sort(), ['laptop', 'old', 'ops']);
      assert.deepEqual(await identity.listTokens('nobody'), []);
      const other = await identity.createToken('ivan', 'mine');
      assert.equal(await identity.revokeToken('hank', other.info.id), false, "nobody revokes another user's token");
      assert.ok(await identity.userForToken(other.token));
      assert.equal(await identity.revokeToken('hank', info.id), true);
      assert.equal(await identity.revokeToken('hank', info.id), false, 'revoking twice is refused the second time');
      assert.equal(await identity.revokeToken('hank', 'no-such-id'), false);
      assert.equal(await identity.userForToken(token), undefined, 'a revoked token stops at once in the process that revoked it');
      assert.deepEqual((await identity.listTokens('hank')).map((t) => t.name).sort(), ['old', 'ops'], 'revoked tokens are not listed');
    });

    it('sees group changes at once, even for a cached token', async () => {
      const { identity } = await open();
      const { token } = await identity.createToken('judy', 't');
      assert.deepEqual((await identity.userForToken(token))?.user.groups, []);
      await identity.addToGroup('judy', 'late');
      assert.deepEqual(
        (await identity.userForToken(token))?.user.groups.map((g) => g.name),
        ['late'],
      );
    });

    it('keeps everything across a reopen, and another opener sees it (skaha admin, a restart)', async () => {
      const first = await open();
      await first.identity.addToGroup('kate', 'astro');
      await first.identity.setPassword('kate', 'kate password');
      const { token } = await first.identity.createToken('kate', 'kept', { scopes: ['read'] });
      await first.credentials.set('kate', 'images.example.org', { username: 'kate-robot', password: 's3cret' });

      const second = await first.reopen();
      opened.push(second);
      assert.deepEqual(await second.identity.findUser('kate'), await first.identity.findUser('kate'));
      assert.equal((await second.identity.verifyPassword('kate', 'kate password'))?.username, 'kate');
      assert.deepEqual([...(await second.identity.userForToken(token))!.token.scopes], ['read']);
      assert.deepEqual(await second.credentials.get('kate', 'images.example.org'), { username: 'kate-robot', password: 's3cret' });
      // Allocation continues where the other left off.
      assert.equal((await second.identity.ensureUser('leo')).uid, RANGE.uidMin + 1);
      assert.equal((await first.identity.ensureUser('mia')).uid, RANGE.uidMin + 2);
      assert.equal((await second.identity.ensureGroup('next')).gid, RANGE.uidMax + 2);
      // A revocation through one opener reaches the other within its token cache's 5 s.
      const { info } = await second.identity.listTokens('kate').then((l) => ({ info: l[0]! }));
      assert.equal(await first.identity.revokeToken('kate', info.id), true);
      const deadline = Date.now() + 8000;
      while ((await second.identity.userForToken(token)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      assert.equal(await second.identity.userForToken(token), undefined);
    });

    it('seals registry credentials: stored, listed without secrets, replaced, deleted', async () => {
      const { credentials } = await open();
      assert.deepEqual(await credentials.list('nina'), []);
      assert.equal(await credentials.get('nina', 'images.example.org'), undefined);
      await credentials.set('nina', 'images.example.org', { username: 'robot$nina', password: 'pa:ss wörd' });
      await credentials.set('nina', 'b.example.org', { username: 'n', password: 'x' });
      await credentials.set('omar', 'images.example.org', { username: 'omar', password: 'other' });
      assert.deepEqual(await credentials.get('nina', 'images.example.org'), { username: 'robot$nina', password: 'pa:ss wörd' });
      const listed = await credentials.list('nina');
      assert.deepEqual(
        listed.map((c) => [c.host, c.username]),
        [
          ['b.example.org', 'n'],
          ['images.example.org', 'robot$nina'],
        ],
        'by host, never the secret',
      );
      for (const c of listed) assert.ok(!Number.isNaN(Date.parse(c.updatedAt)) && c.updatedAt.endsWith('Z'), `an ISO time: ${c.updatedAt}`);
      assert.equal(JSON.stringify(listed).includes('pa:ss'), false);
      await credentials.set('nina', 'images.example.org', { username: 'robot2', password: 'new' });
      assert.deepEqual(await credentials.get('nina', 'images.example.org'), { username: 'robot2', password: 'new' }, 'replaced');
      assert.equal(await credentials.delete('nina', 'images.example.org'), true);
      assert.equal(await credentials.delete('nina', 'images.example.org'), false);
      assert.equal(await credentials.get('nina', 'images.example.org'), undefined);
      assert.deepEqual(await credentials.get('omar', 'images.example.org'), { username: 'omar', password: 'other' }, 'each user has their own');
    });

    it('opens no sealed secret under another key', async () => {
      const first = await open();
      await first.credentials.set('pia', 'images.example.org', { username: 'pia', password: 'only-with-the-key' });
      const other = await first.reopen(new CredentialSealer(crypto.randomBytes(32)));
      opened.push(other);
      assert.equal(await other.credentials.get('pia', 'images.example.org'), undefined);
      assert.equal((await other.credentials.list('pia')).length, 1, 'still listed: it is there, just not readable');
    });
  });
}
