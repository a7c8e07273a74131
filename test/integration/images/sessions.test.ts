import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupList, launch, startPlatform, type TestPlatform } from '../../helpers/platform.js';
import { DESKTOP_IMAGE, execIn, NOTEBOOK_IMAGE, openThroughProxy, TERMINAL_IMAGE } from '../../helpers/sessions.js';

describe('reference session images, launched as their types', () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add);
  });
  after(() => cleanups.run());

  it('notebook: JupyterLab answers at the connect URL through the proxy, as the user, in their home', async () => {
    const { username, token } = await tp.newUser('nb');
    const id = await launch(tp, token, { name: 'nb', image: NOTEBOOK_IMAGE, type: 'notebook' });
    const session = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}`, { token })).body);
    const url = new URL(session.connectURL);
    assert.equal(url.pathname, `/session/notebook/${id}/lab/tree/arc/home/${username}`);
    const bearer = { authorization: `Bearer ${token}` };
    const page = await openThroughProxy(tp, url.pathname, bearer);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /JupyterLab/);
    // The Jupyter API, through the proxy, lists the user's home; the server runs as the user.
    const contents = await openThroughProxy(tp, `/session/notebook/${id}/api/contents/arc/home/${username}`, bearer);
    assert.equal(contents.status, 200);
    assert.equal(((await contents.json()) as { type: string }).type, 'directory');
    assert.match(await execIn(id, ['id', '-un']), new RegExp(`^${username}$`, 'm'));
  });

  it('desktop: noVNC through the proxy; a desktop-app runs startup in order and opens its window on the desktop', async () => {
    const { username, token } = await tp.newUser('dt');
    const id = await launch(tp, token, { name: 'desk', image: DESKTOP_IMAGE, type: 'desktop' });
    assert.equal(await tp.waitStatus(token, id, ['Running']), 'Running');
    const page = await openThroughProxy(tp, `/session/desktop/${id}/`, { authorization: `Bearer ${token}` });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);

    // The Astro Software menu was built from the platform's desktop-app images.
    const menu = await execIn(id, ['cat', '/tmp/skaha-desktop/menu']);
    assert.match(menu, /\[submenu\] \(Astro Software\)/);
    assert.match(menu, /\[submenu\] \(skaha\)[\s\S]*\[exec\] \(terminal:1\.0\)/);

    const app = await tp.request('POST', `/skaha/v0/session/${id}/app`, { token, form: { image: TERMINAL_IMAGE, cores: '1', ram: '1' } });
    assert.equal(app.status, 200, app.body);
    const appId = app.body.trim();
    let status = '';
    for (let i = 0; i < 120 && status !== 'Running'; i++) {
      status = JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}/app/${appId}`, { token })).body).status;
      if (status !== 'Running') await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(status, 'Running');
    const display = ['DISPLAY=127.0.0.1:1', 'XAUTHORITY=/skaha-session/Xauthority'];
    let tree = '';
    for (let i = 0; i < 60 && !tree.includes('terminal-1-0'); i++) {
      tree = await execIn(id, ['xwininfo', '-root', '-tree'], display);
      if (!tree.includes('terminal-1-0')) await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(tree, /"terminal-1-0"/, "the app's xterm window is on the desktop's display");
    const logs = (await tp.request('GET', `/skaha/v0/session/${id}`, { token, query: { view: 'logs' } })).body;
    assert.match(logs, /skaha terminal: init as uid \d+/, "the app's /skaha/init.sh ran (its output is in the desktop's logs)");
    // Without the desktop's cookie, the display refuses clients.
    const refused = await execIn(id, ['sh', '-c', 'XAUTHORITY=/dev/null xwininfo -root 2>&1 | head -1'], ['DISPLAY=127.0.0.1:1']);
    assert.match(refused, /unable to open display|Authorization required|No protocol specified/i);
    void username;

    // Deleting the desktop removes its apps.
    assert.equal((await tp.request('DELETE', `/skaha/v0/session/${id}`, { token })).status, 200);
    let apps: unknown[] = [1];
    for (let i = 0; i < 100 && apps.length; i++) {
      apps = (JSON.parse((await tp.request('GET', `/skaha/v0/session/${id}/app`, { token })).body) as Array<{ id: string }>).filter((a) => a.id === id);
      if (apps.length) await new Promise((r) => setTimeout(r, 300));
    }
    assert.deepEqual(apps, [], 'its apps are gone with it');
  });
});
