import dns from 'node:dns';
import { Agent, fetch as undiciFetch, type RequestInit, type Response } from 'undici';

/**
 * Browsers resolve every name under `localhost` to loopback without DNS (RFC 6761), which is
 * how a session's own origin (`<id>.localhost`) works on the embedded default; glibc does not.
 * This agent does what the browser does, so tests reach sessions at their real addresses.
 */
const browserLikeResolver = new Agent({
  connect: {
    lookup: ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
      if (hostname !== 'localhost' && !hostname.endsWith('.localhost')) return dns.lookup(hostname, options, callback as never);
      if (options.all) return callback(null, [{ address: '127.0.0.1', family: 4 }]);
      return callback(null, '127.0.0.1', 4);
    }) as unknown as typeof dns.lookup,
  },
});

/** fetch with *.localhost resolved as a browser resolves it. */
export function fetchLocal(url: string, init: RequestInit = {}): Promise<Response> {
  return undiciFetch(url, { ...init, dispatcher: browserLikeResolver });
}

/** A session's own origin on a test platform (proxy/origins.ts, sessionsDomain `auto`). */
export function sessionOrigin(base: string, id: string): string {
  return `http://${id}.localhost:${new URL(base).port}`;
}

/**
 * What a logged-in browser does to open a session on its own origin: ask the portal for a ticket
 * (`/session-login`, with the login cookie), trade it on the session's origin for a session
 * cookie. Returns that cookie (`name=value`).
 */
export async function sessionCookieFor(base: string, loginCookie: string, id: string, path = `/session/contrib/${id}/`): Promise<string> {
  const to = `${sessionOrigin(base, id)}${path}`;
  const ticket = await fetchLocal(`${base}/session-login?to=${encodeURIComponent(to)}`, { headers: { cookie: loginCookie }, redirect: 'manual' });
  if (ticket.status !== 302) throw new Error(`session-login answered ${ticket.status}: ${await ticket.text()}`);
  const traded = await fetchLocal(ticket.headers.get('location')!, { redirect: 'manual' });
  const cookie = traded.headers.get('set-cookie');
  if (traded.status !== 302 || !cookie) throw new Error(`the ticket was not traded: ${traded.status} ${await traded.text()}`);
  return cookie.split(';')[0]!;
}
