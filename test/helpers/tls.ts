import fs from 'node:fs';
import path from 'node:path';
import { createCa, issueServerCert, type Issued } from '../../src/auth/x509/pki.js';

/**
 * A platform CA and a server certificate for localhost/127.0.0.1 in `<dataDir>/tls`, where the
 * server's HTTPS listener (config `tls.port`) finds them. Returns the CA, for clients to trust.
 */
export function writePlatformTls(dataDir: string): Issued {
  const ca = createCa('test platform CA');
  const server = issueServerCert(ca, { dns: ['localhost'], ips: ['127.0.0.1'] });
  const dir = path.join(dataDir, 'tls');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
  fs.writeFileSync(path.join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, 'server.pem'), server.certPem);
  fs.writeFileSync(path.join(dir, 'server.key'), server.keyPem, { mode: 0o600 });
  return ca;
}
