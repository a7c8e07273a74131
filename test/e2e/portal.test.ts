import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Locator, type Page } from 'playwright-core';
import { accessibilityProblems, ARTIFACTS, launchChromium, logIn, portalContext, screenshot } from '../helpers/browser.js';
import { PORTAL_DIST_DIR } from '../../src/common/paths.js';
import { cleanupList, HEADLESS_IMAGE, randomName, startPlatform, WEB_IMAGE, type TestPlatform } from '../helpers/platform.js';

/**
 * The portal in a real browser (Debian's Chromium through playwright-core) against a real
 * `skaha serve` with real Podman containers: log in through the UI, launch from the form, watch
 * it start, connect through the proxy, renew, read logs and events, run a job, manage tokens,
 * delete; another user sees none of it; an administrator sees it all; CSRF-less posts fail.
 * Screenshots of each page go to test-artifacts/portal/.
 */

const SHOTS = path.join(ARTIFACTS, 'portal');
const START_TIMEOUT = 120_000;
const shot = (page: Page, name: string, fullPage = true) => screenshot(page, SHOTS, name, fullPage);
const newContext = (browser: Browser, tp: TestPlatform, errors: string[]) => portalContext(browser, tp.base, errors);
/** No serious or critical WCAG 2.1 AA problem on the page, as axe-core finds them. */
const accessible = async (page: Page, where: string) => assert.deepEqual(await accessibilityProblems(page), [], `axe-core: ${where}`);

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
const row = (page: Page, name: string): Locator =>
  page.locator('tr[data-session-id]', { has: page.locator('.session-name', { hasText: new RegExp(`^${name}$`) }) });

