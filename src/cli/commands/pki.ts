import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { createCa, issueProxyCert, issueServerCert, issueUserCert, proxyPem, type Issued } from '../../auth/x509/pki.js';
import { loadConfig } from '../../server/config.js';
import { fail, print, UsageError } from '../run.js';

function writeSecret(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

function readCa(dir: string): Issued {
  try {
    return { certPem: fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8'), keyPem: fs.readFileSync(path.join(dir, 'ca.key'), 'utf8') };
  } catch {
    throw new UsageError(`no platform CA in ${dir}: run \`skaha admin tls init\` first`);
  }
}

/** `--data-dir` and `--config` of every admin command: which platform's files it works on. */
export const dataDirOptions = (cmd: Command) =>
  cmd.option('-d, --data-dir <dir>', 'data directory (env SKAHA_DATA_DIR)').option('-c, --config <file>', 'JSON config file (env SKAHA_CONFIG)');

/** `skaha admin tls init` and `skaha admin cert ...`: the platform's own small PKI. */
export function pkiCommands(admin: Command): void {
  const tls = admin.command('tls').description("the HTTPS listener's certificates");
  dataDirOptions(
    tls
      .command('init')
      .description('create the platform CA (once) and a server certificate in <data-dir>/tls')
      .option('--hostname <name...>', 'DNS names and IP addresses the server is reached at', [os.hostname(), 'localhost', '127.0.0.1'])
      .option('--force', 'replace the server certificate even if one exists')
      .addHelpText('after', '\nExample:\n  npx skaha admin tls init --data-dir /var/lib/skaha --hostname skaha.example.org 127.0.0.1'),
  ).action((opts: { dataDir?: string; config?: string; hostname: string[]; force?: boolean }) => {
    try {
      const config = loadConfig({ configFile: opts.config, dataDir: opts.dataDir });
      const dir = path.join(config.dataDir, 'tls');
      if (!fs.existsSync(path.join(dir, 'ca.pem'))) {
        const ca = createCa('skaha platform CA');
        writeSecret(path.join(dir, 'ca.key'), ca.keyPem);
        fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem, { mode: 0o644 });
        print(`created the platform CA: ${path.join(dir, 'ca.pem')}`);
      }
      if (opts.force || !fs.existsSync(path.join(dir, 'server.pem'))) {
        const ips = opts.hostname.filter((h) => /^[\d.]+$|:/.test(h));
        const server = issueServerCert(readCa(dir), { dns: opts.hostname.filter((h) => !ips.includes(h)), ips });
        writeSecret(path.join(dir, 'server.key'), server.keyPem);
        fs.writeFileSync(path.join(dir, 'server.pem'), server.certPem, { mode: 0o644 });
        print(`created the server certificate for ${opts.hostname.join(', ')}: ${path.join(dir, 'server.pem')}`);
      }
      print(`clients trust the server with: ${path.join(dir, 'ca.pem')}`);
    } catch (err) {
      fail(err);
    }
  });

  const cert = admin.command('cert').description('user and proxy certificates from the platform CA (like cadc-get-cert)');
  dataDirOptions(
    cert
      .command('proxy <username>')
      .description('write a short-lived proxy certificate (proxy cert, key, user cert: the cadcproxy.pem layout)')
      .requiredOption('-o, --out <file>', 'where to write it (mode 0600), e.g. ~/.ssl/cadcproxy.pem')
      .option('--days <n>', 'proxy lifetime in days', '10')
      .addHelpText(
        'after',
        '\nExample:\n  npx skaha admin cert proxy alice --out ~/.ssl/cadcproxy.pem\n  curl --cacert /var/lib/skaha/tls/ca.pem -E ~/.ssl/cadcproxy.pem https://127.0.0.1:8556/skaha/v0/session',
      ),
  ).action((username: string, opts: { dataDir?: string; config?: string; out: string; days: string }) => {
    try {
      const days = Number(opts.days);
      if (!Number.isInteger(days) || days < 1 || days > 30) throw new UsageError('--days takes 1 to 30');
      const config = loadConfig({ configFile: opts.config, dataDir: opts.dataDir });
      const user = issueUserCert(readCa(path.join(config.dataDir, 'tls')), username, 365);
      const proxy = issueProxyCert(user, { days });
      writeSecret(opts.out, proxyPem(proxy, [user.certPem]));
      print(`wrote a ${days}-day proxy certificate for ${username} to ${opts.out}`);
    } catch (err) {
      fail(err);
    }
  });
  dataDirOptions(
    cert
      .command('user <username>')
      .description('write a user certificate and its key (PEM, mode 0600)')
      .requiredOption('-o, --out <file>', 'where to write it')
      .option('--days <n>', 'lifetime in days', '365')
      .addHelpText(
        'after',
        '\nExample:\n  npx skaha admin cert user alice --out alice.pem\n  curl --cacert /var/lib/skaha/tls/ca.pem -E alice.pem https://127.0.0.1:8556/skaha/v0/session',
      ),
  ).action((username: string, opts: { dataDir?: string; config?: string; out: string; days: string }) => {
    try {
      const config = loadConfig({ configFile: opts.config, dataDir: opts.dataDir });
      const user = issueUserCert(readCa(path.join(config.dataDir, 'tls')), username, Number(opts.days));
      writeSecret(opts.out, `${user.certPem.trim()}\n${user.keyPem.trim()}\n`);
      print(`wrote a user certificate for ${username} to ${opts.out}`);
    } catch (err) {
      fail(err);
    }
  });
}
