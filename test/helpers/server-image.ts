import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { localImageEngine } from './kube-node.js';

const run = promisify(execFile);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CONTAINERFILE = 'deploy/docker/Containerfile.local';
const SERVER_IMAGE_REPOSITORY = 'localhost/skaha-test/server';

/**
 * The server image the Helm chart runs on the real node, built from this checkout's build
 * (`npm run build`), its production dependencies and this machine's Node, on the reference
 * headless image (deploy/docker/Containerfile.local): what an operator without Docker Hub builds.
 * Tagged by a hash of the build context, so an unchanged checkout is not built again.
 */
export async function buildServerImage(): Promise<string> {
  for (const built of ['dist/cli/main.js', 'portal/dist/index.html']) {
    if (!fs.existsSync(path.join(REPO, built))) throw new Error(`${built} is missing: run npm run build first`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-server-image-'));
  try {
    const context = path.join(dir, 'context.tar');
    await writeContext(context);
    const hash = crypto.createHash('sha256');
    for await (const chunk of fs.createReadStream(context)) hash.update(chunk as Buffer);
    const reference = `${SERVER_IMAGE_REPOSITORY}:${hash.digest('hex').slice(0, 12)}`;
    const docker = await localImageEngine();
    const exists = await docker
      .getImage(reference)
      .inspect()
      .then(() => true)
      .catch(() => false);
    if (!exists) {
      // Earlier builds of this checkout are of no further use.
      for (const old of await docker.listImages({ filters: { reference: [SERVER_IMAGE_REPOSITORY] } })) {
        await docker
          .getImage(old.Id)
          .remove({ force: true })
          .catch(() => undefined);
      }
      const stream = await docker.buildImage(fs.createReadStream(context), { t: reference, dockerfile: CONTAINERFILE });
      const output: string[] = [];
      await new Promise<void>((resolve, reject) =>
        docker.modem.followProgress(
          stream,
          (err) => (err ? reject(new Error(`building ${reference}: ${err.message}\n${output.slice(-20).join('')}`)) : resolve()),
          (event: { stream?: string; error?: string }) => {
            if (event.stream) output.push(event.stream);
            if (event.error) output.push(event.error);
          },
        ),
      );
      await docker
        .getImage(reference)
        .inspect()
        .catch(() => {
          throw new Error(`building ${reference} made no image:\n${output.slice(-20).join('')}`);
        });
    }
    return reference;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The build context as a reproducible tar (sorted, no times or owners), so its hash names its content. */
async function writeContext(file: string): Promise<void> {
  const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: REPO, maxBuffer: 16 << 20 });
  // Top-level packages only: a nested dependency comes with the package that holds it.
  const modules = [
    ...new Set(
      stdout
        .split('\n')
        .map((p) => path.relative(REPO, p))
        .filter((p) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(p)),
    ),
  ];
  const node = process.execPath;
  const args = [
    '-c',
    '-f',
    file,
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-C',
    REPO,
    CONTAINERFILE,
    'package.json',
    'bin',
    'dist',
    'portal/dist',
    'images/launch-scripts',
    'deploy/podman',
    ...modules,
    '-C',
    path.dirname(node),
    path.basename(node),
  ];
  await new Promise<void>((resolve, reject) => {
    const tar = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    tar.stderr.on('data', (c: Buffer) => (err += c.toString()));
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar (build context) exited ${code}: ${err.trim()}`))));
  });
}
