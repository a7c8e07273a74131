import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { issueProxyCert, issueUserCert, proxyPem, type Issued } from '../../../src/auth/x509/pki.js';
import { cleanupList, HEADLESS_IMAGE, launch, projectScript, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { freePort } from '../../helpers/ports.js';
import { writePlatformTls } from '../../helpers/tls.js';

const venv = process.env.PYTHON_CLIENT_VENV ?? '/var/cache/skaha-test/python-client';
const run = promisify(execFile);

/**
 * Issue 19: CADC's own `vos` tools (PyPI vos, unmodified) against the storage service, over the
 * HTTPS listener with a bearer token and with an X.509 proxy certificate, on the same tree a
 * running session sees: what vos uploads is the user's inside the session, what the session
 * writes vos lists and downloads.
 */
describe('the vos tools (PyPI vos) work against /arc unchanged', () => {
  const cleanups = cleanupList();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-vos-'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-vos-client-'));
  let tp: TestPlatform;
  let ca: Issued;
  let user: { username: string; token: string };
  let env: NodeJS.ProcessEnv;

  /** Run one vos command; `auth`: the token, or the certificate at ~/.ssl/cadcproxy.pem. */
  const vos = async (command: string, args: string[], auth: 'token' | 'cert' = 'token') => {
    const credential = auth === 'token' ? ['--token', user.token] : ['--certfile', path.join(work, '.ssl', 'cadcproxy.pem')];
    // -k: the test platform's CA is not in the client's trust store (certifi).
    const { stdout } = await run(path.join(venv, 'bin', command), ['-k', ...credential, ...args], { env, cwd: work, timeout: 120_000 });
    return stdout;
  };

  before(async () => {
    ca = writePlatformTls(dataDir);
    tp = await startPlatform(cleanups.add, { tls: { port: await freePort() } }, { dataDir });
    user = await tp.newUser('vos');
    const userCert = issueUserCert(ca, user.username);
    fs.mkdirSync(path.join(work, '.ssl'));
    fs.writeFileSync(path.join(work, '.ssl', 'cadcproxy.pem'), proxyPem(issueProxyCert(userCert), [userCert.certPem]), { mode: 0o600 });
    // vos finds the service through the registry at VOSPACE_WEBSERVICE (docs/storage.md).
    env = { ...process.env, HOME: work, VOSPACE_WEBSERVICE: new URL(tp.platform.tlsUrl()!).host };
  });
  after(async () => {
    await cleanups.run();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('vmkdir, vcp both ways (small and over 5 MiB), vls, vmv, vrm, with a token', async () => {
    const home = `arc:home/${user.username}`;
    fs.writeFileSync(path.join(work, 'small.txt'), 'hello from vos\n');
    const big = crypto.randomBytes(6 * 1024 * 1024 + 123);
    fs.writeFileSync(path.join(work, 'big.bin'), big);

    await vos('vmkdir', [`${home}/data`]);
    await vos('vcp', [path.join(work, 'small.txt'), `${home}/data/`]);
    await vos('vcp', [path.join(work, 'big.bin'), `${home}/data/big.bin`]);
    assert.deepEqual((await vos('vls', [`${home}/data`])).trim().split('\n'), ['big.bin', 'small.txt']);
    const long = await vos('vls', ['-l', `${home}/data`]);
    assert.match(long, new RegExp(`${user.username}\\s.*\\s${big.length}\\s.*big\\.bin`));

    await vos('vcp', [`${home}/data/big.bin`, path.join(work, 'big.back')]);
    assert.ok(fs.readFileSync(path.join(work, 'big.back')).equals(big), 'the bytes come back as they went');

    await vos('vmv', [`${home}/data/small.txt`, `${home}/moved.txt`]);
    assert.deepEqual((await vos('vls', [home])).trim().split('\n'), ['data', 'moved.txt']);
    await vos('vrm', [`${home}/moved.txt`]);
    assert.deepEqual((await vos('vls', [home])).trim().split('\n'), ['data']);

    // What the platform's storage holds: the user's own uid, as a session writes.
    const uid = (await tp.platform.store.findUser(user.username))!.uid;
    assert.equal(fs.statSync(path.join(dataDir, 'arc', 'home', user.username, 'data', 'big.bin')).uid, uid);
  });

  it('vls, vcat and vcp with an X.509 proxy certificate', async () => {
    const home = `arc:home/${user.username}`;
    fs.writeFileSync(path.join(work, 'cert.txt'), 'sent with a certificate\n');
    await vos('vcp', [path.join(work, 'cert.txt'), `${home}/cert.txt`], 'cert');
    assert.match(await vos('vls', [home], 'cert'), /^cert\.txt$/m);
    // vcat takes no --token (vos 3.7): only the certificate. It writes two newlines after the file.
    const { stdout } = await run(path.join(venv, 'bin', 'vcat'), ['-k', '--certfile', path.join(work, '.ssl', 'cadcproxy.pem'), `${home}/cert.txt`], {
      env,
      timeout: 60_000,
    });
    assert.equal(stdout, 'sent with a certificate\n\n\n');
  });

  it('shares one tree with sessions: a job sees what vos uploaded as the user, vos gets what the job wrote', async () => {
    const home = `arc:home/${user.username}`;
    fs.writeFileSync(path.join(work, 'input.txt'), 'input for the job\n');
    await vos('vcp', [path.join(work, 'input.txt'), `${home}/input.txt`]);
    const inSession = `/arc/home/${user.username}`;
    const script = projectScript(
      tp,
      `stat -c 'owner=%u' ${inSession}/input.txt; cat ${inSession}/input.txt; echo "written by uid $(id -u)" > ${inSession}/output.txt`,
    );
    const id = await launch(tp, user.token, { name: 'vosjob', image: HEADLESS_IMAGE, type: 'headless', cmd: '/bin/sh', args: script });
    assert.equal(await tp.waitStatus(user.token, id, ['Succeeded', 'Failed'], 120_000), 'Succeeded');
    const logs = (await tp.request('GET', `/skaha/v0/session/${id}`, { token: user.token, query: { view: 'logs' } })).body;
    const uid = (await tp.platform.store.findUser(user.username))!.uid;
    assert.match(logs, new RegExp(`^owner=${uid}$`, 'm'));
    assert.match(logs, /^input for the job$/m);

    assert.match(await vos('vls', [home]), /^output\.txt$/m);
    await vos('vcp', [`${home}/output.txt`, path.join(work, 'output.txt')]);
    assert.equal(fs.readFileSync(path.join(work, 'output.txt'), 'utf8'), `written by uid ${uid}\n`);
  });
});
