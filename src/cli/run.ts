import type { Command } from 'commander';
import { ClientError, SkahaClient } from './client.js';
import { openConnection } from './oidc.js';

/** Exit codes (docs/cli.md): 0 ok, 1 error, 2 usage. */
export const EXIT = { ok: 0, error: 1, usage: 2 } as const;

export class UsageError extends Error {}

/** Print one line, never a stack, and exit with the documented code. */
export function fail(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`skaha: ${message.split('\n')[0]}\n`);
  process.exit(err instanceof UsageError ? EXIT.usage : EXIT.error);
}

/** Everything on standard input (a token, a secret, a password piped in), as text. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** Run a command body with a client for the selected server; errors become one line + exit code. */
export function withClient<A extends unknown[]>(body: (client: SkahaClient, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const command = args[args.length - 1] as Command;
    let client: SkahaClient | undefined;
    try {
      client = new SkahaClient(await openConnection({ context: command.optsWithGlobals().context as string | undefined }));
      await body(client, ...args);
    } catch (err) {
      fail(err instanceof ClientError || err instanceof UsageError ? err : new Error((err as Error).message));
    } finally {
      client?.close();
    }
  };
}

/** Ask on a terminal; refuse (usage error) when there is none to ask. */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new UsageError(`${question} — no terminal to confirm on; add --yes`);
  process.stderr.write(`${question} [y/N] `);
  const answer = await new Promise<string>((resolve) => process.stdin.once('data', (d) => resolve(d.toString())));
  process.stdin.pause();
  return /^y(es)?$/i.test(answer.trim());
}
