import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allCommands, buildProgram, commandPath } from '../../../src/cli/program.js';

/** The help a person sees for `cmd --help`, with the text added after it. */
function helpOf(cmd: Awaited<ReturnType<typeof buildProgram>>): string {
  let text = '';
  cmd.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  cmd.outputHelp();
  return text;
}

describe('the command tree', () => {
  it('has examples in the help of every command that does something', async () => {
    const program = await buildProgram();
    const leaves = allCommands(program).filter((c) => c.commands.length === 0);
    assert.ok(leaves.length > 30, `found ${leaves.length} commands`);
    const without = leaves.filter((c) => !/\nExamples?( \([^)]*\))?:\n {2}\S/.test(helpOf(c))).map(commandPath);
    assert.deepEqual(without, [], 'commands whose --help has no example');
  });

  it('offers --json on every command that prints something a script would read', async () => {
    const program = await buildProgram();
    // Commands that only change local files or print a script are left out on purpose.
    const exempt = new Set(['skaha completion', 'skaha serve', 'skaha config path', 'skaha config use', 'skaha config remove', 'skaha login']);
    const clientCommands = allCommands(program).filter(
      (c) => c.commands.length === 0 && !commandPath(c).startsWith('skaha admin') && !exempt.has(commandPath(c)),
    );
    const without = clientCommands.filter((c) => !c.options.some((o) => o.long === '--json')).map(commandPath);
    assert.deepEqual(without, [], 'client commands without --json');
  });
});
