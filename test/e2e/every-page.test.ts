import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { accessibilityProblems, ARTIFACTS, launchChromium, logIn, portalContext, screenshot } from '../helpers/browser.js';
import { cleanupList, launch, randomName, runJob, startPlatform, WEB_IMAGE } from '../helpers/platform.js';

/**
 * Every page of the portal on a phone (420 px) and a laptop (1280 px), in the light and the dark
 * theme (the system's `prefers-color-scheme`), with a running session, a finished job and a
 * token to show, and the user at their interactive session limit (1 here): nothing scrolls
 * sideways, the controls and messages people need are on screen (a failed login's message, the
 * limit warning and its way out, a finished job's end and exit code, a token's expiry and
 * Revoke), axe-core finds nothing serious, and the dark theme is dark. Screenshots:
 * test-artifacts/every-page/.
 */

const SHOTS = path.join(ARTIFACTS, 'every-page');
const WIDTHS = [420, 1280] as const;
const SCHEMES = ['light', 'dark'] as const;

/** How far the page scrolls sideways (0 when it fits). */
const sideways = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

/** The deepest elements that reach past the viewport's right edge, to say what overflows. */
const overflowing = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter(
        (e) =>
          e.getBoundingClientRect().right > window.innerWidth + 0.5 && ![...e.children].some((c) => c.getBoundingClientRect().right > window.innerWidth + 0.5),
      )
      .slice(0, 5)
      .map(
        (e) =>
          `${e.tagName.toLowerCase()}${e.className ? `.${String(e.className).split(' ').join('.')}` : ''} (right ${Math.round(e.getBoundingClientRect().right)})`,
      )
      .join(', '),
  );

/** Whether the element is drawn inside the viewport's width (not cut off or scrolled away). */
async function onScreen(locator: Locator, width: number): Promise<boolean> {
  const box = await locator.boundingBox();
  return !!box && box.x >= 0 && box.x + box.width <= width + 0.5;
}

/** Relative luminance (0 black … 1 white) of the page's background: body's, else html's, else white. */
const backgroundLuminance = (page: Page) =>
  page.evaluate(() => {
    for (const element of [document.body, document.documentElement]) {
      const [r, g, b, a] = (getComputedStyle(element).backgroundColor.match(/[\d.]+/g) ?? []).map(Number);
      if (r === undefined || g === undefined || b === undefined || a === 0) continue;
      return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
    }
    return 1;
  });

