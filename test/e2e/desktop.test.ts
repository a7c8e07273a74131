import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { cleanupList, launch, startPlatform, type TestPlatform } from '../helpers/platform.js';
import { DESKTOP_IMAGE, execIn, NOTEBOOK_IMAGE, openThroughProxy } from '../helpers/sessions.js';

const ARTIFACTS = path.resolve('test-artifacts');
const DISPLAY_ENV = ['DISPLAY=127.0.0.1:1', 'XAUTHORITY=/skaha-session/Xauthority'];

async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Log in through the server's login page as a person would. */
async function login(page: Page, tp: TestPlatform, username: string, password: string, next: string): Promise<void> {
  await page.goto(`${tp.base}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.click('button[type=submit]');
}

/** Window titles on the desktop's X display. */
/** An empty spot of the desktop, right of the first xterm and above the toolbar. */
const MENU_AT = { x: 980, y: 120 };
const windows = async (id: string) => execIn(id, ['xwininfo', '-root', '-tree'], DISPLAY_ENV);

/**
 * Where to click the desktop's Applications button (images/desktop/vnc_startup.sh): the bottom
 * of its window, as the X server places it (`"Applications": ("skaha-launcher" ...) WxH+X+Y`).
 */
async function applicationsButton(id: string): Promise<{ x: number; y: number }> {
  const line = (await windows(id)).split('\n').find((l) => l.includes('("skaha-launcher"'));
  const m = line && /(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)/.exec(line);
  assert.ok(m, 'the Applications button is on the desktop');
  const [w, h, x, y] = m.slice(1).map(Number) as [number, number, number, number];
  // xmessage puts its button at the bottom left of its window.
  return { x: x + Math.min(40, w / 2), y: y + h - 18 };
}

describe('in a browser: the desktop and its Astro Software menu, and a notebook', () => {
  let tp: TestPlatform;
  let browser: Browser;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await cleanups.run();
  });

  it('opens the desktop through the proxy, starts the terminal from Applications → Astro Software, and its window appears', async () => {
    const { username, token } = await tp.newUser('ui');
    await tp.platform.store.setPassword(username, 'desktop-pass-1');
    const id = await launch(tp, token, { name: 'mydesk', image: DESKTOP_IMAGE, type: 'desktop' });
    const connect = new URL(JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token })).body).connectURL as string);
    assert.equal((await openThroughProxy(tp, `/session/desktop/${id}/`, { authorization: `Bearer ${token}` })).status, 200);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await login(page, tp, username, 'desktop-pass-1', connect.pathname + connect.search);
    // The proxy trades ?password= for a cookie and drops it from the address bar.
    await page.waitForURL((u) => u.pathname === `/session/desktop/${id}/` && !u.searchParams.has('password'));
    // noVNC connects by itself; if the first attempt fails (the VNC server still starting), the
    // page offers a reconnect: take it, as a person would.
    for (let attempt = 1; ; attempt++) {
      const state = await page
        .waitForFunction(
          () => {
            const el = document.getElementById('status');
            return el?.classList.contains('connected') ? 'connected' : el?.classList.contains('error') ? `error: ${el.textContent}` : false;
          },
          undefined,
          { timeout: 30_000 },
        )
        .then((h) => h.jsonValue() as Promise<string>)
        .catch(async () => `stuck: ${await page.locator('#status').textContent()}`);
      if (state === 'connected') break;
      if (attempt >= 3) {
        await shot(page, 'desktop-not-connected');
        assert.fail(`noVNC did not connect after ${attempt} attempts: ${state}`);
      }
      await page.waitForTimeout(1000);
      await page.reload();
    }
    await page.waitForTimeout(1500);
    await shot(page, 'desktop');

    // The menu opens from the toolbar's "Applications" button (top left; images/desktop), as it does
    // from a right-click on the background; then Applications → Astro Software → skaha → terminal:1.0.
    const canvas = page.locator('#screen canvas');
    const box = (await canvas.boundingBox())!;
    const button = await applicationsButton(id);
    // The menu opens under the pointer, over the desktop's background below the button.
    const probe = { x: 12, y: button.y + 34 };
    const shade = () =>
      page.evaluate(({ x, y }) => {
        const c = document.querySelector('#screen canvas') as HTMLCanvasElement;
        const [r, g, b] = c.getContext('2d')!.getImageData(x, y, 1, 1).data;
        return (r! + g! + b!) / 3;
      }, probe);
    assert.ok((await shade()) < 100, 'the background is dark before the menu opens');
    await page.mouse.click(box.x + button.x, box.y + button.y);
    await page.waitForTimeout(700);
    await shot(page, 'desktop-menu-from-button');
    assert.ok((await shade()) > 150, 'the Applications button opened the menu');
    // Closed again by a click on the background; then the same menu from a right-click, whose
    // menus take the keyboard.
    await page.mouse.click(box.x + MENU_AT.x, box.y + MENU_AT.y);
    await page.waitForTimeout(300);
    await page.mouse.click(box.x + MENU_AT.x, box.y + MENU_AT.y, { button: 'right' });
    await page.waitForTimeout(700);
    await shot(page, 'desktop-menu');
    // Fluxbox menus follow the keyboard: the first item (Applications), into Astro Software,
    // type-ahead to the skaha project (other projects may come first: the engine's images are
    // whatever this machine has), into it, then type-ahead to terminal:1.0.
    for (const key of ['ArrowDown', 'ArrowRight', 'ArrowRight']) {
      await page.keyboard.press(key);
      await page.waitForTimeout(300);
    }
    await page.keyboard.type('skaha');
    await page.waitForTimeout(300);
    await page.keyboard.press('ArrowRight');
    await page.waitForTimeout(300);
    await page.keyboard.type('t');
    await page.waitForTimeout(300);
    await shot(page, 'desktop-menu-astro-software');
    await page.keyboard.press('Enter');
    // The launcher xterm asks about resources; answer "n", then the app starts on this desktop.
    let tree = '';
    for (let i = 0; i < 40 && !tree.includes('launch terminal:1.0'); i++) {
      await page.waitForTimeout(250);
      tree = await windows(id);
    }
    assert.match(tree, /launch terminal:1\.0/, 'the launcher opened');
    await page.keyboard.type('n');
    await page.keyboard.press('Enter');
    for (let i = 0; i < 120 && !tree.includes('"terminal-1-0"'); i++) {
      await page.waitForTimeout(500);
      tree = await windows(id);
    }
    assert.match(tree, /"terminal-1-0"/, 'the terminal desktop-app window is on the desktop');
    await page.waitForTimeout(1000);
    await shot(page, 'desktop-with-terminal'); // docs/screenshots/desktop-terminal.png is a copy of one

    const apps = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}/app`, { token })).body) as Array<{ id: string; image: string; status: string }>;
    assert.ok(apps.some((a) => a.id === id && a.image.endsWith('terminal:1.0') && a.status === 'Running'));
  });

  it("opens a notebook's connect URL and shows JupyterLab with the user's home", async () => {
    const { username, token } = await tp.newUser('nbui');
    await tp.platform.store.setPassword(username, 'notebook-pass-1');
    const id = await launch(tp, token, { name: 'mynb', image: NOTEBOOK_IMAGE, type: 'notebook' });
    const connect = new URL(JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token })).body).connectURL as string);
    assert.equal((await openThroughProxy(tp, connect.pathname, { authorization: `Bearer ${token}` })).status, 200);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()} ${r.request().method()} ${r.url()}`);
    });
    page.on('requestfailed', (r) => problems.push(`failed ${r.url()} ${r.failure()?.errorText}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    page.on('websocket', (ws) => ws.on('close', () => problems.push(`ws closed ${ws.url()}`)));
    await login(page, tp, username, 'notebook-pass-1', connect.pathname + connect.search);
    await page.waitForURL((u) => u.pathname.startsWith(`/session/notebook/${id}/lab`) && !u.searchParams.has('token'));
    // JupyterLab's file browser shows the home directory's breadcrumbs.
    await page.waitForSelector('.jp-FileBrowser', { timeout: 60_000 }).catch(async (err) => {
      await shot(page, 'notebook-failed');
      fs.writeFileSync(path.join(ARTIFACTS, 'notebook-problems.txt'), problems.join('\n'));
      throw new Error(`${(err as Error).message} at ${page.url()}; ${problems.slice(0, 12).join(' | ')}`);
    });
    await page.waitForSelector(`.jp-BreadCrumbs >> text=${username}`, { timeout: 30_000 });
    // No pop-up over the first notebook asking whether to fetch Jupyter's news (images/notebook).
    await page.waitForTimeout(3000);
    assert.equal(await page.getByText(/Jupyter news/).count(), 0, 'the news pop-up is shown');
    await shot(page, 'notebook'); // docs/screenshots/notebook.png is a copy of one
  });
});
