import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The chains this backend owns in the filter table; FORWARD and INPUT jump to them first. */
const FORWARD_CHAIN = 'SKAHA_ISOLATION';
const FORWARD_DROP_CHAIN = 'SKAHA_ISOLATION_2';
const INPUT_CHAIN = 'SKAHA_INPUT';
/** Marks a bridge's callback-port rule, so a restart on another port replaces it. */
const CALLBACK_COMMENT = 'skaha callback listener';
/** aardvark-dns answers a network's container names (and forwards the rest) on its gateway. */
const DNS_PORT = '53';

/**
 * A session reaches its own desktop-apps, the callback listener and the outside world, never
 * another user's session nor any other port of this host (issue 15 point 4).
 *
 * Forwarding between two users' session networks is dropped: netavark's own `isolate` option
 * does this in principle, but netavark 1.4 (Debian 12) left its isolation chains empty here for
 * networks set up through the compatible API, so the backend keeps its own rules, in netavark's
 * shape (two chains: a packet entering from a session bridge and leaving through another one is
 * dropped).
 *
 * Traffic from a session bridge to the host itself (its gateway address, or any other address of
 * the host: the engine's API, a database, the platform's own port) is refused, except DNS, the
 * callback listener's port, and the replies of connections the host opened (the proxy's).
 *
 * There is no API for the kernel's packet filter beyond the iptables command (iptables-nft on
 * Debian), which netavark itself needs installed.
 */
export class SessionFirewall {
  private readonly bridges: string[] = [];
  private callbackPort: number | undefined;
  private applied: Promise<void> = Promise.resolve();

  constructor(private readonly log: { warn(message: string): void }) {}

  /** Isolate these bridges (the session networks' interfaces) from each other and from the host. */
  isolate(bridges: Iterable<string>): Promise<void> {
    const added = [...bridges].filter((b) => !this.bridges.includes(b));
    if (!added.length) return this.applied;
    this.bridges.push(...added);
    return this.queue(() => this.apply(added));
  }

  /** Sessions may reach this host port (the callback listener's), on every bridge now and later. */
  openCallbackPort(port: number): Promise<void> {
    if (this.callbackPort === port) return this.applied;
    this.callbackPort = port;
    return this.queue(() => this.apply(this.bridges));
  }

  private queue(change: () => Promise<void>): Promise<void> {
    this.applied = this.applied.then(change).catch((err: unknown) => {
      this.log.warn(`sessions are not isolated: iptables failed: ${(err as Error).message.split('\n')[0]}`);
    });
    return this.applied;
  }

  /**
   * Rules are added, never flushed: servers sharing an engine (each with its own networks) add
   * theirs beside the others'. A rule for a bridge that is gone does nothing until a session
   * network takes the name again. In SKAHA_INPUT what a bridge may reach is inserted at the top
   * and its refusal appended, so every exception comes before every refusal.
   *
   * One `iptables-save` reads what is there and one `iptables-restore --noflush` adds what is
   * missing (a user's first launch pays two commands, not a dozen). Rules are written as
   * iptables-save prints them, which is how "already there" is recognised.
   */
  private async apply(bridges: string[]): Promise<void> {
    const saved = (await run('iptables-save', ['-t', 'filter'])).stdout;
    const present = new Set(saved.split('\n').map((line) => line.trim()));
    const changes: string[] = [];
    for (const chain of [FORWARD_CHAIN, FORWARD_DROP_CHAIN, INPUT_CHAIN]) {
      // Declaring a chain that exists would flush it, even with --noflush.
      if (!new RegExp(`^:${chain} `, 'm').test(saved)) changes.push(`:${chain} - [0:0]`);
    }
    const add = (chain: string, rule: string, where: 'top' | 'end') => {
      if (!present.has(`-A ${chain} ${rule}`)) changes.push(where === 'top' ? `-I ${chain} 1 ${rule}` : `-A ${chain} ${rule}`);
    };
    const port = this.callbackPort === undefined ? undefined : String(this.callbackPort);
    for (const rule of parseCallbackRules(saved)) {
      if (port !== undefined && bridges.includes(rule.bridge) && rule.port !== port) changes.push(`-D ${INPUT_CHAIN} ${callbackRule(rule.bridge, rule.port)}`);
    }
    for (const bridge of bridges) {
      add(FORWARD_CHAIN, `-i ${bridge} ! -o ${bridge} -j ${FORWARD_DROP_CHAIN}`, 'end');
      add(FORWARD_DROP_CHAIN, `-o ${bridge} -j DROP`, 'end');
      add(INPUT_CHAIN, `-i ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`, 'top');
      for (const protocol of ['udp', 'tcp']) add(INPUT_CHAIN, `-i ${bridge} -p ${protocol} -m ${protocol} --dport ${DNS_PORT} -j RETURN`, 'top');
      if (port !== undefined) add(INPUT_CHAIN, callbackRule(bridge, port), 'top');
      // REJECT, not DROP: a refused connection fails at once instead of hanging a client.
      add(INPUT_CHAIN, `-i ${bridge} -j REJECT --reject-with icmp-port-unreachable`, 'end');
    }
    // First in FORWARD and INPUT, before netavark's ACCEPT rules.
    add('FORWARD', `-j ${FORWARD_CHAIN}`, 'top');
    add('INPUT', `-j ${INPUT_CHAIN}`, 'top');
    if (changes.length) await restore(['*filter', ...changes, 'COMMIT', ''].join('\n'));
  }
}

/** `iptables-restore --noflush` of these lines, on stdin. */
function restore(input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('iptables-restore', ['--wait', '--noflush'], (err, _stdout, stderr) =>
      err ? reject(new Error(stderr.trim() || err.message)) : resolve(),
    );
    child.stdin?.end(input);
  });
}

function callbackRule(bridge: string, port: string): string {
  return `-i ${bridge} -p tcp -m tcp --dport ${port} -m comment --comment "${CALLBACK_COMMENT}" -j RETURN`;
}

/** The callback-port rules in `iptables-save` output: bridge and port of each. */
export function parseCallbackRules(listing: string): Array<{ bridge: string; port: string }> {
  const rules: Array<{ bridge: string; port: string }> = [];
  for (const line of listing.split('\n')) {
    if (!line.startsWith(`-A ${INPUT_CHAIN} `) || !line.includes(`--comment "${CALLBACK_COMMENT}"`)) continue;
    const bridge = /-i (\S+)/.exec(line)?.[1];
    const port = /--dport (\d+)/.exec(line)?.[1];
    if (bridge && port) rules.push({ bridge, port });
  }
  return rules;
}
