import { describe, expect, it } from 'vitest';
import { nameProblem as serverNameProblem } from '../../../src/sessions/ids';
import { parseEnv as serverParseEnv } from '../../../src/sessions/params';
import {
  argsNote,
  expiryDaysProblem,
  launchErrors,
  launchFields,
  nameProblem,
  parseEnvLines,
  suggestName,
  tokenNameProblem,
  type LaunchInput,
} from '../../../portal/src/lib/validate';

const input = (over: Partial<LaunchInput> = {}): LaunchInput => ({
  type: 'contributed',
  image: 'images.canfar.net/skaha/webapp:1.0',
  name: 'web1',
  cores: '2',
  ram: '8',
  gpus: '0',
  cmd: '',
  args: '',
  env: '',
  ...over,
});

describe('session names', () => {
  it('accepts what the API accepts and refuses what it refuses', () => {
    const names = ['web1', 'My-Notebook', 'a', 'x'.repeat(63), 'x'.repeat(64), 'bad name', 'under_score', 'dot.name', 'ümlaut', '-', 'a-'];
    for (const name of names) {
      expect(nameProblem(name) === undefined, name).toBe(serverNameProblem(name) === undefined);
    }
  });

  it('says what is wrong', () => {
    expect(nameProblem('')).toBe('Give the session a name.');
    expect(nameProblem('bad name!')).toMatch(/letters, digits and '-'/);
    expect(nameProblem('x'.repeat(64))).toMatch(/at most 63/);
  });

  it('suggests a valid name from an image', () => {
    expect(suggestName('images.canfar.net/skaha/webapp:1.0')).toBe('webapp');
    expect(suggestName('images.canfar.net/skaha/astro_py.base:latest')).toBe('astro-py-base');
    expect(suggestName('images.canfar.net/p/x@sha256:abc')).toBe('x');
    expect(nameProblem(suggestName('images.canfar.net/p/___:1'))).toBeUndefined();
  });
});

describe('environment lines', () => {
  it('keeps exactly the entries the server keeps, and names the others', () => {
    const text = 'A=1\n\n  B=two  \nC\nD=x=y\n1X=3\nE=\n_ok=v';
    const parsed = parseEnvLines(text);
    expect(parsed.entries).toEqual(['A=1', 'B=two', '_ok=v']);
    expect(serverParseEnv(text.split('\n').map((l) => l.trim())).map(([k, v]) => `${k}=${v}`)).toEqual(parsed.entries);
    expect(parsed.problems).toEqual([
      'Line 4: write NAME=value.',
      "Line 5: a value cannot contain '='.",
      "Line 6: '1X' is not a variable name (letters, digits, '_'; not starting with a digit).",
      'Line 7: E has no value.',
    ]);
  });

  it('notes arguments that skaha would split unexpectedly', () => {
    expect(argsNote('-c print(42)')).toBeUndefined();
    expect(argsNote('a  b')).toMatch(/single spaces/);
    expect(argsNote('-c "print(1, 2)"')).toMatch(/Quotes/);
  });
});

describe('the launch form', () => {
  it('has no errors for a good contributed session and sends skaha’s fields', () => {
    expect(launchErrors(input())).toEqual({});
    expect(launchFields(input({ name: ' Web1 ' }))).toEqual([
      ['name', 'Web1'],
      ['image', 'images.canfar.net/skaha/webapp:1.0'],
      ['type', 'contributed'],
      ['cores', '2'],
      ['ram', '8'],
    ]);
  });

  it('sends GPUs only when asked for, and the job fields only for headless', () => {
    expect(launchFields(input({ gpus: '1', cmd: 'ignored' }))).toContainEqual(['gpus', '1']);
    expect(launchFields(input({ cmd: 'ignored' })).some(([k]) => k === 'cmd')).toBe(false);
    const job = launchFields(
      input({ type: 'headless', image: 'images.canfar.net/skaha/headless:1.0', cmd: ' python3 ', args: '-c print(42)', env: 'A=1\nB=2' }),
    );
    expect(job.filter(([k]) => ['cmd', 'args', 'env'].includes(k))).toEqual([
      ['cmd', 'python3'],
      ['args', '-c print(42)'],
      ['env', 'A=1'],
      ['env', 'B=2'],
    ]);
  });

  it('reports every wrong field', () => {
    expect(launchErrors(input({ image: '', name: 'no good' }))).toEqual({
      image: 'Choose an image.',
      name: "A name can only contain letters, digits and '-'.",
    });
    expect(launchErrors(input({ type: 'headless', env: 'oops' })).env).toBe('Line 1: write NAME=value.');
    expect(launchErrors(input({ type: 'notebook', env: 'oops' })).env).toBeUndefined();
  });
});

describe('the token form', () => {
  it('needs a name of 1 to 64 characters and 1 to 3650 whole days', () => {
    expect(tokenNameProblem(' ')).toMatch(/name/);
    expect(tokenNameProblem('ci')).toBeUndefined();
    expect(tokenNameProblem('x'.repeat(65))).toMatch(/64/);
    expect(expiryDaysProblem('90')).toBeUndefined();
    for (const bad of ['', '0', '3651', '1.5', 'abc']) expect(expiryDaysProblem(bad), bad).toMatch(/1 to 3650/);
  });
});
