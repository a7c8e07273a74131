import type Docker from 'dockerode';
import type { Readable } from 'node:stream';

/** One line of the engine's pull stream (Docker-compatible `POST /images/create`). */
export interface PullStreamEvent {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

interface Layer {
  current: number;
  total: number;
  done: boolean;
}

/**
 * What a pull has done so far, from the engine's progress stream: layers known, layers done, bytes
 * read of bytes known. Podman reports "Pulling fs layer" / "Downloading" (with current and total
 * bytes) / "Download complete" / "Already exists" per layer, and failures as an `error` line.
 */
export class PullProgress {
  private readonly layers = new Map<string, Layer>();
  error: string | undefined;

  feed(event: PullStreamEvent): void {
    if (event.error || event.errorDetail?.message) {
      this.error = oneLine(event.errorDetail?.message ?? event.error ?? 'pull failed');
      return;
    }
    const id = event.id;
    if (!id || !event.status) return;
    const layer = this.layers.get(id) ?? { current: 0, total: 0, done: false };
    const status = event.status.toLowerCase();
    if (status.startsWith('downloading') || status.startsWith('extracting')) {
      layer.current = Math.max(layer.current, event.progressDetail?.current ?? 0);
      layer.total = Math.max(layer.total, event.progressDetail?.total ?? 0);
    } else if (status.includes('complete') || status.includes('already exists') || status.startsWith('pull complete')) {
      layer.done = true;
      if (layer.total > 0) layer.current = layer.total;
    }
    this.layers.set(id, layer);
  }

  /** Bytes read so far and bytes known to be needed (layers whose size the engine has told). */
  bytes(): { current: number; total: number } {
    let current = 0;
    let total = 0;
    for (const l of this.layers.values()) {
      current += l.current;
      total += l.total;
    }
    return { current, total };
  }

  /** e.g. `1.2 of 3.4 GB, 3 of 7 layers` */
  summary(): string {
    const layers = [...this.layers.values()];
    const done = layers.filter((l) => l.done).length;
    const { current, total } = this.bytes();
    const size = total > 0 ? `${formatBytesOf(current, total)}, ` : '';
    return `${size}${done} of ${layers.length} layers`;
  }
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

function unitFor(bytes: number): number {
  let i = 0;
  while (i < UNITS.length - 1 && bytes >= 1000 ** (i + 1)) i++;
  return i;
}

/** `1.2 of 3.4 GB` (both in the unit of the total). */
export function formatBytesOf(current: number, total: number): string {
  const i = unitFor(total);
  const fmt = (n: number) => (i === 0 ? String(n) : (n / 1000 ** i).toFixed(1));
  return `${fmt(current)} of ${fmt(total)} ${UNITS[i]}`;
}

export function formatBytes(bytes: number): string {
  const i = unitFor(bytes);
  return i === 0 ? `${bytes} B` : `${(bytes / 1000 ** i).toFixed(1)} ${UNITS[i]}`;
}

/** Engine errors are multi-line and repeat the reference; keep the part a user can act on. */
function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').trim();
}

/** Why a pull failed, in the words a user needs (the engine's message follows). */
export function pullFailureReason(message: string): string {
  if (/unauthorized|authentication required|denied/i.test(message)) return 'unauthorized';
  if (/manifest unknown|not found|name unknown/i.test(message)) return 'not found';
  if (/no space left/i.test(message)) return 'disk full';
  if (/x509|certificate/i.test(message)) return 'registry certificate not trusted';
  if (/connection refused|no such host|timeout|i\/o timeout/i.test(message)) return 'registry unreachable';
  return 'pull failed';
}

interface RunningPull {
  progress: PullProgress;
  /** Resolves when the image is in the engine; rejects with the engine's reason. */
  done: Promise<void>;
  cancel(): void;
}

/**
 * Pull `image` into the engine, following its progress stream. The engine reports most failures
 * (unauthorized, not found) inside the stream rather than as an HTTP error: both reject `done`.
 */
export async function pullImage(
  docker: Docker,
  image: string,
  auth?: { username: string; password: string; serveraddress: string },
  onEvent?: (progress: PullProgress) => void,
): Promise<RunningPull> {
  const progress = new PullProgress();
  const stream = (await docker.pull(image, auth ? { authconfig: auth } : {})) as Readable;
  const done = new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : progress.error ? reject(new Error(progress.error)) : resolve()),
      (event: PullStreamEvent) => {
        progress.feed(event);
        onEvent?.(progress);
      },
    ),
  );
  return { progress, done, cancel: () => stream.destroy() };
}
