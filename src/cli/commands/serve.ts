import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../../server/config.js';
import { fail } from '../run.js';
import { overrides } from './admin.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a number from 0 to 65535');
  return n;
}

/** `skaha serve`: the platform itself (API, session proxy, portal, background loops). */
export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('run the platform: API, session proxy and background loops, on Podman by default')
    .option('-p, --port <n>', 'port to listen on (env SKAHA_PORT, default 8555)', port)
    .option('-d, --data-dir <dir>', 'data directory (env SKAHA_DATA_DIR, default ./data)')
    .option('-c, --config <file>', 'JSON config file (env SKAHA_CONFIG); see docs/config.md')
    .addHelpText('after', '\nExample:\n  npx skaha serve --port 8555 --data-dir /var/lib/skaha')
    .action(async (opts) => {
      let config;
      try {
        config = loadConfig(overrides(opts));
      } catch (err) {
        fail(err);
      }
      const { createPlatform } = await import('../../server/platform.js');
      let platform;
      try {
        platform = await createPlatform(config);
      } catch (err) {
        fail(new Error(`cannot start: ${(err as Error).message}`));
      }
      const url = await platform.listen().catch((err: Error) => fail(new Error(`cannot listen on ${config.host}:${config.port}: ${err.message}`)));
      console.log(`skaha serving ${url}/skaha/v0 (data in ${config.dataDir})`);
      const tlsUrl = platform.tlsUrl();
      if (tlsUrl) console.log(`skaha serving ${tlsUrl}/skaha/v0 with client certificates (CA: ${config.tls.clientCaFile})`);
      let closing = false;
      const stop = (signal: string) => {
        if (closing) return;
        closing = true;
        console.log(`${signal}: closing (sessions keep running)`);
        const force = setTimeout(() => process.exit(0), 10_000);
        force.unref();
        platform.close().finally(() => process.exit(0));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
