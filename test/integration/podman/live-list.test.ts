import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanupList, HEADLESS_IMAGE, launch, startPlatform, type TestPlatform } from '../../helpers/platform.js';

/** The `sessions` events of a server-sent event stream, as they arrive. */
async function* sessionEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<Array<{ id: string; status: string }>> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      // As a browser's EventSource reads it: the `data:` lines of an event, joined.
      const lines = event.split('\n');
      if (!lines.includes('event: sessions')) continue;
      const data = lines
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n');
      yield JSON.parse(data) as Array<{ id: string; status: string }>;
    }
  }
}

/**
 * Issue 17 point 9: the portal's list is pushed (server-sent events from the session index), so
 * a job that ends shows Succeeded at once, not up to a poll later. Each user's stream holds their
 * own sessions only.
 */
describe('the live session list (server-sent events)', () => {
  let tp: TestPlatform;
  const cleanups = cleanupList();
  before(async () => {
    tp = await startPlatform(cleanups.add);
  });
  after(() => cleanups.run());

  it('pushes a job from Pending to Succeeded to its owner, and nothing of it to another user', async () => {
    const owner = await tp.newUser('live');
    const other = await tp.newUser('live');
    const open = async (token: string) => {
      const controller = new AbortController();
      cleanups.add(async () => controller.abort());
      const res = await fetch(`${tp.base}/skaha/v0/session/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      return sessionEvents(res.body!);
    };
    const mine = await open(owner.token);
    const theirs = await open(other.token);
    assert.deepEqual((await mine.next()).value, [], 'the current list first');
    assert.deepEqual((await theirs.next()).value, []);

    const id = await launch(tp, owner.token, { name: 'pushed', image: HEADLESS_IMAGE, type: 'headless', cmd: 'sleep', args: '1' });
    const seen: string[] = [];
    for await (const list of mine) {
      const status = list.find((s) => s.id === id)?.status;
      if (status && seen.at(-1) !== status) seen.push(status);
      if (status === 'Succeeded' || status === 'Failed') break;
    }
    assert.equal(seen.at(-1), 'Succeeded', `statuses pushed: ${seen.join(' → ')}`);
    assert.ok(seen.includes('Running'), `Running was pushed on the way: ${seen.join(' → ')}`);

    // The other user's stream said nothing more: its next event would still be an empty list.
    const next = await Promise.race([theirs.next().then((r) => r.value), new Promise((r) => setTimeout(() => r('quiet'), 500))]);
    assert.ok(next === 'quiet' || (Array.isArray(next) && next.length === 0), `another user's stream: ${JSON.stringify(next)}`);
  });
});