describe('every page of the portal at 420 and 1280 px, light and dark', () => {
  const cleanups = cleanupList();
  let browser: Browser | undefined;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await cleanups.run();
  });

  it('fits, shows what matters and passes axe-core on each', { timeout: 420_000 }, async () => {
    const tp = await startPlatform(cleanups.add, { sessions: { maxUserSessions: 1 } });
    const user = await tp.newUser('ep');
    const password = `pw-${randomName()}`;
    await tp.platform.store.setPassword(user.username, password);
    await tp.platform.store.addToGroup(user.username, 'skaha-admins');
    const web = await launch(tp, user.token, { name: 'web1', image: WEB_IMAGE, type: 'contributed', cores: '1', ram: '2' });
    assert.equal(await tp.waitStatus(user.token, web, ['Running']), 'Running');
    assert.equal((await runJob(tp, user.token, 'echo finished')).status, 'Succeeded');

    const errors: string[] = [];
    for (const scheme of SCHEMES) {
      for (const width of WIDTHS) {
        const { context, page } = await portalContext(browser!, tp.base, errors, { width, height: 860 });
        await page.emulateMedia({ colorScheme: scheme });
        const check = async (name: string) => {
          const where = `${name} at ${width} px, ${scheme}`;
          await screenshot(page, SHOTS, `${name}-${width}-${scheme}`);
          assert.ok((await sideways(page)) <= 0, `${where} scrolls ${await sideways(page)} px sideways: ${await overflowing(page)}`);
          assert.deepEqual(await accessibilityProblems(page), [], `axe-core: ${where}`);
          const luminance = await backgroundLuminance(page);
          assert.ok(scheme === 'dark' ? luminance < 0.25 : luminance > 0.75, `${where}: background luminance ${luminance.toFixed(2)}`);
        };

        await page.goto('/');
        await page.getByRole('heading', { name: 'Log in' }).waitFor();
        await check('login');
        await page.getByLabel('Username').fill(user.username);
        await page.getByLabel('Password').fill('not-the-password');
        await page.getByRole('button', { name: 'Log in', exact: true }).click();
        const wrong = page.getByText('Wrong username or password.');
        await wrong.waitFor();
        assert.ok(await onScreen(wrong, width), `a failed login says so on screen at ${width} px`);
        assert.equal(await page.getByLabel('Username').inputValue(), user.username, 'the username is kept');
        await check('login-failed');
        await logIn(page, user.username, password);

        const row = page.locator('tr[data-session-id]', { has: page.locator('.session-name', { hasText: /^web1$/ }) });
        await row.locator('.status', { hasText: 'Running' }).waitFor();
        await page.locator('tr[data-session-id]', { hasText: 'Succeeded' }).first().waitFor();
        for (const control of ['Connect to web1 (opens a new tab)', 'Renew web1', 'Details of web1', 'Delete web1']) {
          assert.ok(
            await onScreen(page.getByRole(control.startsWith('Connect') ? 'link' : 'button', { name: control }), width),
            `${control} on screen at ${width} px`,
          );
        }
        await check('sessions');
        await row.getByRole('button', { name: 'Details of web1' }).click();
        await page.locator('#session-details').getByRole('heading', { name: /web1/ }).first().waitFor();
        assert.ok(await onScreen(page.locator('#session-details'), width), `the details are on screen at ${width} px`);
        await check('session-details');
        const job = page.locator('tr[data-session-id]', { hasText: 'Succeeded' }).first();
        await job.getByRole('button', { name: /^Details of / }).click();
        const ended = page.locator('#session-details .finished-summary');
        await ended.waitFor();
        assert.match(await ended.innerText(), /^Finished .* · exit code 0$/);
        assert.ok(await onScreen(ended, width), `a finished job's end on screen at ${width} px`);
        await check('job-details');

        await page.goto('/launch');
        await page.getByLabel('Image', { exact: true }).waitFor();
        // At the limit: said before launching, with the way out, and no launch offered.
        const warning = page.locator('#limit-warning');
        await warning.waitFor();
        assert.match(await warning.innerText(), /You have 1 of 1 interactive sessions[\s\S]*web1/);
        assert.ok(await onScreen(warning.getByRole('link', { name: 'Go to your sessions' }), width), `the limit's way out at ${width} px`);
        assert.ok(await page.getByRole('button', { name: /^Launch / }).isDisabled());
        await check('launch-at-limit');
        await page.getByRole('radio', { name: /^Headless job/ }).check();
        await warning.waitFor({ state: 'detached' });
        assert.ok(await onScreen(page.getByRole('button', { name: 'Run headless job' }), width), `jobs can still be launched, at ${width} px`);
        await check('launch');

        await page.goto('/account');
        const token = page.locator('tr[data-token-id]').first();
        await token.waitFor();
        await screenshot(page, SHOTS, `account-${width}-${scheme}`);
        // (On a phone the table is a card per token, each cell labelled; the header row is for screen readers.)
        assert.ok(await onScreen(token.locator('td[data-label="Expires"]'), width), `a token's expiry at ${width} px`);
        assert.ok(await onScreen(token.getByRole('button', { name: /^Revoke/ }), width), `a token's Revoke button at ${width} px`);
        await check('account');

        await page.goto('/storage');
        await page.getByRole('heading', { name: 'Storage', level: 1 }).waitFor();
        await page
          .getByText(/^(Home: .* of .*|Your home holds .*)$/)
          .first()
          .waitFor();
        await check('storage');

        await page.goto('/admin');
        await page.getByRole('heading', { name: 'All sessions' }).waitFor();
        await check('admin');
        await context.close();
      }
    }
    assert.deepEqual(errors, [], 'no uncaught errors in the pages');
  });
});
