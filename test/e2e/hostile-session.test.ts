import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { buildFixture } from '../helpers/images.js';
import { cleanupList, engine, launch, startPlatform, WEB_IMAGE, type TestPlatform } from '../helpers/platform.js';
import { openThroughProxy } from '../helpers/sessions.js';

const HOSTILE_IMAGE = 'images.canfar.net/skaha-test/hostile:1.0';

/**
 * Issue 15, as an attacker would do it: a contributed web app (an image anyone can publish)
 * whose page, opened by its owner in a real Chromium, tries to act as that owner on the platform
 * (test/fixtures/hostile/index.html). Every attack must fail, and the owner's portal still work.
 */
describe('in a browser: a hostile session page cannot act as its owner', () => {
  let tp: TestPlatform;
  let browser: Browser;
  const cleanups = cleanupList();
  before(async () => {
    await buildFixture(engine(), HOSTILE_IMAGE, 'hostile');
    tp = await startPlatform(cleanups.add);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await cleanups.run();
    await engine()
      .getImage(HOSTILE_IMAGE)
      .remove({ force: true })
      .catch(() => undefined);
  });

  it('reads nothing of the portal, mints nothing, launches nothing, plants nothing, reaches no other session', async () => {
    const { username, token } = await tp.newUser('victim');
    await tp.platform.store.setPassword(username, 'victim password');
    const hostile = await launch(tp, token, { name: 'hostile', image: HOSTILE_IMAGE, type: 'contributed' });
    const other = await launch(tp, token, { name: 'other', image: WEB_IMAGE, type: 'contributed' });
    for (const id of [hostile, other]) assert.equal((await openThroughProxy(tp, `/session/contrib/${id}/`, { authorization: `Bearer ${token}` })).status, 200);
    const connectOf = async (id: string) => JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token })).body).connectURL as string;
    const tokensBefore = (await tp.platform.store.listTokens(username)).length;

    // The owner logs in to the portal, then opens the hostile session as they would.
    const context = await browser.newContext();
    const portal = await context.newPage();
    await portal.goto(`${tp.base}/login`);
    await portal.getByLabel('Username').fill(username);
    await portal.getByLabel('Password').fill('victim password');
    await portal.click('button[type=submit]');
    await portal.waitForURL((u) => u.pathname === '/');
    const loginCookie = (await context.cookies(tp.base)).find((c) => c.name === 'skaha_login')!;
    assert.ok(loginCookie, 'logged in');

    const page = await context.newPage();
    const url = new URL(await connectOf(hostile));
    url.searchParams.set('portal', tp.base);
    url.searchParams.set('other', await connectOf(other));
    await page.goto(url.toString());
    await page.waitForFunction(() => document.getElementById('results')?.textContent !== 'running', undefined, { timeout: 30_000 });
    const results = JSON.parse((await page.textContent('#results'))!) as Record<string, string>;
    assert.equal(new URL(page.url()).host, url.host, `the page ran on the session's own origin: ${page.url()}`);

    assert.match(results.readPortalSession!, /^blocked/, `reading /auth/session: ${results.readPortalSession}`);
    assert.equal(results.readOwnOriginSession, 'status 404', "the portal's routes are not on the session's origin");
    assert.match(results.listSessions!, /^blocked/, `the API: ${results.listSessions}`);
    assert.match(results.otherSession!, /^blocked/, `another session: ${results.otherSession}`);
    assert.doesNotMatch(results.framePortal!, /^read/, `framing the portal: ${results.framePortal}`);
    assert.doesNotMatch(results.serviceWorker!, /registered for http:\/\/127\.0\.0\.1/, results.serviceWorker);

    // What the page sent changed nothing on the platform.
    assert.equal((await tp.platform.store.listTokens(username)).length, tokensBefore, 'no token was minted');
    const sessions = JSON.parse((await tp.request('GET', '/skaha/v0/session', { token })).body) as Array<{ name: string }>;
    assert.ok(!sessions.some((s) => s.name === 'stolen'), 'no session was launched');

    // The owner's portal still works, with the owner's own cookie and no service worker.
    const after = (await context.cookies(tp.base)).find((c) => c.name === 'skaha_login');
    assert.equal(after?.value, loginCookie.value, 'the login cookie was not replaced');
    await portal.reload();
    const me = await portal.evaluate(async () => {
      const r = await fetch('/auth/session');
      return { status: r.status, body: await r.json(), workers: (await navigator.serviceWorker?.getRegistrations())?.length ?? 0 };
    });
    assert.equal(me.status, 200);
    assert.equal((me.body as { username: string }).username, username);
    assert.equal(me.workers, 0, 'no service worker controls the portal');
    await context.close();
  });
});
