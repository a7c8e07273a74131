import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { PROXY_CERT_INFO_OID } from './pki.js';

type ChainVerdict = { ok: true; subject: string; commonName: string; proxies: number } | { ok: false; reason: string };

/** Parsed bits of the extensions Node does not expose: proxyCertInfo and its path length. */
function proxyInfo(cert: X509Certificate): { present: boolean; pathLen?: number } {
  const { asn1 } = forge;
  const root = asn1.fromDer(forge.util.createBuffer(cert.raw.toString('binary')));
  const tbs = (root.value as forge.asn1.Asn1[])[0]!;
  const explicit = (tbs.value as forge.asn1.Asn1[]).find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 3);
  const extensions = explicit ? ((explicit.value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[]) : [];
  for (const ext of extensions) {
    const parts = ext.value as forge.asn1.Asn1[];
    if (asn1.derToOid(forge.util.createBuffer(parts[0]!.value as string)) !== PROXY_CERT_INFO_OID) continue;
    const value = asn1.fromDer(forge.util.createBuffer(parts[parts.length - 1]!.value as string));
    const first = (value.value as forge.asn1.Asn1[])[0];
    if (first && first.type === asn1.Type.INTEGER) return { present: true, pathLen: asn1.derToInteger(forge.util.createBuffer(first.value as string)) };
    return { present: true };
  }
  return { present: false };
}

const rdns = (dn: string) => dn.split('\n').filter(Boolean);
const commonName = (dn: string) =>
  rdns(dn)
    .filter((r) => r.startsWith('CN='))
    .pop()
    ?.slice(3) ?? '';

/**
 * Is `cert` a proxy of `issuer`? RFC 3820: proxyCertInfo present and the subject is the issuer's
 * subject plus one CN; legacy Globus: subject is the issuer's plus CN=proxy or CN=limited proxy.
 */
function proxyKind(cert: X509Certificate): 'rfc3820' | 'legacy' | undefined {
  const subject = rdns(cert.subject);
  const issuer = rdns(cert.issuer);
  const extendsIssuer = subject.length === issuer.length + 1 && issuer.every((r, i) => subject[i] === r) && subject[subject.length - 1]!.startsWith('CN=');
  if (!extendsIssuer) return undefined;
  if (proxyInfo(cert).present) return 'rfc3820';
  const last = subject[subject.length - 1];
  return last === 'CN=proxy' || last === 'CN=limited proxy' ? 'legacy' : undefined;
}

function inValidity(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);
}

/**
 * Validate a client chain as sent in the TLS handshake (leaf first), allowing RFC 3820 and
 * legacy proxy certificates, which OpenSSL refuses by default: every signature, every validity
 * window, the proxy naming rule, proxy path lengths, and an end-entity certificate issued by one
 * of `trusted`. The identity is the end entity's subject.
 */
export function verifyClientChain(chain: X509Certificate[], trusted: X509Certificate[], now = new Date()): ChainVerdict {
  if (chain.length === 0) return { ok: false, reason: 'no client certificate' };
  let proxies = 0;
  let i = 0;
  // Walk the proxies down from the leaf to the end-entity certificate.
  for (; i < chain.length; i++) {
    const cert = chain[i]!;
    if (!inValidity(cert, now)) return { ok: false, reason: `certificate ${commonName(cert.subject) || cert.subject} is outside its validity period` };
    const kind = proxyKind(cert);
    if (!kind) break;
    const issuer = chain[i + 1];
    if (!issuer) return { ok: false, reason: 'a proxy certificate came without the certificate that signed it' };
    if (issuer.subject !== cert.issuer || !cert.verify(issuer.publicKey))
      return { ok: false, reason: 'a proxy certificate is not signed by the next certificate of the chain' };
    if (issuer.ca) return { ok: false, reason: 'a proxy certificate must be signed by a user certificate, not a CA' };
    // RFC 3820 §3.8: a proxy's pCPathLenConstraint bounds the proxies below it; chain[i] has i.
    const info = proxyInfo(cert);
    if (info.pathLen !== undefined && i > info.pathLen) return { ok: false, reason: 'proxy path length exceeded' };
    proxies++;
  }
  const eec = chain[i];
  if (!eec) return { ok: false, reason: 'no end-entity certificate in the chain' };
  if (eec.ca) return { ok: false, reason: 'a CA certificate cannot be used as a client certificate' };
  const anchor = trusted.find((ca) => ca.subject === eec.issuer && eec.verify(ca.publicKey));
  if (!anchor) return { ok: false, reason: 'the certificate is not issued by a trusted authority' };
  if (!inValidity(anchor, now)) return { ok: false, reason: 'the issuing authority is outside its validity period' };
  return { ok: true, subject: eec.subject.split('\n').join(','), commonName: commonName(eec.subject), proxies };
}
