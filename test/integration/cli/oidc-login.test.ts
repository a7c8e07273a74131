import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../../helpers/browser.js';
import { decodeJwt } from 'jose';
import { AUDIENCE, CLI_CLIENT_ID, freePort, startIssuer, USER_GROUPS, type TestIssuer } from '../../helpers/oidc-issuer.js';
import { cleanupList, randomName, startPlatform, type TestPlatform } from '../../helpers/platform.js';

/** The CLI from source, so the test never runs a stale build. */
const CLI = ['--import', 'tsx', path.resolve('src/cli/main.ts')];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running `skaha ...`: its output so far, a wait for a line of it, and its exit. */
interface Running {
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  done: Promise<Run>;
}

interface StoredContext {
  url: string;
  auth: string;
  token: string;
  oidc: { issuer: string; clientId: string; resource?: string; refreshToken?: string; expiresAtMs?: number };
}

describe('skaha login --oidc: device and browser flows against a real issuer, and token refresh', () => {
  let tp: TestPlatform; // OIDC with a 300 s access token
  let shortTp: TestPlatform; // OIDC with a 4 s access token: every command refreshes
  let plain: TestPlatform; // no OIDC
  let issuer: TestIssuer;
  let shortIssuer: TestIssuer;
  let browser: Browser;
  const homes: string[] = [];
  const cleanups = cleanupList();

  before(async () => {
    const [port, shortPort] = [await freePort(), await freePort()];
    const oidc = (p: number) => ({
      oidc: {
        issuer: `http://127.0.0.1:${p}`,
        audience: AUDIENCE,
        clientId: 'skaha',
        clientSecret: 'test-secret',
        cliClientId: CLI_CLIENT_ID,
        clockToleranceSeconds: 0,
      },
    });
    tp = await startPlatform(cleanups.add, oidc(port));
    shortTp = await startPlatform(cleanups.add, oidc(shortPort));
    plain = await startPlatform(cleanups.add);
    issuer = await startIssuer({ port, redirectUri: `${tp.base}/login/oidc/callback` });
    shortIssuer = await startIssuer({ port: shortPort, accessTokenTtlSeconds: 4 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await cleanups.run();
    for (const i of [issuer, shortIssuer]) await i?.close();
    for (const home of homes) fs.rmSync(home, { recursive: true, force: true });
  });

  /** A fresh $XDG_CONFIG_HOME, so each test starts with no contexts. */
  function configHome(): { home: string; file: string } {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-oidc-cli-'));
    homes.push(home);
    return { home, file: path.join(home, 'skaha', 'config.json') };
  }

  /** Start `skaha ...` with no terminal, no SKAHA_URL/SKAHA_TOKEN, and no desktop to open a browser on. */
  function start(home: string, args: string[]): Running {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: home, NO_COLOR: '1' };
    for (const k of ['SKAHA_URL', 'SKAHA_TOKEN', 'SKAHA_CERTIFICATE', 'DISPLAY', 'WAYLAND_DISPLAY']) delete env[k];
    const child = spawn(process.execPath, [...CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const done = new Promise<Run>((resolve) =>
      child.on('close', (code) => {
        clearTimeout(kill);
        resolve({ code: code ?? -1, stdout, stderr });
      }),
    );
    let exited = false;
    void done.then(() => (exited = true));
    return {
      output: () => stdout + stderr,
      done,
      async waitFor(pattern, timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const m = pattern.exec(stdout + stderr);
          if (m) return m;
          if (exited || Date.now() > deadline) throw new Error(`no ${pattern} in the CLI's output: ${stdout}${stderr}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
    };
  }

  const skaha = (home: string, args: string[]) => start(home, args).done;

  /** The issuer's development login (any password) and consent pages, as a person clicks through them. */
  async function signIn(page: Page, username: string, until: (page: Page) => Promise<boolean>): Promise<void> {
    for (let step = 0; step < 6 && !(await until(page)); step++) {
      if (await page.locator('input[name=login]').count()) {
        await page.fill('input[name=login]', username);
        await page.fill('input[name=password]', 'anything');
      }
      // The device confirmation ("Continue"), the login form and the consent form.
      await Promise.all([page.waitForNavigation(), page.locator('button[type=submit]').first().click()]);
    }
    assert.ok(await until(page), `the sign-in did not finish: ${page.url()} ${await page.locator('body').innerText()}`);
  }

  /** Device flow (RFC 8628): read the code from the CLI, enter it at the verification URI in Chromium. */
  async function deviceLogin(home: string, base: string, username: string): Promise<Run> {
    const cli = start(home, ['login', base, '--oidc', '--device']);
    const [, uri, code] = await cli.waitFor(/open (http\S+) in a browser and enter the code ([A-Z0-9-]+)/);
    const page = await browser.newPage();
    try {
      await page.goto(uri!);
      await page.fill('input[name=user_code]', code!);
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      await signIn(page, username, async (p) => /Sign-in Success/.test(await p.title()));
    } finally {
      await page.close();
    }
    return cli.done;
  }

  const stored = (file: string, name: string) => (JSON.parse(fs.readFileSync(file, 'utf8')) as { contexts: Record<string, StoredContext> }).contexts[name]!;
  const contextName = (base: string) => new URL(base).host;
  const whoami = async (p: TestPlatform, token: string) => p.request('GET', '/auth/session', { token });

  it('offers the issuer, the public client, the audience and the scopes at GET /auth/oidc, without credentials', async () => {
    const r = await tp.request('GET', '/auth/oidc');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), {
      issuer: issuer.issuer,
      clientId: CLI_CLIENT_ID,
      audience: AUDIENCE,
      scopes: ['openid', 'profile', 'offline_access'],
    });
    assert.ok(!r.body.includes('test-secret'), "never the server's client secret");
    const none = await plain.request('GET', '/auth/oidc');
    assert.deepEqual(
      [none.status, none.headers.get('content-type'), none.body],
      [404, 'text/plain; charset=utf-8', 'OIDC login is not configured on this server\n'],
    );
    // The rest of /auth still needs a credential.
    assert.equal((await tp.request('GET', '/auth/session')).status, 401);
    const doc = JSON.parse((await tp.request('GET', '/skaha/openapi.json')).body) as { paths: Record<string, { get?: { security?: unknown[] } }> };
    assert.deepEqual(doc.paths['/auth/oidc']?.get?.security, [], 'in the OpenAPI document, as needing no credential');
  });

  it('logs in with the device flow (code entered in Chromium), then commands run as that user', async () => {
    const { home, file } = configHome();
    const username = randomName('dev');
    const login = await deviceLogin(home, tp.base, username);
    assert.equal(login.code, 0, login.stderr);
    assert.match(
      login.stdout,
      new RegExp(
        `^logged in to ${tp.base} \\(v0\\) as ${username} through 127\\.0\\.0\\.1:\\d+ \\(device flow\\); context '${contextName(tp.base)}' saved in ${file}$`,
        'm',
      ),
    );
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const ctx = stored(file, contextName(tp.base));
    assert.equal(ctx.auth, 'oidc');
    assert.deepEqual([ctx.oidc.issuer, ctx.oidc.clientId, ctx.oidc.resource], [issuer.issuer, CLI_CLIENT_ID, AUDIENCE]);
    assert.ok(ctx.oidc.refreshToken, 'a refresh token (offline_access)');
    assert.ok(ctx.oidc.expiresAtMs! > Date.now() + 200_000, 'the expiry of a 300 s token');
    const claims = decodeJwt(ctx.token);
    assert.deepEqual([claims.preferred_username, claims.aud, claims.client_id], [username, AUDIENCE, CLI_CLIENT_ID]);

    const ps = await skaha(home, ['ps', '--json']);
    assert.equal(ps.code, 0, ps.stderr);
    assert.deepEqual(JSON.parse(ps.stdout), [], 'a new user has no sessions');
    const me = JSON.parse((await whoami(tp, ctx.token)).body) as { username: string; method: string; groups: string[] };
    assert.deepEqual([me.username, me.method, [...me.groups].sort()], [username, 'oidc', USER_GROUPS]);
    assert.equal(stored(file, contextName(tp.base)).token, ctx.token, 'a valid token is not refreshed');

    const shown = await skaha(home, ['config', 'show']);
    assert.match(shown.stdout, new RegExp(`^\\* ${contextName(tp.base)} +${tp.base} +v0 +oidc ${issuer.issuer}, token expires in 4 min`, 'm'));
    const json = (await skaha(home, ['config', 'show', '--json'])).stdout;
    assert.ok(!json.includes(ctx.token) && !json.includes(ctx.oidc.refreshToken!), 'tokens are masked');
  });

  it('logs in with the browser flow: PKCE on a loopback redirect, followed in Chromium', async () => {
    const { home, file } = configHome();
    const username = randomName('web');
    const cli = start(home, ['login', tp.base, '--oidc', '--browser', '--no-open', '--name', 'web']);
    const [, url] = await cli.waitFor(/open this URL in a browser on this machine:\n {2}(\S+)\n/);
    const auth = new URL(url!);
    assert.equal(auth.origin, issuer.issuer);
    assert.equal(auth.searchParams.get('client_id'), CLI_CLIENT_ID);
    assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
    assert.match(auth.searchParams.get('redirect_uri')!, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    assert.equal(auth.searchParams.get('prompt'), 'consent', 'offline_access needs consent (OIDC Core §11)');
    const page = await browser.newPage();
    try {
      await page.goto(url!);
      await signIn(page, username, async (p) => p.url().startsWith(auth.searchParams.get('redirect_uri')!));
      assert.match(await page.locator('body').innerText(), /skaha is logged in/);
    } finally {
      await page.close();
    }
    const login = await cli.done;
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, new RegExp(`as ${username} through 127\\.0\\.0\\.1:\\d+ \\(browser flow\\); context 'web' saved`));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const ctx = stored(file, 'web');
    assert.ok(ctx.oidc.refreshToken);
    assert.equal(decodeJwt(ctx.token).preferred_username, username);
    const ps = await skaha(home, ['ps', '--json']);
    assert.deepEqual([ps.code, ps.stdout.trim()], [0, '[]'], ps.stderr);
  });

  it('refreshes an expired access token before a command (and on a 401), saving the new tokens 0600', async () => {
    const { home, file } = configHome();
    const username = randomName('ref');
    const name = contextName(shortTp.base);
    assert.equal((await deviceLogin(home, shortTp.base, username)).code, 0);
    const first = stored(file, name);

    // Wait until the server itself refuses the first access token: the next command must refresh.
    await new Promise((r) => setTimeout(r, Math.max(0, first.oidc.expiresAtMs! - Date.now()) + 1500));
    assert.equal((await whoami(shortTp, first.token)).status, 401, 'the first token has expired');
    const ps = await skaha(home, ['ps', '--json']);
    assert.equal(ps.code, 0, ps.stderr);
    const second = stored(file, name);
    assert.notEqual(second.token, first.token, 'a new access token is saved');
    assert.notEqual(second.oidc.refreshToken, first.oidc.refreshToken, 'and the rotated refresh token');
    assert.ok(second.oidc.expiresAtMs! > first.oidc.expiresAtMs!);
    assert.equal(decodeJwt(second.token).preferred_username, username);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.ok(!fs.existsSync(`${file}.lock`), 'the lock is released');

    // A token the file says is valid but the server refuses (a skewed clock): refreshed on the 401.
    await new Promise((r) => setTimeout(r, Math.max(0, second.oidc.expiresAtMs! - Date.now()) + 1500));
    const settings = JSON.parse(fs.readFileSync(file, 'utf8')) as { contexts: Record<string, StoredContext> };
    settings.contexts[name]!.oidc.expiresAtMs = Date.now() + 3600_000;
    fs.writeFileSync(file, JSON.stringify(settings));
    const retried = await skaha(home, ['ps', '--json']);
    assert.equal(retried.code, 0, retried.stderr);
    const third = stored(file, name);
    assert.ok(third.token !== second.token && third.oidc.refreshToken !== second.oidc.refreshToken);
    assert.equal((await whoami(shortTp, third.token)).status, 200);

    // A refresh token the issuer no longer honours (here: already spent) ends in one line, exit 1.
    await new Promise((r) => setTimeout(r, Math.max(0, third.oidc.expiresAtMs! - Date.now()) + 500));
    settings.contexts[name] = { ...third, oidc: { ...third.oidc, refreshToken: first.oidc.refreshToken! } };
    fs.writeFileSync(file, JSON.stringify(settings), { mode: 0o600 });
    const expired = await skaha(home, ['ps']);
    assert.deepEqual([expired.code, expired.stderr], [1, 'skaha: session expired: run skaha login again\n']);
  });

  it('says in one line, exit 1, when the server offers no OIDC login', async () => {
    const { home, file } = configHome();
    const r = await skaha(home, ['login', plain.base, '--oidc', '--device']);
    assert.deepEqual([r.code, r.stderr, r.stdout], [1, 'skaha: OIDC login is not configured on this server\n', '']);
    assert.ok(!fs.existsSync(file), 'nothing saved');
    const usage = await skaha(home, ['login', tp.base, '--device', '--browser']);
    assert.equal(usage.code, 2, 'one flow at a time');
  });
});
