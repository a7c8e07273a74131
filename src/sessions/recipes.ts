import { SESSION_TYPE_TABLE, type LaunchableType, type Resources, type SessionType } from './model.js';

/** Where users' storage sits inside every container (spec §6.4). */
export interface StorageLayout {
  topLevelDir: string;
}

export const homeDir = (layout: StorageLayout, username: string) => `${layout.topLevelDir}/home/${username}`;
export const projectsDir = (layout: StorageLayout) => `${layout.topLevelDir}/projects`;

export interface RecipeInput {
  type: LaunchableType;
  sessionId: string;
  username: string;
  uid: number;
  resources: Resources;
  layout: StorageLayout;
  /** SKAHA_HOSTNAME: the host users and desktops call back to. */
  hostname: string;
  /** Base URL of the API for desktop callbacks, e.g. http://host:port. */
  apiBaseUrl: string;
  /** Headless only. */
  cmd?: string;
  args?: string;
  userEnv: Array<[string, string]>;
  /** Desktop only: the token desktop-app launches call back with (spec §6.5). */
  desktopAppToken?: string;
}

interface Recipe {
  command?: string[];
  args?: string[];
  env: Array<[string, string]>;
  ports: number[];
  workingDir?: string;
}

/** max(1, integer part of the CPU request) (spec §4.2). */
export const threadCount = (coresRequest: number) => Math.max(1, Math.trunc(coresRequest));

function threadEnv(type: SessionType, coresRequest: number): Array<[string, string]> {
  const n = String(threadCount(coresRequest));
  const env: Array<[string, string]> = [['OMP_NUM_THREADS', n]];
  if (type === 'notebook' || type === 'contributed' || type === 'firefly') {
    env.push(['JULIA_NUM_THREADS', n], ['OPENBLAS_NUM_THREADS', n], ['MKL_NUM_THREADS', n]);
  }
  return env;
}

/**
 * The launch recipe of one session type: command, ports and environment, as skaha's chart
 * templates give them (spec §4.2). Pure: tested against whole expected objects.
 */
export function recipeFor(input: RecipeInput): Recipe {
  const { type, sessionId: id, username, layout } = input;
  const home = homeDir(layout, username);
  const common: Array<[string, string]> = [
    ['HOME', home],
    ...(type === 'desktop' ? [] : ([['PWD', home]] as Array<[string, string]>)),
    ['skaha_hostname', input.hostname],
    ['skaha_username', username],
    ['skaha_sessionid', id],
    ['SKAHA_TOP_LEVEL_DIR', layout.topLevelDir],
    ['SKAHA_USER_HOME_DIR', home],
    ['SKAHA_PROJECTS_DIR', projectsDir(layout)],
    ...threadEnv(type, input.resources.coresRequest),
  ];
  const ports = SESSION_TYPE_TABLE[type].ports;
  switch (type) {
    case 'notebook':
      return {
        command: ['/skaha-system/start-jupyterlab.sh', id],
        env: [
          ...common,
          ['JUPYTER_TOKEN', id],
          ['JUPYTER_CONFIG_DIR', `${home}/.jupyter/`],
          ['JUPYTER_DATA_DIR', `${home}/.local/share/jupyter/`],
          ['JUPYTER_RUNTIME_DIR', `${home}/.local/share/jupyter/runtime/`],
          ['JUPYTER_PATH', `${home}/.jupyter/`],
          ['JUPYTERLAB_WORKSPACES_DIR', `${home}/.jupyter/lab/workspaces/`],
          ['JUPYTERLAB_SETTINGS_DIR', `${home}/.jupyter/lab/user-settings/`],
          ['NB_USER', username],
          ['NB_UID', String(input.uid)],
          ['XDG_CACHE_HOME', home],
        ],
        ports,
        workingDir: home,
      };
    case 'desktop':
      return {
        command: ['/skaha-system/start-desktop.sh', input.hostname],
        env: [
          ...common,
          ['VNC_PW', id],
          ['DESKTOP_SESSION_APP_TOKEN', input.desktopAppToken ?? ''],
          ['SKAHA_API_VERSION', 'v0'],
          ['SKAHA_API_URL', input.apiBaseUrl],
          ['MOZ_FORCE_DISABLE_E10S', '1'],
        ],
        ports,
        workingDir: home,
      };
    case 'carta':
      return {
        env: [
          ...common,
          ['CARTA_PORT', '6901'],
          ['CARTA_IDLE_TIMEOUT', '100000'],
          ['SKAHA_SESSION_URL_PATH', `/session/carta/${id}`],
          ['UWS_HTTP_MAX_HEADERS_SIZE', '32768'],
        ],
        ports,
        workingDir: home,
      };
    case 'contributed':
      return { env: common, ports, workingDir: home };
    case 'firefly':
      return {
        env: [...common, ['baseURL', `/session/firefly/${id}/`], ['XDG_CACHE_HOME', home], ['DEBUG', 'FALSE']],
        ports,
        workingDir: home,
      };
    case 'headless':
      return {
        ...(input.cmd ? { command: [input.cmd] } : {}),
        // spec §3.5: args are split on single spaces, not parsed as a shell would.
        ...(input.args ? { args: input.args.split(' ') } : {}),
        // User env first, then the template's (spec §4.2), so HOME and skaha_* cannot be spoofed.
        env: [...input.userEnv, ...common],
        ports,
        workingDir: home,
      };
  }
}

/** Env of a desktop-app container (spec §4.2): DISPLAY on the desktop's X server. */
export function desktopAppEnv(input: {
  sessionId: string;
  username: string;
  layout: StorageLayout;
  display: string;
  coresRequest: number;
  xauthority?: string;
}): Array<[string, string]> {
  const home = homeDir(input.layout, input.username);
  return [
    ['HOME', home],
    ['skaha_sessionid', input.sessionId],
    ['DISPLAY', input.display],
    ['GDK_SYNCHRONIZE', '1'],
    ['SHELL', '/bin/bash'],
    ['OMP_NUM_THREADS', String(threadCount(input.coresRequest))],
    ...(input.xauthority ? ([['XAUTHORITY', input.xauthority]] as Array<[string, string]>) : []),
  ];
}

/** connectURL of spec §4.3 (v1 paths; v0 words for types without one). */
export function connectUrl(base: string, type: SessionType, id: string, username: string, layout: StorageLayout): string {
  const root = base.replace(/\/+$/, '');
  switch (type) {
    case 'desktop':
      return `${root}/session/desktop/${id}/?password=${id}&path=session/desktop/${id}/`;
    case 'notebook': {
      const tree = homeDir(layout, username).replace(/^\/+/, '');
      return `${root}/session/notebook/${id}/lab/tree/${tree}?token=${id}`;
    }
    case 'firefly':
      return `${root}/session/firefly/${id}/firefly/`;
    default: {
      const proxy = SESSION_TYPE_TABLE[type].proxy;
      return proxy ? `${root}/session/${proxy.segment}/${id}/` : 'not-applicable';
    }
  }
}
