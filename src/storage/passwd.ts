import type { User } from '../store/store.js';

/** Debian's base-passwd accounts, so tools in any standard image still resolve system ids. */
const BASE_PASSWD = [
  'root:x:0:0:root:/root:/usr/sbin/nologin',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'bin:x:2:2:bin:/bin:/usr/sbin/nologin',
  'sys:x:3:3:sys:/dev:/usr/sbin/nologin',
  'sync:x:4:65534:sync:/bin:/bin/sync',
  'man:x:6:12:man:/var/cache/man:/usr/sbin/nologin',
  'mail:x:8:8:mail:/var/mail:/usr/sbin/nologin',
  'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
  '_apt:x:42:65534::/nonexistent:/usr/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
];

const BASE_GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'bin:x:2:',
  'sys:x:3:',
  'adm:x:4:',
  'tty:x:5:',
  'disk:x:6:',
  'mail:x:8:',
  'man:x:12:',
  'www-data:x:33:',
  'users:x:100:',
  'nogroup:x:65534:',
];

/**
 * The /etc/passwd a session sees: system accounts plus its user (spec §6.3), so `id`, `whoami`,
 * `ls -l` and shells show names, not numbers. Mounted read-only.
 */
export function passwdFile(user: User, home: string): string {
  return [...BASE_PASSWD, `${user.username}:x:${user.uid}:${user.gid}:${user.username}:${home}:/bin/bash`].join('\n') + '\n';
}

/** The /etc/group a session sees: system groups, the user's personal group and shared groups. */
export function groupFile(user: User): string {
  return [...BASE_GROUP, `${user.username}:x:${user.gid}:`, ...user.groups.map((g) => `${g.name}:x:${g.gid}:${user.username}`)].join('\n') + '\n';
}
