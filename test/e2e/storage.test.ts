import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { accessibilityProblems, ARTIFACTS, launchChromium, logIn, portalContext, screenshot } from '../helpers/browser.js';
import { cleanupList, randomName, startPlatform, type TestPlatform } from '../helpers/platform.js';

const SHOTS = path.join(ARTIFACTS, 'storage');

/**
 * Issue 19's storage page in Debian's Chromium against a real server, as a person uses it at a
 * laptop's width and a phone's: browse, upload several files (with progress), download, make a
 * folder, delete with confirmation, and reach it from a session's home.
 */
describe('the portal storage page, in a browser', () => {
  const cleanups = cleanupList();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-storage-e2e-'));
  let browser: Browser;
  let tp: TestPlatform;
  let user: { username: string; token: string };
  const password = `pw-${randomName()}`;

  before(async () => {
    browser = await launchChromium();
    tp = await startPlatform(cleanups.add, { storage: { homeQuotaGiB: 1 } });
    user = await tp.newUser('files');
    await tp.platform.store.setPassword(user.username, password);
  });
  after(async () => {
    await browser.close();
    await cleanups.run();
    fs.rmSync(work, { recursive: true, force: true });
  });

  for (const [width, height] of [
    [1280, 800],
    [420, 860],
  ] as const) {
    it(`browses, uploads, downloads, makes a folder and deletes at ${width} px`, { timeout: 180_000 }, async () => {
      const errors: string[] = [];
      const { context, page } = await portalContext(browser, tp.base, errors, { width, height });
      await logIn(page, user.username, password, '/storage');
      await page.getByRole('heading', { name: 'Storage' }).waitFor();
      const folder = `run${width}`;

      // A folder, then two files into it at once through the file chooser.
      await page.getByLabel('New folder').fill(folder);
      await page.getByRole('button', { name: 'Create' }).click();
      await page.getByRole('link', { name: folder }).click();
      await page.getByRole('navigation', { name: 'Folder' }).getByText(folder).waitFor();
      const files = ['spectrum.csv', 'notes.txt'].map((name) => {
        const file = path.join(work, `${width}-${name}`);
        fs.writeFileSync(file, `${name} at ${width}\n`.repeat(1000));
        return file;
      });
      await page.locator('#upload-files').setInputFiles(files);
      await page.getByText('2 of 2 files uploaded').waitFor();
      assert.equal(await page.getByRole('progressbar').count(), 2, 'a progress bar per upload');
      await page.getByRole('cell', { name: `${width}-spectrum.csv`, exact: true }).waitFor();
      const onDisk = path.join(tp.dataDir, 'arc', 'home', user.username, folder, `${width}-spectrum.csv`);
      assert.equal(fs.readFileSync(onDisk, 'utf8'), fs.readFileSync(files[0]!, 'utf8'));
      const uid = (await tp.platform.store.findUser(user.username))!.uid;
      assert.equal(fs.statSync(onDisk).uid, uid, 'uploaded as the user');
      assert.match((await page.locator('.usage').textContent()) ?? '', /Home: .* of 1\.0 GiB/);
      await screenshot(page, SHOTS, `folder-${width}`);
      assert.deepEqual(await accessibilityProblems(page), [], `axe-core at ${width} px`);

      // Download: the browser receives the same bytes; the link says the size first.
      const link = page.getByRole('link', { name: new RegExp(`Download ${width}-notes\\.txt \\(`) });
      assert.match((await link.textContent()) ?? '', /\(\d+\.\d KiB\)/);
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
      const saved = path.join(work, `downloaded-${width}`);
      await download.saveAs(saved);
      assert.equal(fs.readFileSync(saved, 'utf8'), fs.readFileSync(files[1]!, 'utf8'));

      // Delete asks first; cancelling keeps the file, confirming removes it.
      await page.getByRole('button', { name: `Delete ${width}-notes.txt` }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      assert.ok(fs.existsSync(path.join(path.dirname(onDisk), `${width}-notes.txt`)));
      await page.getByRole('button', { name: `Delete ${width}-notes.txt` }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await page.getByText(`${width}-notes.txt deleted.`).waitFor();
      assert.ok(!fs.existsSync(path.join(path.dirname(onDisk), `${width}-notes.txt`)));

      // The page fits the screen: nothing scrolls sideways.
      const overflow = await page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > width + 1);
        return { by: document.documentElement.scrollWidth - width, what: wide.slice(0, 3).map((el) => `${el.tagName}.${el.className}`) };
      });
      assert.ok(overflow.by <= 0, `the page scrolls ${overflow.by} px sideways at ${width} px: ${overflow.what.join(', ')}`);
      await screenshot(page, SHOTS, `after-delete-${width}`);

      // Another user's home is not there for this user.
      await page.goto(`/storage?path=${encodeURIComponent('/home/somebody-else')}`);
      await page.getByText('/home/somebody-else does not exist').waitFor();
      assert.deepEqual(errors, []);
      await context.close();
    });
  }
});
