import type Docker from 'dockerode';
import { autoNetwork, claimConflict, claimIsLive, claimLabels, claimOf, DEFAULT_NETWORK, engineClaims, isOwnClaim, type EngineClaim } from './claim.js';
import { dial, engineMessage, statusCodeOf } from './engine-api.js';
import { SessionFirewall } from './firewall.js';
import { LABEL } from './objects.js';
import { inSubnet, ipv4Of } from './networks.js';

interface SessionNetworksOptions {
  /** podman.network: this server's name on the engine; empty: chosen by claim(). */
  network: string;
  /** Who this server is on an engine other servers may share (claim.ts). */
  identity: Omit<EngineClaim, 'network'>;
  /** Whether identity's uid range was configured (an overlap refuses to start) or kept by the platform (a warning). */
  uidRangeConfigured: boolean;
  log: { info(message: string): void; warn(message: string): void };
}

/**
 * This server's place on the engine: its name (claimed against other servers sharing the
 * engine), the base network and one network per user, `<name>-u<uid>`, created with netavark's
 * `isolate` option and this backend's own firewall rules. A session reaches its own
 * desktop-apps (which share its network namespace), the user's other sessions, the callback
 * listener on its gateway and the outside world, never another user's session (issue 15).
 */
export class SessionNetworks {
  private network: string;
  /** Networks made (or found) so far, by name. */
  private readonly ready = new Map<string, Promise<void>>();
  /** The networks sessions are attached to: their containers (not the gateway) may call the API back. */
  private readonly sessionNetworks = new Map<string, { subnet: string; gateway: string }>();
  /** Drops forwarding between users' session networks, and sessions' traffic to host ports. */
  private readonly firewall: SessionFirewall;

  constructor(
    private readonly docker: Docker,
    private readonly opts: SessionNetworksOptions,
  ) {
    this.network = opts.network || DEFAULT_NETWORK;
    this.firewall = new SessionFirewall(opts.log);
  }

  /** This server's name on the engine (the `instance` label of its containers). */
  get name(): string {
    return this.network;
  }

  /** The network of a user's sessions. */
  of(uid: number): string {
    return `${this.network}-u${uid}`;
  }

  /**
   * Whether a container's labels make it this server's. Containers made before servers labelled
   * theirs belong to the server on the default network name, the only one there was.
   */
  isOurs(labels: Record<string, string>): boolean {
    const owner = labels[LABEL.instance];
    return owner === undefined ? this.network === DEFAULT_NETWORK : owner === this.network;
  }

  /**
   * Record this server's claim on the engine (its network name and uid range), after checking
   * that no other live server holds either (claim.ts). A claim is written as labels of the base
   * network, which the engine cannot relabel: an unlabelled one (made before claims existed) or
   * a gone server's is replaced.
   */
  async claim(): Promise<void> {
    const { claims, networks } = await engineClaims(this.docker);
    if (!this.opts.network) this.network = autoNetwork(this.opts.identity.dataDir, claims, claimIsLive);
    const mine: EngineClaim = { network: this.network, ...this.opts.identity };
    const { refuse, warning } = claimConflict(mine, claims, claimIsLive, this.opts.uidRangeConfigured);
    if (refuse) throw new Error(`cannot start beside another skaha server on this engine: ${refuse}`);
    if (warning) this.opts.log.warn(warning);
    if (this.network !== DEFAULT_NETWORK) this.opts.log.info(`sessions run on the engine's networks ${this.network}-u<uid> (podman.network)`);
    const base = networks.find((n) => n.Name === mine.network);
    const current = claimOf(base?.Labels);
    if (current && isOwnClaim(mine, current) && current.uidMin === mine.uidMin && current.uidMax === mine.uidMax && current.store === mine.store) return;
    if (base) {
      try {
        await this.docker.getNetwork(base.Name).remove();
      } catch (err) {
        this.opts.log.warn(
          `network ${base.Name} is in use and keeps an old claim (${engineMessage(err)}); other servers on this engine may not see this one's uid range`,
        );
        return;
      }
    }
    await this.docker.createNetwork({ Name: mine.network, Driver: 'bridge', Labels: claimLabels(mine), Options: { isolate: 'true' } });
  }

  /** The networks of earlier runs: isolated again, and their sessions may call back at once. */
  async adoptExisting(): Promise<void> {
    const prefix = `${this.network}-u`;
    const bridges: string[] = [];
    for (const n of await this.docker.listNetworks({ filters: { name: [prefix] } })) {
      if (!n.Name?.startsWith(prefix)) continue;
      const ipv4 = ipv4Of((await this.docker.getNetwork(n.Name).inspect()) as Parameters<typeof ipv4Of>[0]);
      if (ipv4) this.sessionNetworks.set(ipv4.subnet, ipv4);
      bridges.push(await this.bridgeOf(n.Name));
    }
    await this.firewall.isolate(bridges);
  }

  /** Make the network if it is missing (once per name and run), isolated from the others. */
  ensure(name: string): Promise<void> {
    let ready = this.ready.get(name);
    if (!ready) {
      ready = (async () => {
        const existing = await this.docker.listNetworks({ filters: { name: [name] } });
        if (!existing.some((n) => n.Name === name)) {
          // isolate: netavark drops traffic between this network and every other isolated one.
          await this.docker.createNetwork({ Name: name, Driver: 'bridge', Options: { isolate: 'true' } }).catch((err) => {
            if (statusCodeOf(err) !== 409) throw err;
          });
        }
        // And so do this backend's own rules, whatever netavark does (firewall.ts).
        if (name !== this.network) await this.firewall.isolate([await this.bridgeOf(name)]);
      })().catch((err) => {
        this.ready.delete(name);
        throw err;
      });
      this.ready.set(name, ready);
    }
    return ready;
  }

  /** The gateway of the user's network (made now if missing): where their sessions call back. */
  async hostAddress(uid?: number): Promise<string | undefined> {
    const name = uid === undefined ? this.network : this.of(uid);
    try {
      await this.ensure(name);
      const ipv4 = ipv4Of((await this.docker.getNetwork(name).inspect()) as Parameters<typeof ipv4Of>[0]);
      if (ipv4) this.sessionNetworks.set(ipv4.subnet, ipv4);
      return ipv4?.gateway;
    } catch (err) {
      this.opts.log.warn(`no host address for sessions: ${engineMessage(err)}`);
      return undefined;
    }
  }

  isSessionPeer(address: string): boolean {
    // The gateway is this host itself: a host process is not a session container.
    return [...this.sessionNetworks.values()].some((n) => address !== n.gateway && inSubnet(address, n.subnet));
  }

  openCallbackPort(port: number): Promise<void> {
    return this.firewall.openCallbackPort(port);
  }

  /** The host's name of a network's bridge (Podman's own API says it; the compatible one does not). */
  private async bridgeOf(network: string): Promise<string> {
    const data = await dial<{ network_interface?: string }>(this.docker, `/v4.0.0/libpod/networks/${encodeURIComponent(network)}/json`, {});
    if (!data?.network_interface) throw new Error(`network ${network} names no bridge`);
    return data.network_interface;
  }
}
