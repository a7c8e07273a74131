/**
 * Launch click → JupyterLab's first cell run, in Chromium, as an astronomer does it (issue 17):
 * on the portal's launch form, click "Launch notebook", wait for Connect, click it (a new tab,
 * through the session proxy and its waiting page), then in JupyterLab open a Python notebook from
 * the launcher, type `1+1`, Shift+Enter and wait for `2`. Side by side, in the same run, the same
 * image started straight on the engine with its port published (no platform: `podman run`, the
 * browser polls the port and opens JupyterLab as soon as it answers), the same clicks after that.
 * BENCH_LAUNCHES (10) of each after one warm-up of each; every session and container is removed
 * before the next starts, and the user's JupyterLab workspace is reset so each run starts alike.
 *
 *   npm run -s build && node --import tsx bench/notebook-browser.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Cleanup, envInt, machine, machineLine, markdownTable, ms, now, podman, randomHex, ratio, sleep, startServer, summarize } from './lib.js';
import { launchChromium, logIn } from '../test/helpers/browser.js';
import { freePort } from '../test/helpers/ports.js';

const NOTEBOOK_IMAGE = 'images.canfar.net/skaha/notebook:1.0';
const LAUNCHES = envInt('BENCH_LAUNCHES', 10, 1, 50);
const STEP_TIMEOUT_MS = 90_000;
const cleanup = new Cleanup();
cleanup.installSignalHandlers();
cleanup.timeLimit(envInt('BENCH_TIMEOUT_S', 1200, 60, 3600));

interface Run {
  /** Start → JupyterLab's server answers on its port (direct runs only). */
  served?: number;
  /** Click → JupyterLab's launcher shown (the lab is usable). */
  lab: number;
  /** Click → a new notebook's kernel idle: its first cell can run. */
  runnable: number;
  /** Click → the first cell's output `2` shown. */
  cell: number;
}

/**
 * A kernel's first `idle` status on a channels WebSocket of the page: the kernel has started and
 * answered JupyterLab's kernel_info request. (JupyterLab's own idle indicator shows before that,
 * and a cell run then is silently dropped.)
 */
function kernelIdle(page: Page): Promise<void> {
  return new Promise((resolve) => {
    page.on('websocket', (ws) => {
      if (!ws.url().includes('/channels')) return;
      ws.on('framereceived', (frame) => {
        if (/"execution_state":\s*"idle"/.test(String(frame.payload))) resolve();
      });
    });
  });
}

/** From a JupyterLab page that is loading: the launcher, a new notebook's kernel ready, its first cell run. */
async function firstCell(page: Page, t0: number): Promise<Run> {
  const ready = kernelIdle(page);
  const card = page.locator('.jp-LauncherCard[data-category="Notebook"]').first();
  await card.waitFor({ timeout: STEP_TIMEOUT_MS });
  const lab = now() - t0;
  await card.click();
  const notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  await Promise.race([ready, sleep(STEP_TIMEOUT_MS).then(() => Promise.reject(new Error('the kernel never became idle')))]);
  const runnable = now() - t0;
  const editor = notebook.locator('.jp-Cell .cm-content').first();
  await editor.click();
  await page.keyboard.type('1+1');
  // The toolbar's Run button (a Shift+Enter typed by Playwright never reaches JupyterLab's keymap).
  await notebook.locator('.jp-Toolbar [data-command="notebook:run-cell-and-select-next"]').first().click();
  await notebook
    .locator('.jp-OutputArea-output', { hasText: /^\s*2\s*$/ })
    .first()
    .waitFor({ timeout: STEP_TIMEOUT_MS });
  return { lab, runnable, cell: now() - t0 };
}

/** The notebook files and the JupyterLab workspace a run leaves in a home directory, removed. */
function resetHome(home: string): void {
  fs.rmSync(path.join(home, '.jupyter', 'lab', 'workspaces'), { recursive: true, force: true });
  for (const name of fs.existsSync(home) ? fs.readdirSync(home) : []) if (/^Untitled.*\.ipynb$/.test(name)) fs.rmSync(path.join(home, name));
}

async function throughPlatform(browser: Browser, base: string, username: string, password: string, i: number): Promise<Run> {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    await logIn(page, username, password, '/launch');
    await page.getByRole('radio', { name: /^Notebook/ }).check();
    await page.getByLabel('Image', { exact: true }).selectOption(NOTEBOOK_IMAGE);
    await page.getByLabel('Name', { exact: true }).fill(`nb${i}`);
    await page.getByLabel('CPU cores').selectOption('1');
    await page.getByLabel('Memory').selectOption('2');
    const t0 = now();
    await page.getByRole('button', { name: 'Launch notebook' }).click();
    const connect = page.getByRole('link', { name: `Connect to nb${i} (opens a new tab)` });
    await connect.waitFor({ timeout: STEP_TIMEOUT_MS });
    const [lab] = await Promise.all([context.waitForEvent('page'), connect.click()]);
    const problems: string[] = [];
    lab.on('response', (r) => void (r.status() >= 400 && problems.push(`${r.status()} ${r.request().method()} ${r.url()}`)));
    lab.on('websocket', (ws) => ws.on('close', () => problems.push(`websocket closed: ${ws.url()}`)));
    return await firstCell(lab, t0).catch(async (err: Error) => {
      throw new Error(`${err.message.split('\n')[0]} at ${lab.url()}; ${problems.slice(0, 8).join(' | ')}`);
    });
  } finally {
    await context.close();
  }
}

