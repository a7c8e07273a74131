import { SESSION_ID } from '../sessions/ids.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The query parameter carrying a ticket from the portal to a session's own origin. */
export const TICKET_PARAM = 'skaha_ticket';

/**
 * Each session on an origin of its own (issue 15 point 1), as JupyterHub's `subdomain_host` but
 * per session: `<scheme>://<session id>.<domain>[:port]`, with skaha's paths under it. A page a
 * session serves then shares nothing with the portal: not its cookies (host-only, and the login
 * cookie is never sent to a session origin), not its storage, service workers or same-origin
 * access. Browsers resolve every name under `localhost` to loopback without DNS, so the embedded
 * default needs no set-up; a cluster needs a wildcard DNS name and certificate (docs/operations.md).
 */
export class SessionOrigins {
  /**
   * `setting` (config proxy.sessionsDomain): a domain; `auto`: `localhost` when the platform is
   * reached on loopback (the embedded default) and none otherwise (a cluster names its wildcard
   * domain); empty: sessions are served from the platform's own origin (no isolation).
   */
  constructor(
    private readonly setting: string,
    private readonly base: () => string,
  ) {}

  get domain(): string {
    if (this.setting !== 'auto') return this.setting.replace(/^\.+|\.+$/g, '').toLowerCase();
    return LOOPBACK.has(new URL(this.base()).hostname) ? 'localhost' : '';
  }

  /** A path on the platform's own origin (the portal's). */
  platformUrl(pathAndQuery: string): string {
    return `${new URL(this.base()).origin}${pathAndQuery}`;
  }

  get enabled(): boolean {
    return this.domain !== '';
  }

  /** The base URL of a session's own origin; the platform's own base when isolation is off. */
  baseOf(sessionId: string): string {
    const base = new URL(this.base());
    const domain = this.domain;
    if (!domain) return base.origin;
    return `${base.protocol}//${sessionId}.${domain}${base.port ? `:${base.port}` : ''}`;
  }

  /**
   * A URL on a session's own origin under `/session/<type>/<that id>/`: the session's ID, or
   * undefined for anything else (the portal only hands tickets to such addresses).
   */
  sessionAt(url: string): string | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return undefined;
    }
    const id = this.sessionOf(parsed.host);
    if (!id || parsed.origin !== this.baseOf(id) || parsed.username || parsed.password) return undefined;
    return parsed.pathname.startsWith('/session/') && parsed.pathname.split('/')[3] === id ? id : undefined;
  }

  /** The session a request's Host names, when it is a session origin. */
  sessionOf(host: string | undefined): string | undefined {
    const domain = this.domain;
    if (!domain || !host) return undefined;
    const name = host.replace(/:\d+$/, '').toLowerCase();
    const suffix = `.${domain}`;
    if (!name.endsWith(suffix)) return undefined;
    const label = name.slice(0, -suffix.length);
    return SESSION_ID.test(label) ? label : undefined;
  }
}
