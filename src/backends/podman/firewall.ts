import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The chains this backend owns in the filter table; FORWARD jumps to the first before netavark's. */
const CHAIN = 'SKAHA_ISOLATION';
const DROP_CHAIN = 'SKAHA_ISOLATION_2';

/**
 * Forwarding between two users' session networks is dropped (issue 15 point 4). Netavark's own
 * `isolate` option does this in principle, but netavark 1.4 (Debian 12) left its isolation chains
 * empty here for networks set up through the compatible API, so the backend keeps its own rules,
 * in netavark's shape: a packet entering from a session bridge and leaving through another
 * session bridge is dropped (two chains: one rule per bridge in each). There is no API for the
 * kernel's packet filter beyond the iptables command (iptables-nft on Debian), which netavark
 * itself needs installed.
 */
export class SessionFirewall {
  private readonly bridges: string[] = [];
  private applied: Promise<void> = Promise.resolve();

  constructor(private readonly log: { warn(message: string): void }) {}

  /** Isolate these bridges (the session networks' interfaces) from each other and from the rest. */
  isolate(bridges: Iterable<string>): Promise<void> {
    const added = [...bridges].filter((b) => !this.bridges.includes(b));
    if (!added.length) return this.applied;
    this.bridges.push(...added);
    this.applied = this.applied.then(() => this.apply(added)).catch((err: unknown) => {
      this.log.warn(`sessions are not isolated from each other: iptables failed: ${(err as Error).message.split('\n')[0]}`);
    });
    return this.applied;
  }

  /**
   * Rules are added, never flushed: servers sharing an engine (each with its own networks) add
   * theirs beside the others'. A rule for a bridge that is gone does nothing until a session
   * network takes the name again.
   */
  private async apply(bridges: string[]): Promise<void> {
    const iptables = (...args: string[]) => run('iptables', ['-w', ...args]);
    const ensure = async (chain: string, rule: string[], position?: string) => {
      if (await iptables('-C', chain, ...rule).then(() => true, () => false)) return;
      await iptables(...(position ? ['-I', chain, position] : ['-A', chain]), ...rule);
    };
    for (const chain of [CHAIN, DROP_CHAIN]) await iptables('-N', chain).catch(() => undefined); // exists already
    for (const bridge of bridges) {
      await ensure(CHAIN, ['-i', bridge, '!', '-o', bridge, '-j', DROP_CHAIN]);
      await ensure(DROP_CHAIN, ['-o', bridge, '-j', 'DROP']);
    }
    // First in FORWARD, before netavark's ACCEPT rules.
    await ensure('FORWARD', ['-j', CHAIN], '1');
  }
}
