import fs from 'node:fs';
import net from 'node:net';

/**
 * A free loopback port for a server that binds it later (etcd, the API server, PostgreSQL, the
 * registry, an OIDC issuer), chosen below the kernel's ephemeral range. A port from listen(0) is
 * an ephemeral one, which any outgoing connection of the busy test machine may take as its
 * source port before the server binds it (seen in CI: "bind: address already in use"). Below
 * the range only another listener can hold it, and that is checked.
 */
export async function freePort(): Promise<number> {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // Not Linux: the common default.
  }
  const high = Math.min(ephemeralLow - 1, 32767);
  const low = Math.min(10_000, high - 1000);
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (!taken.has(port) && (await canListen(port))) {
      // Handed out once per test process, so two servers started together never get the same.
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port found in ${low}-${high}`);
}

const taken = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
