import fs from 'node:fs';
import path from 'node:path';
import type { User } from '../store/store.js';
import { passwdFile, groupFile } from './passwd.js';
import { xauthorityFile } from './xauth.js';
import type { Mount } from '../backends/backend.js';
import { homeDir, projectsDir, type StorageLayout } from '../sessions/recipes.js';

/**
 * User storage on the host for the embedded engine: homes and projects under `hostDir`
 * (seen in containers at `layout.topLevelDir`), plus per-session files (passwd, group, scratch)
 * under `<dataDir>/sessions/<id>`, removed with the session.
 */
export class HostStorage {
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

  /** Create the user's home (0700, owned by them) on first use; later calls change nothing. */
  ensureHome(user: User): string {
    const home = path.join(this.hostDir, 'home', user.username);
    fs.mkdirSync(path.join(this.hostDir, 'home'), { recursive: true, mode: 0o755 });
    fs.mkdirSync(path.join(this.hostDir, 'projects'), { recursive: true, mode: 0o755 });
    try {
      fs.mkdirSync(home, { mode: 0o700 });
      fs.chownSync(home, user.uid, user.gid);
      fs.chmodSync(home, 0o700);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    return home;
  }

  sessionDir(sessionKey: string): string {
    return path.join(this.dataDir, 'sessions', sessionKey.replace('/', '-'));
  }

  /**
   * Write the session's passwd/group files and scratch directory; return the mounts of a
   * session: home, projects, scratch, passwd, group.
   */
  prepareSession(sessionKey: string, user: User): Mount[] {
    const hostHome = this.ensureHome(user);
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

  /** Where a desktop's X cookie appears in its container and in its apps' containers. */
  static readonly XAUTHORITY = '/skaha-session/Xauthority';

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
    return { kind: 'file', hostPath: path.join(this.sessionDir(sessionId), 'Xauthority'), containerPath: HostStorage.XAUTHORITY, secret: true };
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
