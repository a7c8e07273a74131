import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Where browser tests leave their screenshots (test-artifacts/, not committed). */
export const ARTIFACTS = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'), 'test-artifacts');

/** Debian's Chromium (the tests never download a browser). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A headless Chromium as every browser test drives it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

/** A screenshot of what a person sees, once fonts and the last render have settled. */
export async function screenshot(page: Page, dir: string, name: string, fullPage = true): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await page.evaluate(() => document.fonts.ready.then(() => undefined));
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage, animations: 'disabled', caret: 'hide' });
}

/** A browser context on the portal that records every uncaught page error, to assert there were none. */
export async function portalContext(
  browser: Browser,
  baseURL: string,
  errors: string[],
  viewport = { width: 1280, height: 800 },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL, viewport, deviceScaleFactor: 1, locale: 'en-CA', timezoneId: 'America/Vancouver' });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`${page.url()}: ${err.message}`));
  return { context, page };
}

/** Log in through the portal's own login screen (a real form POST to /login). */
export async function logIn(page: Page, username: string, password: string, where = '/'): Promise<void> {
  await page.goto(where);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForURL((u) => u.pathname === where), page.getByRole('button', { name: 'Log in', exact: true }).click()]);
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** axe-core's rules, run in the page (the file is injected as a script, as the axe docs show). */
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/**
 * Accessibility problems of the page as axe-core finds them (WCAG 2.1 A and AA rules), serious
 * and critical ones only, as one line each: `rule: what (selector)`.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run(ctx: Document, opts: object): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }>;
        };
      }
    ).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.targets.slice(0, 3).join(', ')})`);
}
