import fs from 'node:fs';
import path from 'node:path';
import type { User } from '../store/store.js';
import { passwdFile, groupFile } from './passwd.js';
import { xauthorityFile } from './xauth.js';
import type { Mount } from '../backends/backend.js';
import { homeDir, projectsDir, type StorageLayout } from '../sessions/recipes.js';

/** Where a desktop's X cookie appears in its container and in its apps' containers. */
export const XAUTHORITY_PATH = '/skaha-session/Xauthority';

/**
 * What the session service needs of user storage: the mounts of a session (its user's home and
 * the projects, scratch, passwd and group, a desktop's X cookie, the launch scripts) and the
 * lifecycle of the per-session files behind them. Backends map each typed mount onto their own
 * volume kind; this side decides what a session gets, not how an engine mounts it.
 */
export interface SessionStorage {
  /** Where storage appears in containers (`/arc`). */
  readonly layout: StorageLayout;
  /** Make the session's own files (and the user's home on first use); its mounts. */
  prepareSession(sessionKey: string, user: User): Mount[];
  /** The platform's launch scripts, the same for every session. */
  systemMounts(): Mount[];
  /** A new X cookie for a desktop: the mount that gives it to the desktop. */
  createDesktopXauthority(sessionId: string): Mount;
  /** The desktop's X cookie, for its apps. */
  desktopXauthority(sessionId: string): Mount;
  removeSession(sessionKey: string): void;
  /** The sessions that have files, made at least `minAgeMs` ago (to sweep those whose session is gone). */
  sessionKeys(minAgeMs?: number): string[];
}

/**
 * Create a user's home (0700, owned by them) on first use; later calls change nothing. One
 * rule for a session launch and for the storage service's first upload.
 */
export function ensureUserHome(home: string, user: Pick<User, 'uid' | 'gid'>): void {
  if (fs.existsSync(home)) return;
  fs.mkdirSync(path.dirname(home), { recursive: true, mode: 0o755 });
  try {
    fs.mkdirSync(home, { mode: 0o700 });
    fs.chownSync(home, user.uid, user.gid);
    fs.chmodSync(home, 0o700);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/**
 * User storage on the host for the embedded engine: homes and projects under `hostDir`
 * (seen in containers at `layout.topLevelDir`), plus per-session files (passwd, group, scratch)
 * under `<dataDir>/sessions/<id>`, removed with the session. On Kubernetes the same directory
 * is the platform pod's mount of the user-storage volume.
 */
export class HostStorage implements SessionStorage {
  constructor(
    private readonly hostDir: string,
    private readonly dataDir: string,
    readonly layout: StorageLayout,
    private readonly launchScriptsDir: string,
  ) {}

  /** The platform's launch scripts, read-only at /skaha-system as skaha's chart mounts them. */
  systemMounts(): Mount[] {
    return [{ kind: 'launchScripts', hostPath: this.launchScriptsDir, containerPath: '/skaha-system' }];
  }

  private sessionDir(sessionKey: string): string {
    return path.join(this.dataDir, 'sessions', sessionKey.replace('/', '-'));
  }

  /**
   * Write the session's passwd/group files and scratch directory; return the mounts of a
   * session: home, projects, scratch, passwd, group.
   */
  prepareSession(sessionKey: string, user: User): Mount[] {
    const hostHome = path.join(this.hostDir, 'home', user.username);
    ensureUserHome(hostHome, user);
    fs.mkdirSync(path.join(this.hostDir, 'projects'), { recursive: true, mode: 0o755 });
    const dir = this.sessionDir(sessionKey);
    const scratch = path.join(dir, 'scratch');
    fs.mkdirSync(scratch, { recursive: true, mode: 0o700 });
    fs.chownSync(scratch, user.uid, user.gid);
    const home = homeDir(this.layout, user.username);
    fs.writeFileSync(path.join(dir, 'passwd'), passwdFile(user, home), { mode: 0o644 });
    fs.writeFileSync(path.join(dir, 'group'), groupFile(user), { mode: 0o644 });
    return [
      { kind: 'storage', hostPath: hostHome, subPath: path.relative(this.hostDir, hostHome), containerPath: home, readOnly: false },
      { kind: 'storage', hostPath: path.join(this.hostDir, 'projects'), subPath: 'projects', containerPath: projectsDir(this.layout), readOnly: false },
      { kind: 'scratch', hostPath: scratch, containerPath: '/scratch' },
      { kind: 'file', hostPath: path.join(dir, 'passwd'), containerPath: '/etc/passwd', secret: false },
      { kind: 'file', hostPath: path.join(dir, 'group'), containerPath: '/etc/group', secret: false },
    ];
  }

  /**
   * Write a new X cookie for a desktop session; returns the mount that gives it to the desktop
   * (and, through `desktopXauthority`, to its apps).
   */
  createDesktopXauthority(sessionId: string): Mount {
    const file = path.join(this.sessionDir(sessionId), 'Xauthority');
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Readable inside the container (which runs as the user); the session directory itself is
    // not reachable by anyone else on the host.
    fs.writeFileSync(file, xauthorityFile('1'), { mode: 0o644 });
    return this.desktopXauthority(sessionId);
  }

  desktopXauthority(sessionId: string): Mount {
    return { kind: 'file', hostPath: path.join(this.sessionDir(sessionId), 'Xauthority'), containerPath: XAUTHORITY_PATH, secret: true };
  }

  removeSession(sessionKey: string): void {
    fs.rmSync(this.sessionDir(sessionKey), { recursive: true, force: true });
  }

  /** Session directories on disk at least `minAgeMs` old (to sweep those whose session is gone). */
  sessionKeys(minAgeMs = 0): string[] {
    const root = path.join(this.dataDir, 'sessions');
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      return [];
    }
    const now = Date.now();
    return names
      .filter((d) => {
        try {
          return now - fs.statSync(path.join(root, d)).mtimeMs >= minAgeMs;
        } catch {
          return false;
        }
      })
      .map((d) => d.replace('-', '/'));
  }
}
