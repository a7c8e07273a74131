import crypto from 'node:crypto';
import forge from 'node-forge';

/** RFC 3820 proxyCertInfo extension, and the "inherit all" policy language. */
export const PROXY_CERT_INFO_OID = '1.3.6.1.5.5.7.1.14';
const INHERIT_ALL_OID = '1.3.6.1.5.5.7.21.1';

export interface Issued {
  certPem: string;
  keyPem: string;
}

const DAY_MS = 86_400_000;

function rsaKeys(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey; keyPem: string } {
  // Node generates the key (fast, native); forge only builds and signs the certificate.
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

function serial(): string {
  // Positive, 16 bytes.
  return '01' + crypto.randomBytes(15).toString('hex');
}

function base(
  subject: forge.pki.CertificateField[],
  issuer: forge.pki.CertificateField[],
  publicKey: forge.pki.PublicKey,
  days: number,
  notBefore = new Date(Date.now() - 5 * 60_000),
) {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = new Date(notBefore.getTime() + days * DAY_MS);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  return cert;
}

/** A self-signed certificate authority for the platform (server and user certificates). */
export function createCa(commonName: string, days = 3650): Issued {
  const keys = rsaKeys();
  const subject = [
    { name: 'organizationName', value: 'skaha' },
    { name: 'commonName', value: commonName },
  ];
  const cert = base(subject, subject, keys.publicKey, days);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

function load(ca: Issued) {
  return { cert: forge.pki.certificateFromPem(ca.certPem), key: forge.pki.privateKeyFromPem(ca.keyPem) };
}

/** A TLS server certificate for the given DNS names and IP addresses. */
export function issueServerCert(ca: Issued, names: { dns: string[]; ips: string[] }, days = 825): Issued {
  const issuer = load(ca);
  const keys = rsaKeys();
  const cert = base([{ name: 'commonName', value: names.dns[0] ?? names.ips[0] ?? 'localhost' }], issuer.cert.subject.attributes, keys.publicKey, days);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [...names.dns.map((value) => ({ type: 2, value })), ...names.ips.map((ip) => ({ type: 7, ip }))] },
  ]);
  cert.sign(issuer.key as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** A user (end-entity) certificate: `O=skaha, CN=<username>`, signed by the platform CA. */
export function issueUserCert(ca: Issued, username: string, days = 365, notBefore?: Date): Issued {
  const issuer = load(ca);
  const keys = rsaKeys();
  const cert = base(
    [
      { name: 'organizationName', value: 'skaha' },
      { name: 'commonName', value: username },
    ],
    issuer.cert.subject.attributes,
    keys.publicKey,
    days,
    notBefore,
  );
  // No keyUsage extension: a legacy (Globus) proxy is signed by this certificate, and OpenSSL
  // (which links the chain Node shows us) only lets a keyUsage-less or keyCertSign certificate
  // sign a non-RFC-3820 certificate.
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  cert.sign(issuer.key as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** DER of ProxyCertInfo ::= SEQUENCE { pCPathLenConstraint INTEGER OPTIONAL, proxyPolicy ProxyPolicy }. */
function proxyCertInfoDer(pathLen: number | undefined): string {
  const { asn1 } = forge;
  const policy = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(INHERIT_ALL_OID).getBytes()),
  ]);
  const parts = pathLen === undefined ? [policy] : [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(pathLen).getBytes()), policy];
  return asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, parts)).getBytes();
}

interface ProxyOptions {
  days?: number;
  /** RFC 3820 pCPathLenConstraint: how many further proxies may be signed by this one. */
  pathLen?: number;
  /** A legacy Globus proxy (CN=proxy, no proxyCertInfo) instead of RFC 3820. */
  legacy?: boolean;
}

/**
 * A proxy certificate signed by `issuer` (a user certificate or another proxy), as cadc-get-cert
 * hands out: subject = issuer's subject + one CN. Returns the proxy and its new key.
 */
export function issueProxyCert(issuerPair: Issued, opts: ProxyOptions = {}): Issued {
  const issuer = load(issuerPair);
  const keys = rsaKeys();
  const cert = base(
    [...issuer.cert.subject.attributes, { name: 'commonName', value: opts.legacy ? 'proxy' : String(BigInt('0x' + crypto.randomBytes(4).toString('hex'))) }],
    issuer.cert.subject.attributes,
    keys.publicKey,
    opts.days ?? 10,
  );
  cert.setExtensions([
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    ...(opts.legacy ? [] : [{ id: PROXY_CERT_INFO_OID, critical: true, value: proxyCertInfoDer(opts.pathLen) }]),
  ]);
  cert.sign(issuer.key as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.keyPem };
}

/** The cadcproxy.pem layout: proxy certificate, its key, then the chain up to (not incl.) the CA. */
export function proxyPem(proxy: Issued, chain: string[]): string {
  return [proxy.certPem, proxy.keyPem, ...chain].map((p) => p.trim()).join('\n') + '\n';
}