async function direct(browser: Browser, home: string): Promise<Run> {
  const port = await freePort();
  const name = `bench-direct-nb-${randomHex(4)}`;
  const token = randomHex(16);
  cleanup.add(`remove ${name}`, () => void podman(['rm', '-f', '-t', '0', name]).catch(() => undefined));
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    const t0 = now();
    // What start-jupyterlab.sh runs in a session, without the platform's base URL.
    await podman([
      'run', '-d', '--rm', '--name', name, '-p', `127.0.0.1:${port}:8888`, '--user', '1000:1000', '-e', `HOME=/home/bench`,
      '-v', `${home}:/home/bench`, '-w', '/home/bench', NOTEBOOK_IMAGE,
      'jupyter', 'lab', '--ServerApp.ip=0.0.0.0', '--ServerApp.port=8888', '--ServerApp.root_dir=/home/bench',
      '--ServerApp.open_browser=False', `--ServerApp.token=${token}`,
    ]); // prettier-ignore
    const url = `http://127.0.0.1:${port}/lab?reset&token=${token}`;
    // The best a person could do without a waiting page: open it the moment the port answers.
    for (let tries = 0; ; tries++) {
      const answered = await fetch(url, { redirect: 'manual' }).then(
        (r) => r.status < 500,
        () => false,
      );
      if (answered) break;
      if (tries > STEP_TIMEOUT_MS / 20) throw new Error(`JupyterLab on port ${port} never answered`);
      await sleep(20);
    }
    const served = now() - t0;
    await page.goto(url);
    return { ...(await firstCell(page, t0)), served };
  } finally {
    await context.close();
    await podman(['rm', '-f', '-t', '0', name]).catch(() => undefined);
  }
}

const server = await startServer(cleanup, { config: { sessions: { maxUserSessions: 100 } } });
const password = `pw-${randomHex(8)}`;
server.setPassword(server.username, password);
const platformHome = path.join(server.workDir, 'data', 'arc', 'home', server.username);
const directHome = path.join(server.workDir, 'direct-home');
fs.mkdirSync(directHome, { recursive: true });
fs.chownSync(directHome, 1000, 1000);
const browser = await launchChromium();
cleanup.add('close Chromium', () => browser.close());

const runs: Record<'platform' | 'direct', Run[]> = { platform: [], direct: [] };
try {
  for (let i = 0; i < LAUNCHES + 1; i++) {
    cleanup.check();
    // Alternating, so a slow spell of this shared machine falls on both.
    resetHome(directHome);
    const d = await direct(browser, directHome);
    resetHome(platformHome);
    const p = await throughPlatform(browser, server.base, server.username, password, i);
    for (const s of await server.api.sessions()) await server.api.request('DELETE', `/skaha/v0/session/${s.id}`);
    while ((await server.api.sessions()).length > 0) await sleep(100);
    console.log(
      `run ${i}${i === 0 ? ' (warm-up)' : ''}: platform ${ms(p.lab)} / ${ms(p.runnable)} / ${ms(p.cell)} ms; direct ${ms(d.served ?? Number.NaN)} / ${ms(d.lab)} / ${ms(d.runnable)} / ${ms(d.cell)} ms ([served] / lab / runnable / cell)`,
    );
    if (i === 0) continue; // the first of each warms the page cache and Chromium
    runs.platform.push(p);
    runs.direct.push(d);
  }
  const row = (label: string, key: 'lab' | 'runnable' | 'cell') => {
    const [p, d] = [summarize(runs.platform.map((r) => r[key])), summarize(runs.direct.map((r) => r[key]))];
    return [label, ms(p.p50, 0), ms(p.p95, 0), ms(d.p50, 0), ms(d.p95, 0), ratio(p.p50, d.p50)];
  };
  const table = markdownTable(
    ['click → (ms)', 'platform p50', 'platform p95', 'direct p50', 'direct p95', 'p50 ratio'],
    [
      [
        "JupyterLab's server answers on its port",
        '',
        '',
        ms(summarize(runs.direct.map((r) => r.served ?? Number.NaN)).p50, 0),
        ms(summarize(runs.direct.map((r) => r.served ?? Number.NaN)).p95, 0),
        '',
      ],
      row("JupyterLab's launcher shown", 'lab'),
      row("a new notebook's first cell runnable (kernel idle)", 'runnable'),
      row('first cell run (`1+1` → `2`)', 'cell'),
    ],
  );
  const p50 = summarize(runs.platform.map((r) => r.runnable)).p50;
  const direct50 = summarize(runs.direct.map((r) => r.runnable)).p50;
  const met = p50 < 2500 && p50 <= 1.3 * direct50;
  console.log(
    `\n--- markdown ---\nLaunch click → first cell, Chromium, ${LAUNCHES} runs of each after one warm-up, ${NOTEBOOK_IMAGE} cached; ${machineLine(machine())}.\n\n${table}\n\n` +
      `goal (first cell runnable) p50 < 2500 ms and ≤ 1.3× direct: ${met ? 'met' : 'NOT met'} (platform ${ms(p50, 0)} ms, direct ${ms(direct50, 0)} ms).\n--- end ---`,
  );
} finally {
  await cleanup.run();
}
