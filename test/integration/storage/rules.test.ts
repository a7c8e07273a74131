import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupList, HEADLESS_IMAGE, launch, projectScript, startPlatform, type TestPlatform } from '../../helpers/platform.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request with the path exactly as given (fetch would normalise `..` away before sending). */
function raw(base: string, method: string, rawPath: string, headers: Record<string, string>, body?: Buffer | string): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path: rawPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const md5Digest = (data: Buffer | string) => `md5=${crypto.createHash('md5').update(data).digest('base64')}`;
const transfer = (target: string, direction: string, keepBytes = true) =>
  `<vos:transfer xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" version="2.1"><vos:target>${target}</vos:target><vos:direction>${direction}</vos:direction>${keepBytes ? '' : '<vos:keepBytes>false</vos:keepBytes>'}<vos:protocol uri="ivo://ivoa.net/vospace/core#httpsget"/></vos:transfer>`;

/**
 * Issue 19's rules over HTTP, attacked as a user of the platform would: every route of the
 * storage service with another user's home, path tricks the router might let through, symlinks a
 * session plants, corrupt and oversized uploads.
 */
describe('the storage service refuses what is not the caller’s', () => {
  const cleanups = cleanupList();
  let tp: TestPlatform;
  let victim: { username: string; token: string };
  let attacker: { username: string; token: string };
  const as = (who: { token: string }, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${who.token}`, ...extra });

  before(async () => {
    // A 1 MiB home quota, for the quota check below.
    tp = await startPlatform(cleanups.add, { storage: { homeQuotaGiB: 1 / 1024 } });
    victim = await tp.newUser('victim');
    attacker = await tp.newUser('mallory');
    const put = await raw(tp.base, 'PUT', `/arc/files/home/${victim.username}/secret.txt`, as(victim), 'the victim’s');
    assert.equal(put.status, 201);
  });
  after(() => cleanups.run());

  it("answers 404 on every route for another user's home, and changes nothing", async () => {
    const home = `/home/${victim.username}`;
    const attempts: [string, string, string?][] = [
      ['GET', `/arc/nodes${home}`],
      ['GET', `/arc/nodes${home}/secret.txt`],
      [
        'PUT',
        `/arc/nodes${home}/planted`,
        '<vos:node xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="vos:ContainerNode"/>',
      ],
      ['POST', `/arc/nodes${home}/secret.txt`, '<vos:node xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0"/>'],
      ['DELETE', `/arc/nodes${home}/secret.txt`],
      ['GET', `/arc/files${home}/secret.txt`],
      ['HEAD', `/arc/files${home}/secret.txt`],
      ['PUT', `/arc/files${home}/secret.txt`, 'overwritten'],
    ];
    for (const [method, url, body] of attempts) {
      const answer = await raw(tp.base, method, url, as(attacker), body);
      assert.equal(answer.status, 404, `${method} ${url}: ${answer.body.toString()}`);
    }
    // Transfers name the node inside their document: the job fails with NodeNotFound.
    const pull = await raw(tp.base, 'POST', '/arc/synctrans', as(attacker), transfer(`vos://cadc.nrc.ca~arc${home}/secret.txt`, 'pullFromVoSpace'));
    assert.equal(pull.status, 303);
    const job = new URL(pull.headers.location!).pathname.replace('/results/transferDetails', '');
    assert.equal((await raw(tp.base, 'GET', `${job}/phase`, as(attacker))).body.toString(), 'ERROR');
    assert.equal((await raw(tp.base, 'GET', `${job}/error`, as(attacker))).body.toString(), 'NodeNotFound');
    const details = await raw(tp.base, 'GET', `${job}/results/transferDetails`, as(attacker));
    assert.doesNotMatch(details.body.toString(), /<vos:endpoint>/, 'no endpoint is handed out');

    const move = await raw(
      tp.base,
      'POST',
      '/arc/transfers',
      as(attacker),
      transfer(`vos://cadc.nrc.ca~arc${home}/secret.txt`, `vos://cadc.nrc.ca~arc/home/${attacker.username}/stolen`, false),
    );
    const moveJob = new URL(move.headers.location!).pathname;
    await raw(tp.base, 'POST', `${moveJob}/phase`, as(attacker, { 'content-type': 'application/x-www-form-urlencoded' }), 'PHASE=RUN');
    assert.equal((await raw(tp.base, 'GET', `${moveJob}/phase`, as(attacker))).body.toString(), 'ERROR');
    // Nor may the victim's own job be read by the attacker.
    assert.equal((await raw(tp.base, 'GET', `${job}/phase`, as(victim))).status, 404);

    const still = await raw(tp.base, 'GET', `/arc/files${home}/secret.txt`, as(victim));
    assert.equal(still.body.toString(), 'the victim’s');
    assert.deepEqual(fs.readdirSync(path.join(tp.dataDir, 'arc', 'home', victim.username)), ['secret.txt']);
    assert.equal((await raw(tp.base, 'GET', `/arc/nodes${home}`, {})).status, 401, 'and nobody unauthenticated');
  });

  it("lets a project's members, and only them, read and write it; access properties are not changed behind POSIX's back", async () => {
    const project = `survey${crypto.randomBytes(3).toString('hex')}`;
    await tp.platform.store.addToGroup(victim.username, project);
    const container =
      '<vos:node xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="vos:ContainerNode"/>';
    assert.equal((await raw(tp.base, 'PUT', `/arc/nodes/projects/${project}`, as(victim), container)).status, 201);
    assert.equal((await raw(tp.base, 'PUT', `/arc/files/projects/${project}/cat.csv`, as(victim), 'ra,dec\n')).status, 201);
    const stat = fs.statSync(path.join(tp.dataDir, 'arc', 'projects', project, 'cat.csv'));
    const group = (await tp.platform.store.findUser(victim.username))!.groups.find((g) => g.name === project)!;
    assert.equal(stat.gid, group.gid, "the project's group owns what its members write");
    for (const [method, url] of [
      ['GET', `/arc/files/projects/${project}/cat.csv`],
      ['PUT', `/arc/files/projects/${project}/planted.csv`],
      ['GET', `/arc/nodes/projects/${project}`],
      ['DELETE', `/arc/nodes/projects/${project}/cat.csv`],
    ] as const) {
      const answer = await raw(tp.base, method, url, as(attacker), method === 'PUT' ? 'x' : undefined);
      assert.equal(answer.status, 403, `${method} ${url}`);
      assert.match(answer.body.toString(), new RegExp(`not a member of project ${project}`));
    }
    const node = (await raw(tp.base, 'GET', `/arc/nodes/projects/${project}/cat.csv`, as(victim))).body.toString();
    assert.match(node, new RegExp(`#groupread" readOnly="false">ivo://cadc.nrc.ca/gms\\?${project}<`));
    // Restating the node (as vcp does) is fine; making it public or another group's (vchmod) is refused.
    assert.equal((await raw(tp.base, 'POST', `/arc/nodes/projects/${project}/cat.csv`, as(victim), node)).status, 200);
    const chmod = node.replace('#ispublic" readOnly="false">false<', '#ispublic" readOnly="false">true<');
    const refused = await raw(tp.base, 'POST', `/arc/nodes/projects/${project}/cat.csv`, as(victim), chmod);
    assert.equal(refused.status, 400);
    assert.match(refused.body.toString(), /ispublic cannot be changed here/);
  });

  it('refuses path tricks with a clear 4xx', async () => {
    const mine = `/home/${attacker.username}`;
    await raw(tp.base, 'PUT', `/arc/files${mine}/ok.txt`, as(attacker), 'x');
    for (const trick of [
      `/arc/files${mine}/../${victim.username}/secret.txt`,
      `/arc/files${mine}/..%2F..%2Fhome%2F${victim.username}%2Fsecret.txt`,
      `/arc/files${mine}%2F..%2F${victim.username}/secret.txt`,
      `/arc/nodes${mine}/%2e%2e/${victim.username}`,
      `/arc/files${mine}/a%00b`,
      '/arc/files/etc/passwd',
    ]) {
      const answer = await raw(tp.base, 'GET', trick, as(attacker));
      assert.ok(answer.status >= 400 && answer.status < 500, `${trick}: ${answer.status}`);
      assert.doesNotMatch(answer.body.toString(), /the victim|root:/, trick);
      assert.match(answer.body.toString(), /^[^\n]+\n$/, `one line: ${trick}`);
    }
  });

  it('does not follow symlinks a session planted in the home', async () => {
    // The worst case: the attacker knows the host's paths (the victim's home as the server sees it).
    const inSession = `/arc/home/${attacker.username}`;
    const script = projectScript(
      tp,
      `ln -s /etc ${inSession}/etc-link; ln -s /etc/passwd ${inSession}/passwd-link; ln -s ${path.join(tp.dataDir, 'arc', 'home', victim.username)} ${inSession}/victim-link`,
    );
    const id = await launch(tp, attacker.token, { name: 'planter', image: HEADLESS_IMAGE, type: 'headless', cmd: '/bin/sh', args: script });
    assert.equal(await tp.waitStatus(attacker.token, id, ['Succeeded', 'Failed'], 120_000), 'Succeeded');
    for (const link of ['etc-link/passwd', 'passwd-link', 'victim-link/secret.txt']) {
      const answer = await raw(tp.base, 'GET', `/arc/files/home/${attacker.username}/${link}`, as(attacker));
      assert.equal(answer.status, 403, `${link}: ${answer.body.toString()}`);
      const put = await raw(tp.base, 'PUT', `/arc/files/home/${attacker.username}/${link.replace(/\/.*/, '')}/planted`, as(attacker), 'x');
      assert.ok(put.status >= 400 && put.status < 500, `PUT through ${link}: ${put.status}`);
    }
    assert.ok(!fs.existsSync('/etc/planted'));
    const listing = (await raw(tp.base, 'GET', `/arc/nodes/home/${attacker.username}`, as(attacker))).body.toString();
    assert.match(listing, /uri="vos:\/\/cadc\.nrc\.ca~arc\/home\/[^"]+\/etc-link" xsi:type="vos:LinkNode"/, 'listed as a link');
  });

  it('keeps no part of a corrupt or over-quota upload, and serves byte ranges with the digest', async () => {
    const mine = `/arc/files/home/${attacker.username}`;
    const corrupt = await raw(tp.base, 'PUT', `${mine}/corrupt.bin`, as(attacker, { digest: md5Digest('something else') }), 'the bytes');
    assert.equal(corrupt.status, 412);
    assert.match(corrupt.body.toString(), /upload corrupted/);
    const tooBig = await raw(tp.base, 'PUT', `${mine}/big.bin`, as(attacker), Buffer.alloc(2 * 1024 * 1024));
    assert.equal(tooBig.status, 507);
    assert.match(tooBig.body.toString(), /quota of 1\.0 MiB would be exceeded; nothing was written/);
    const left = fs.readdirSync(path.join(tp.dataDir, 'arc', 'home', attacker.username));
    assert.ok(!left.some((name) => /corrupt|big|upload/.test(name)), left.join());

    const content = '0123456789';
    const put = await raw(tp.base, 'PUT', `${mine}/digits.txt`, as(attacker, { digest: md5Digest(content) }), content);
    assert.equal(put.status, 201);
    assert.equal(put.headers.digest, md5Digest(content));
    const part = await raw(tp.base, 'GET', `${mine}/digits.txt`, as(attacker, { range: 'bytes=2-5' }));
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), '2345');
    assert.equal(part.headers['content-range'], 'bytes 2-5/10');
    const whole = await raw(tp.base, 'GET', `${mine}/digits.txt`, as(attacker));
    assert.equal(whole.headers.digest, md5Digest(content));
    assert.equal((await raw(tp.base, 'GET', `${mine}/digits.txt`, as(attacker, { range: 'bytes=20-' }))).status, 416);
  });
});
