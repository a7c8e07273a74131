import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';

/**
 * Build a small image through the engine's build API (tests' own images, FROM a reference image:
 * no registry is reached). `files` go into the build context beside the Containerfile.
 */
export async function buildImage(docker: Docker, tag: string, containerfile: string, files: Record<string, string> = {}): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skaha-img-'));
  fs.writeFileSync(path.join(dir, 'Containerfile'), containerfile);
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content, { mode: 0o755 });
  const tar = execFileSync('tar', ['-C', dir, '-c', '.']);
  fs.rmSync(dir, { recursive: true, force: true });
  const stream = await docker.buildImage(tar as never, { t: tag, dockerfile: 'Containerfile' });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err, out) => {
      const failure = (out as Array<{ error?: string }> | undefined)?.find((o) => o.error);
      if (err || failure) reject(err ?? new Error(failure!.error));
      else resolve();
    }),
  );
}

/** The same, from a directory of test/fixtures holding a Containerfile. */
export async function buildFixture(docker: Docker, tag: string, fixture: string): Promise<void> {
  const dir = path.resolve('test/fixtures', fixture);
  const files = Object.fromEntries(
    fs
      .readdirSync(dir)
      .filter((f) => f !== 'Containerfile')
      .map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]),
  );
  await buildImage(docker, tag, fs.readFileSync(path.join(dir, 'Containerfile'), 'utf8'), files);
}
