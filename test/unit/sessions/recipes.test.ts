import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectUrl, recipeFor, threadCount, type RecipeInput } from '../../../src/sessions/recipes.js';

const layout = { topLevelDir: '/arc' };
const base: Omit<RecipeInput, 'type'> = {
  sessionId: 'vl91sfzz',
  username: 'alice',
  uid: 200001,
  resources: { coresRequest: 2, coresLimit: 2, ramRequestGiB: 8, ramLimitGiB: 8, gpus: 0 },
  layout,
  hostname: 'skaha.example.org',
  apiBaseUrl: 'https://skaha.example.org',
  userEnv: [],
};
const common = [
  ['HOME', '/arc/home/alice'],
  ['PWD', '/arc/home/alice'],
  ['skaha_hostname', 'skaha.example.org'],
  ['skaha_username', 'alice'],
  ['skaha_sessionid', 'vl91sfzz'],
  ['SKAHA_TOP_LEVEL_DIR', '/arc'],
  ['SKAHA_USER_HOME_DIR', '/arc/home/alice'],
  ['SKAHA_PROJECTS_DIR', '/arc/projects'],
  ['OMP_NUM_THREADS', '2'],
];

describe('launch recipes (spec §4.2)', () => {
  it('notebook: start-jupyterlab.sh <id> on 8888 with the Jupyter env under $HOME', () => {
    assert.deepEqual(recipeFor({ ...base, type: 'notebook' }), {
      command: ['/skaha-system/start-jupyterlab.sh', 'vl91sfzz'],
      env: [
        ...common,
        ['JULIA_NUM_THREADS', '2'],
        ['OPENBLAS_NUM_THREADS', '2'],
        ['MKL_NUM_THREADS', '2'],
        ['JUPYTER_TOKEN', 'vl91sfzz'],
        ['JUPYTER_CONFIG_DIR', '/arc/home/alice/.jupyter/'],
        ['JUPYTER_DATA_DIR', '/arc/home/alice/.local/share/jupyter/'],
        ['JUPYTER_RUNTIME_DIR', '/arc/home/alice/.local/share/jupyter/runtime/'],
        ['JUPYTER_PATH', '/arc/home/alice/.jupyter/'],
        ['JUPYTERLAB_WORKSPACES_DIR', '/arc/home/alice/.jupyter/lab/workspaces/'],
        ['JUPYTERLAB_SETTINGS_DIR', '/arc/home/alice/.jupyter/lab/user-settings/'],
        ['NB_USER', 'alice'],
        ['NB_UID', '200001'],
        ['XDG_CACHE_HOME', '/arc/home/alice'],
      ],
      ports: [8888],
      workingDir: '/arc/home/alice',
    });
  });

  it('headless: cmd as entrypoint, args split on single spaces, user env before the template env', () => {
    assert.deepEqual(
      recipeFor({
        ...base,
        type: 'headless',
        cmd: 'python3',
        args: '-c print(1)  x',
        userEnv: [
          ['HOME', '/tmp'],
          ['A', '1'],
        ],
      }),
      {
        command: ['python3'],
        args: ['-c', 'print(1)', '', 'x'],
        env: [['HOME', '/tmp'], ['A', '1'], ...common],
        ports: [],
        workingDir: '/arc/home/alice',
      },
    );
    const plain = recipeFor({ ...base, type: 'headless' });
    assert.equal(plain.command, undefined, 'without cmd the image entrypoint runs');
    assert.equal(plain.args, undefined);
  });

  it('desktop carries the VNC password and the callback token, and no PWD', () => {
    const r = recipeFor({ ...base, type: 'desktop', desktopAppToken: 'tok' });
    assert.deepEqual(r.command, ['/skaha-system/start-desktop.sh', 'skaha.example.org']);
    assert.deepEqual(r.ports, [6901, 5901]);
    const env = new Map(r.env);
    assert.equal(env.get('VNC_PW'), 'vl91sfzz');
    assert.equal(env.get('DESKTOP_SESSION_APP_TOKEN'), 'tok');
    assert.equal(env.has('PWD'), false);
  });

  it('contributed, carta and firefly use the image entrypoint on their ports', () => {
    assert.deepEqual(recipeFor({ ...base, type: 'contributed' }).ports, [5000]);
    assert.equal(recipeFor({ ...base, type: 'contributed' }).command, undefined);
    const carta = new Map(recipeFor({ ...base, type: 'carta' }).env);
    assert.equal(carta.get('SKAHA_SESSION_URL_PATH'), '/session/carta/vl91sfzz');
    assert.equal(new Map(recipeFor({ ...base, type: 'firefly' }).env).get('baseURL'), '/session/firefly/vl91sfzz/');
  });

  it('threads are max(1, integer part of the CPU request)', () => {
    assert.deepEqual([0.25, 1, 1.9, 8].map(threadCount), [1, 1, 1, 8]);
  });

  it('connect URLs follow spec §4.3', () => {
    const h = 'https://h';
    assert.equal(connectUrl(h, 'desktop', 'abcdefgh', 'alice', layout), 'https://h/session/desktop/abcdefgh/?password=abcdefgh&path=session/desktop/abcdefgh/');
    assert.equal(connectUrl(h, 'notebook', 'abcdefgh', 'alice', layout), 'https://h/session/notebook/abcdefgh/lab/tree/arc/home/alice?token=abcdefgh');
    assert.equal(connectUrl(h + '/', 'carta', 'abcdefgh', 'alice', layout), 'https://h/session/carta/abcdefgh/');
    assert.equal(connectUrl(h, 'contributed', 'abcdefgh', 'alice', layout), 'https://h/session/contrib/abcdefgh/');
    assert.equal(connectUrl(h, 'firefly', 'abcdefgh', 'alice', layout), 'https://h/session/firefly/abcdefgh/firefly/');
    assert.equal(connectUrl(h, 'headless', 'abcdefgh', 'alice', layout), 'not-applicable');
    assert.equal(connectUrl(h, 'desktop-app', 'abcdefgh', 'alice', layout), 'not-applicable');
  });
});