describe('the portal, in a browser, on a real platform', () => {
  const cleanups = cleanupList();
  let browser: Browser | undefined;

  before(async () => {
    assert.ok(fs.existsSync(path.join(PORTAL_DIST_DIR, 'index.html')), 'the portal is not built: run `npm run build` first');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await cleanups.run();
  });

  it('logs in, launches, connects, renews, runs a job, manages tokens and deletes; others see none of it', { timeout: 420_000 }, async () => {
    const tp = await startPlatform(cleanups.add);
    const password = `pw-${randomName()}`;
    const alice = await tp.newUser('wa');
    const bob = await tp.newUser('wb');
    const carol = await tp.newUser('wc');
    for (const u of [alice, bob, carol]) await tp.platform.store.setPassword(u.username, password);
    await tp.platform.store.addToGroup(carol.username, 'skaha-admins');
    const errors: string[] = [];
    const { context, page } = await newContext(browser!, tp, errors);

    // --- log in: the portal's own screen; a wrong password is the server's page saying so ---
    await page.goto('/');
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    assert.equal(await page.locator('form[action="/login"] input[name="next"]').inputValue(), '/');
    await shot(page, 'login', false);
    await accessible(page, 'login');
    await page.getByLabel('Username').fill(alice.username);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await page.getByText('Wrong username or password.').waitFor();
    // The same login card, styled by the portal's stylesheet, the username kept, no operator hints.
    assert.equal(await page.getByLabel('Username').inputValue(), alice.username);
    assert.ok(await page.locator('.login-card .notice--error[role=alert]').isVisible());
    assert.match(await page.locator('.login-card').evaluate((el) => getComputedStyle(el).backgroundColor), /rgb/);
    assert.doesNotMatch(await page.locator('body').innerText(), /skaha admin/);
    await shot(page, 'login-failed', false);
    await page.getByLabel('Password').fill(password);
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.getByRole('button', { name: 'Log in', exact: true }).click()]);
    await page.getByRole('button', { name: 'Log out' }).waitFor();

    // --- the empty list ------------------------------------------------------------------------
    await page.getByRole('heading', { name: 'Sessions', level: 1 }).waitFor();
    await page.getByRole('heading', { name: 'No sessions yet' }).waitFor();
    assert.equal(await nav(page, 'Admin').count(), 0, 'no Admin link for a user who is not an administrator');
    await shot(page, 'sessions-empty', false);
    await accessible(page, 'sessions-empty');

    // --- the launch form: validation, then a contributed web app --------------------------------
    await nav(page, 'Launch').click();
    await page.getByRole('heading', { name: 'Launch a session' }).waitFor();
    const context0 = JSON.parse((await tp.request('GET', '/skaha/v0/context', { token: alice.token })).body) as { cores: { default: number } };
    assert.equal(await page.getByLabel('CPU cores').inputValue(), String(context0.cores.default), 'cores default from /context');
    await page.getByRole('radio', { name: /^Contributed/ }).check();
    await page.getByLabel('Search images').fill('webapp 1.0');
    const image = page.getByLabel('Image', { exact: true });
    assert.deepEqual(await image.locator('option').allTextContents(), ['webapp:1.0 (latest)'], 'the search narrows the images; :latest is the same image');
    assert.equal(await image.locator('optgroup').getAttribute('label'), 'skaha', 'grouped by project');
    await image.selectOption(WEB_IMAGE);
    assert.match(await page.locator('#image-about').innerText(), /skaha-webapp: Stand-in web app/, "the chosen image's OCI title and description");
    const name = page.getByLabel('Name', { exact: true });
    assert.equal(await name.inputValue(), 'webapp', 'a name is suggested from the image');
    await name.fill('bad name!');
    await page.getByRole('button', { name: 'Launch web app' }).click();
    await page.getByText("A name can only contain letters, digits and '-'.").first().waitFor();
    assert.equal(await name.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'name', 'the first wrong field has the focus');
    await name.fill('web1');
    await page.getByLabel('CPU cores').selectOption('1');
    await page.getByLabel('Memory').selectOption('2');
    await shot(page, 'launch');
    await accessible(page, 'launch');
    await page.getByRole('button', { name: 'Launch web app' }).click();

    // --- it is listed at once, with its progress, and becomes Running ---------------------------
    await page.waitForURL((u) => u.pathname === '/');
    const web = row(page, 'web1');
    await web.waitFor({ timeout: 3000 });
    const progress = page.getByTestId('launch-progress');
    await progress.waitFor({ timeout: 3000 });
    await shot(page, 'launch-progress', false);
    await web.locator('.status', { hasText: 'Running' }).waitFor({ timeout: START_TIMEOUT });
    await progress.getByRole('heading', { name: 'web1 is ready' }).waitFor();
    const id = (await web.getAttribute('data-session-id'))!;
    assert.match(id, /^[a-z][a-z0-9]{7}$/);
    assert.match((await web.textContent()) ?? '', /1 core · 2 GiB/);
    await shot(page, 'sessions', false);
    await accessible(page, 'sessions');

    // --- connect: a new tab, through the proxy, to the app running as alice ---------------------
    const [app] = await Promise.all([context.waitForEvent('page'), web.getByRole('link', { name: 'Connect to web1 (opens a new tab)' }).click()]);
    await app.locator('#user').waitFor({ timeout: 60_000 });
    assert.equal(await app.locator('#user').textContent(), alice.username, 'the web app runs as its owner, reached with the login cookie');
    assert.equal(new URL(app.url()).pathname, `/session/contrib/${id}/`);
    await shot(app, 'webapp', false);
    await app.close();

    // --- renew --------------------------------------------------------------------------------
    const expiry = async () =>
      (JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token })).body) as { expiryTime: string }).expiryTime;
    const before = await expiry();
    await new Promise((r) => setTimeout(r, 1100)); // expiry has second precision
    await web.getByRole('button', { name: 'Renew web1' }).click();
    await page
      .getByRole('status')
      .getByText(/^Renewed web1: it now expires in 3 d 23 h|^Renewed web1: it now expires in 4 d/)
      .waitFor();
    assert.ok(Date.parse(await expiry()) > Date.parse(before), 'the expiry moved on');

    // --- logs and events in the details panel ---------------------------------------------------
    await web.getByRole('button', { name: 'Details of web1' }).click();
    const details = page.locator('#session-details');
    await details.getByRole('tab', { name: 'Logs', selected: true }).waitFor();
    const tabpanel = details.getByRole('tabpanel');
    await tabpanel.locator('pre.log, p.muted').first().waitFor();
    const logs = (await tp.request('GET', `/skaha/v0/session/${id}?view=logs`, { token: alice.token })).body;
    await details.getByRole('button', { name: 'Refresh logs' }).click(); // logs only grow: now at least these
    if (logs.trim()) await tabpanel.locator('pre.log', { hasText: logs.trim().split('\n')[0]! }).waitFor();
    else await tabpanel.locator('pre.log, p.muted').first().waitFor();
    await details.getByRole('tab', { name: 'Events' }).click();
    await details.getByRole('tab', { name: 'Events', selected: true }).waitFor();
    await tabpanel
      .locator('table.events-table td', { hasText: /^Started$/ })
      .first()
      .waitFor();
    await shot(page, 'session-details');
    await accessible(page, 'session-details');
    await details.getByRole('button', { name: 'Close details of web1' }).click();

    // --- a headless job with a command and environment lines -------------------------------------
    await nav(page, 'Launch').click();
    await page.getByRole('radio', { name: /^Headless job/ }).check();
    await page.getByLabel('Image', { exact: true }).selectOption(HEADLESS_IMAGE);
    await page.getByLabel('Name', { exact: true }).fill('job1');
    await page.getByLabel('Command', { exact: true }).fill('env');
    await page.getByLabel('Environment', { exact: true }).fill('GREETING=hello-portal\noops');
    await page.getByRole('button', { name: 'Run headless job' }).click();
    await page.getByText('Line 2: write NAME=value.').first().waitFor();
    await page.getByLabel('Environment', { exact: true }).fill('GREETING=hello-portal\nOTHER=two');
    await shot(page, 'launch-headless');
    await page.getByRole('button', { name: 'Run headless job' }).click();
    await page.waitForURL((u) => u.pathname === '/');
    const job = row(page, 'job1');
    await job.locator('.status', { hasText: 'Succeeded' }).waitFor({ timeout: START_TIMEOUT });
    await page.getByTestId('launch-progress').getByRole('heading', { name: 'job1 finished' }).waitFor();
    assert.equal(await job.getByRole('link', { name: /Connect/ }).count(), 0, 'a job has nothing to connect to');
    await job.getByRole('button', { name: 'Details of job1' }).click();
    await page.locator('#session-details pre.log', { hasText: 'GREETING=hello-portal' }).waitFor();
    assert.match((await page.locator('#session-details pre.log').textContent()) ?? '', /OTHER=two/);
    // When it ended, how long it ran, its exit code.
    assert.match((await page.locator('#session-details .finished-summary').textContent({ timeout: 10_000 })) ?? '', /^Finished .+ · ran \d+ s · exit code 0$/);
    await shot(page, 'sessions-job');
    // The list fits a laptop's screen: no row's actions hide behind a sideways scroll.
    const hidden = await page.locator('.sessions-table').evaluate((t) => t.parentElement!.scrollWidth - t.parentElement!.clientWidth);
    assert.ok(hidden <= 0, `the sessions table scrolls ${hidden} px sideways at 1280 px`);

    // --- CSRF: the cookie alone changes nothing ---------------------------------------------------
    const noHeader = await page.request.post('/skaha/v0/session', { form: { name: 'csrf', image: WEB_IMAGE, type: 'contributed' } });
    assert.equal(noHeader.status(), 403, 'a POST with the cookie but no X-CSRF-Token is refused');
    assert.match(await noHeader.text(), /CSRF/);
    const noHeaderDelete = await page.request.delete(`/skaha/v0/session/${id}`);
    assert.equal(noHeaderDelete.status(), 403);
    const csrfToken = ((await (await page.request.get('/auth/session')).json()) as { csrfToken: string }).csrfToken;
    const crossSite = await page.request.post('/skaha/v0/session', {
      form: { name: 'csrf', image: WEB_IMAGE, type: 'contributed' },
      headers: { 'x-csrf-token': csrfToken, origin: 'http://evil.example' },
    });
    assert.equal(crossSite.status(), 403, 'even with the token, from another site is refused');
    const mine = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token: alice.token })).body) as Array<{ name: string }>;
    assert.deepEqual(mine.map((s) => s.name).sort(), ['job1', 'web1'], 'nothing was launched or deleted by those');

    // --- another user sees none of alice's sessions ---------------------------------------------
    const b = await newContext(browser!, tp, errors);
    await logIn(b.page, bob.username, password);
    await b.page.getByRole('heading', { name: 'No sessions yet' }).waitFor();
    assert.equal(await b.page.getByText('web1').count(), 0);
    assert.equal((await b.page.request.get(`/skaha/v0/session/${id}`)).status(), 404);
    await b.page.goto('/admin');
    await b.page.getByText("This page is for the platform's administrators").waitFor();
    await b.context.close();

    // --- an administrator sees the platform ------------------------------------------------------
    const c = await newContext(browser!, tp, errors);
    await logIn(c.page, carol.username, password);
    await nav(c.page, 'Admin').click();
    await c.page.getByRole('heading', { name: 'All sessions' }).waitFor();
    await c.page.locator('td', { hasText: alice.username }).first().waitFor();
    assert.ok((await c.page.locator('.stat-card').count()) >= 3);
    await shot(c.page, 'admin');
    await accessible(c.page, 'admin');
    await c.context.close();

    // --- account: a token, shown once, that works, then revoked ---------------------------------
    await nav(page, 'Account').click();
    await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByText('Give the token a name, to recognise it later.').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('ci');
    await page.getByLabel('Expires after (days)').fill('30');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByLabel('The new token', { exact: true }).inputValue();
    assert.match(secret, /^skt_/);
    await page.getByText('Examples with this token').click();
    const origin = new URL(tp.base).origin;
    assert.ok(
      (await page.locator('.new-token pre').first().textContent())?.includes(`curl -H "Authorization: Bearer ${secret}" ${origin}/skaha/v0/session`),
      'a copyable curl example for this site',
    );
    await page.locator('tr[data-token-id]', { hasText: 'ci' }).waitFor();
    await shot(page, 'account');
    await accessible(page, 'account');
    const withToken = await fetch(`${tp.base}/skaha/v0/session`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(withToken.status, 200, 'the new token works');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    assert.equal(await page.getByLabel('The new token', { exact: true }).count(), 0, 'the secret is gone from the page');
    await page.getByRole('button', { name: 'Revoke ci' }).click();
    await page.getByRole('dialog', { name: 'Revoke the token ci?' }).getByRole('button', { name: 'Revoke token' }).click();
    await page.getByRole('status').getByText('Revoked the token ci').waitFor();
    assert.equal((await fetch(`${tp.base}/skaha/v0/session`, { headers: { authorization: `Bearer ${secret}` } })).status, 401, 'revoked at once');

    // --- delete, with a confirmation --------------------------------------------------------------
    await nav(page, 'Sessions').click();
    await web.getByRole('button', { name: 'Delete web1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete web1?' });
    await dialog.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel', 'the safe choice has the focus');
    await shot(page, 'delete-confirm', false);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token })).status, 200, 'Escape cancels');
    await web.getByRole('button', { name: 'Delete web1' }).click();
    await dialog.getByRole('button', { name: 'Delete session' }).click();
    await page.getByRole('status').getByText('Deleted web1.').waitFor();
    await web.waitFor({ state: 'detached', timeout: 60_000 });
    assert.equal((await tp.request('GET', `/skaha/v0/session/${id}`, { token: alice.token })).status, 404);

    // --- a narrower laptop screen still shows the list ------------------------------------------
    await page.setViewportSize({ width: 1024, height: 700 });
    await shot(page, 'sessions-1024', false);

    // --- log out -----------------------------------------------------------------------------------
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL((u) => u.pathname === '/login');
    await page.goto('/');
    await page.getByRole('heading', { name: 'Log in' }).waitFor();

    await context.close();
    assert.deepEqual(errors, [], 'no uncaught errors in the pages');
  });
});
