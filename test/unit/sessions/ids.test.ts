import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appJobName, appNameFromImage, jobName, nameProblem, newAppId, newSessionId, SESSION_ID, APP_ID } from '../../../src/sessions/ids.js';

describe('IDs and names (spec §5.1)', () => {
  it('session IDs are 8 chars of [a-z0-9] starting with a letter, app IDs 3', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = newSessionId();
      assert.match(id, SESSION_ID);
      ids.add(id);
      assert.match(newAppId(), APP_ID);
    }
    assert.equal(ids.size, 2000, 'no collisions in a small sample');
  });

  it('accepts [A-Za-z0-9-]+ names up to 63 chars and says why others are refused', () => {
    assert.equal(nameProblem('My-Session-1'), undefined);
    assert.equal(nameProblem('a'.repeat(63)), undefined);
    for (const bad of ['has_underscore', 'has space', '', 'ümlaut', 'semi;colon']) {
      assert.equal(nameProblem(bad), "name can only contain alpha-numeric chars and '-'");
    }
    assert.equal(nameProblem('a'.repeat(64)), 'name must be at most 63 characters');
  });

  it('builds job and app names as skaha does', () => {
    assert.equal(jobName('notebook', 'Alice.Smith@x', 'vl91sfzz'), 'skaha-notebook-alice-smith-x-vl91sfzz');
    assert.equal(appNameFromImage('images.canfar.net/skaha/terminal:1.1.2'), 'terminal-1-1-2');
    assert.equal(appNameFromImage('images.canfar.net/casa/CASA_6.5:latest'), 'casa-6-5-latest');
    const long = appJobName('abcdefgh', 'xyz', 'a-very-long-user-name-indeed', 'some-really-long-app-name-1-2-3-');
    assert.ok(long.length <= 57);
    assert.match(long, /^[a-z0-9].*[a-z0-9]$/);
    assert.ok(long.startsWith('abcdefgh-xyz-a-very-long-user-name-indeed-'));
  });

  it('cuts the user part of a job name to stay within 63 characters (a Kubernetes label value), keeping the ID', () => {
    const user = 'Firstname.Lastname-of-a-long-institutional-account'; // 50 characters
    for (const type of ['contributed', 'notebook', 'headless', 'desktop']) {
      const name = jobName(type, user, 'vl91sfzz');
      assert.ok(name.length <= 63, `${name}: ${name.length}`);
      assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS label and a label value');
      assert.ok(name.startsWith(`skaha-${type}-firstname-lastname-`) && name.endsWith('-vl91sfzz'), name);
    }
    assert.equal(jobName('contributed', 'x'.repeat(36), 'vl91sfzz').length, 63, 'the longest user that fits is kept whole');
    assert.equal(jobName('contributed', 'x'.repeat(36), 'vl91sfzz'), `skaha-contributed-${'x'.repeat(36)}-vl91sfzz`);
  });
});
