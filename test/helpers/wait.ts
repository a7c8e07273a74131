import assert from 'node:assert/strict';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `get` every 200 ms until `check` holds and return its last value; fail the test with
 * `what` and the last value after `timeoutMs`.
 */
export async function eventually<T>(what: string, get: () => Promise<T> | T, check: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await get();
  while (!check(value)) {
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await sleep(200);
    value = await get();
  }
  return value;
}
