import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { bashCompletion } from '../../../src/cli/commands/completion.js';
import { colourStatus, relativeTime, Spinner, table } from '../../../src/cli/format.js';
import { buildProgram } from '../../../src/cli/program.js';

const NOW = Date.parse('2026-01-10T12:00:00Z');
const at = (ms: number) => new Date(NOW + ms).toISOString();

/** Run `fn` with process.stdout/stderr's isTTY and write replaced; returns what was written to stderr. */
function onStreams(tty: boolean, fn: () => void): string {
  let written = '';
  const saved = { outTty: process.stdout.isTTY, errTty: process.stderr.isTTY, write: process.stderr.write };
  process.stdout.isTTY = tty;
  process.stderr.isTTY = tty;
  process.stderr.write = ((chunk: string) => ((written += chunk), true)) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stdout.isTTY = saved.outTty;
    process.stderr.isTTY = saved.errTty;
    process.stderr.write = saved.write;
  }
  return written;
}

describe('human output', () => {
  it('says times relative to now with the two largest units', () => {
    assert.equal(relativeTime(at((3 * 86400 + 4 * 3600 + 59) * 1000), NOW), 'in 3 d 4 h');
    assert.equal(relativeTime(at(-(2 * 3600 + 5 * 60) * 1000), NOW), '2 h 5 min ago');
    assert.equal(relativeTime(at(90_000), NOW), 'in 1 min 30 s');
    assert.equal(relativeTime(at(2_000), NOW), 'now');
    assert.equal(relativeTime(at(86400_000 + 30_000), NOW), 'in 1 d', 'a zero hour ends the phrase');
    assert.equal(relativeTime('<none>', NOW), '<none>', 'not a time: shown as given');
  });

  it('aligns columns on what is visible, colours and all, with no trailing spaces', () => {
    const withColour = '\u001b[32mRunning\u001b[0m';
    assert.equal(
      table(
        ['ID', 'STATUS', 'NAME'],
        [
          ['a', withColour, 'x'],
          ['bbbb', 'Failed', 'yy'],
        ],
      ),
      ['ID    STATUS   NAME', `a     ${withColour}  x`, 'bbbb  Failed   yy'].join('\n'),
    );
    assert.equal(table(['A', 'B'], [['1', '']]), 'A  B\n1');
  });

  it('colours statuses only on a terminal, and never with NO_COLOR', () => {
    const saved = process.env.NO_COLOR;
    delete process.env.NO_COLOR;
    try {
      let shown = '';
      onStreams(false, () => (shown = colourStatus('Running')));
      assert.equal(shown, 'Running');
      onStreams(true, () => (shown = colourStatus('Running')));
      assert.equal(shown, '\u001b[32mRunning\u001b[0m');
      process.env.NO_COLOR = '1';
      onStreams(true, () => (shown = colourStatus('Running')));
      assert.equal(shown, 'Running');
    } finally {
      if (saved === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = saved;
    }
  });

  it('waits with one line per change when there is no terminal (no spinner frames in logs)', () => {
    const written = onStreams(false, () => {
      const spinner = new Spinner().start('starting');
      spinner.update('starting: abc Pending (pulling 1.2 of 3.4 GB)');
      spinner.update('starting: abc Pending (pulling 1.2 of 3.4 GB)');
      spinner.update('starting: abc Running');
      spinner.stop('done');
    });
    assert.equal(written, 'starting: abc Pending (pulling 1.2 of 3.4 GB)\nstarting: abc Running\ndone\n');
  });
});

describe('bash completion', () => {
  let completion = '';
  before(async () => {
    completion = bashCompletion(await buildProgram());
  });
  /** What bash completes for `words` (the last one being the word under the cursor). */
  function complete(words: string[]): string[] {
    const script = `${completion}
skaha() { return 0; }
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_skaha; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n').filter(Boolean);
  }

  it('completes commands, then the options of the command typed', () => {
    assert.deepEqual(complete(['skaha', 'pr']), ['prune']);
    assert.ok(complete(['skaha', 'ps', '--']).includes('--json'));
    assert.deepEqual(complete(['skaha', 'app', 'l']), ['launch']);
  });

  it('skips option values and positional arguments when finding the command', () => {
    assert.ok(complete(['skaha', '--context', 'prod', 'ps', '--']).includes('--all'), 'the value of --context is no command');
    assert.ok(complete(['skaha', 'create', 'headless', 'img:1', '--rep']).includes('--replicas'), 'the image is no command');
    assert.ok(complete(['skaha', 'create', '--name', 'ps', '--w']).includes('--wait'), 'a name that is a command word is still a value');
  });

  it('offers session types after create', () => {
    assert.deepEqual(complete(['skaha', 'create', 'note']), ['notebook']);
  });
});
