import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { IdentityStore } from '../../store/store.js';
import { validateUsername } from '../../store/shared.js';
import type { Authenticator, Credentials, Principal, Refusal } from '../authenticator.js';
import { verifyClientChain } from './verify.js';

interface X509Options {
  /** PEM bundle of the authorities whose user certificates are accepted. */
  trusted: X509Certificate[];
  /** DN (comma form, e.g. `O=skaha,CN=alice`) → username; otherwise the CN is the username. */
  dnMap: Record<string, string>;
}

/** PEM bundle → certificates. */
export function readCertificates(file: string): X509Certificate[] {
  const text = fs.readFileSync(file, 'utf8');
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
}

/** The chain the client sent, leaf first, as Node exposes it. */
function peerChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let cert = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (cert && cert.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(new X509Certificate(cert.raw));
    cert = cert.issuerCertificate;
  }
  return chain;
}

/**
 * TLS client certificates, including RFC 3820 and legacy proxy certificates (`curl -E
 * cadcproxy.pem`). Tried first: a client that presents a certificate is judged by it, and a bad
 * one is a 401, never a fall-through to other credentials.
 */
export class X509Authenticator implements Authenticator {
  readonly name = 'x509';

  constructor(
    private readonly opts: X509Options,
    private readonly store: IdentityStore,
  ) {}

  matches(req: Credentials): boolean {
    const socket = req.socket as TLSSocket | undefined;
    return Boolean(socket && typeof socket.getPeerCertificate === 'function' && socket.getPeerCertificate()?.raw);
  }

  async authenticate(req: Credentials): Promise<Principal | Refusal | undefined> {
    const verdict = verifyClientChain(peerChain(req.socket as TLSSocket), this.opts.trusted);
    if (!verdict.ok) {
      return { refused: `client certificate not accepted: ${verdict.reason}` };
    }
    const username = this.opts.dnMap[verdict.subject] ?? verdict.commonName;
    if (validateUsername(username)) {
      return { refused: `client certificate not accepted: no username for ${verdict.subject}` };
    }
    return { user: await this.store.ensureUser(username), method: 'x509', scopes: new Set(['read', 'launch', 'admin']) };
  }
}
