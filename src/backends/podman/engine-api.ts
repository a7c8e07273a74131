import type Docker from 'dockerode';
import type { Readable } from 'node:stream';

/** An error from dockerode/the socket that means the engine, not the request, failed. */
export function isEngineDown(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EPIPE' || code === 'ECONNRESET' || code === 'ETIMEDOUT';
}

export const statusCodeOf = (err: unknown) => (err as { statusCode?: number })?.statusCode;

/** Podman answers some lookups of a vanished container with 500 "no such container". */
export const isGone = (err: unknown) => statusCodeOf(err) === 404 || /no such container/i.test(engineMessage(err));

/** What the engine said, on one line: its JSON message when it sent one. */
export function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: string; cause?: string } })?.json;
  return json?.message ?? json?.cause ?? (err as Error)?.message ?? String(err);
}

/**
 * Podman's start reads the container process's cgroup after runc has started it; a command
 * that ends at once (a job's `true`) can be gone by then, and the start fails with "read
 * /proc/<pid>/cgroup: no such process" though the container ran (containers/podman#16383).
 */
export const isQuickExitRace = (err: unknown) => /\/proc\/\d+\/cgroup: no such process/.test(engineMessage(err));

/** That one start error, from a container the engine says did start (then it is a start); anything else is a failure. */
export function startedDespite(err: unknown, state: { Status?: string; StartedAt?: string } | undefined): boolean {
  if (!isQuickExitRace(err) || !state?.StartedAt || state.StartedAt.startsWith('0001-')) return false;
  return state.Status !== 'created';
}

/**
 * A call dockerode has no method for (Podman's own libpod routes, a log as a stream): through
 * its connection, so the socket, TLS and error mapping stay dockerode's.
 */
export function dial<T>(docker: Docker, path: string, options: { query?: object; stream?: false }): Promise<T>;
export function dial(docker: Docker, path: string, options: { query?: object; stream: true }): Promise<Readable>;
export function dial(docker: Docker, path: string, options: { query?: object; stream?: boolean }): Promise<unknown> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: `${path}?`,
        method: 'GET',
        options: options.query ?? {},
        ...(options.stream ? { isStream: true } : {}),
        statusCodes: { 200: true, 404: 'not found', 500: 'server error' },
      },
      (err, data) => (err ? reject(err) : resolve(data)),
    );
  });
}
