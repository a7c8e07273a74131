import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseSessionPath, upstreamPort } from '../../../src/proxy/path.js';
import { connectUrl, recipeFor } from '../../../src/sessions/recipes.js';
import { LAUNCHABLE_TYPES, SESSION_TYPE_TABLE, SESSION_TYPES } from '../../../src/sessions/model.js';

/** Every source file of the server, the CLI and the portal. */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.tsx?$/.test(e.name) ? [p] : [];
  });
}

/** Files that may name types one by one, and why. */
const ALLOWED = new Map([
  ['src/sessions/model.ts', 'the table itself'],
  ['src/sessions/recipes.ts', "each type's launch recipe: a switch over the type, with the table's ports"],
  ['portal/src/components/ui.tsx', 'an icon per type, a Record<SessionType, …> the compiler completes'],
]);

describe('one table of session types (issue 18 point 1)', () => {
  it('is the only place that lists the types: no consumer keeps a list or a map of its own', () => {
    const quoted = new RegExp(`'(${SESSION_TYPES.join('|')})'`, 'g');
    const key = new RegExp(`^\\s*('?(${SESSION_TYPES.join('|')})'?)\\s*:`);
    const offenders: string[] = [];
    for (const file of [...sources('src'), ...sources('portal/src')]) {
      if (ALLOWED.has(file)) continue;
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        const names = new Set([...line.matchAll(quoted)].map((m) => m[1]));
        if (names.size >= 3) offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
      const keyed = lines.filter((l) => key.test(l) && !/^\s*case /.test(l));
      if (keyed.length >= 3) offenders.push(`${file}: a map keyed by ${keyed.length} session types`);
    }
    assert.deepEqual(offenders, [], 'derive these from SESSION_TYPE_TABLE (src/sessions/model.ts)');
  });

  it('gives every proxied type a segment the proxy routes, a port, and a connect URL under it', () => {
    for (const type of SESSION_TYPES) {
      const info = SESSION_TYPE_TABLE[type];
      if (!info.proxy) {
        assert.equal(connectUrl('https://h', type, 'abcdefgh', 'alice', { topLevelDir: '/arc' }), 'not-applicable', type);
        continue;
      }
      const url = connectUrl('https://h', type, 'abcdefgh', 'alice', { topLevelDir: '/arc' });
      const routed = parseSessionPath(new URL(url).pathname + new URL(url).search);
      assert.equal(routed?.type, type, `${type}: ${url}`);
      assert.equal(upstreamPort(type), info.ports[0], type);
      assert.ok(info.ports.length > 0, `${type} is proxied but listens on no port`);
    }
  });

  it('gives every launchable type a recipe with the table’s ports', () => {
    for (const type of LAUNCHABLE_TYPES) {
      const recipe = recipeFor({
        type,
        sessionId: 'abcdefgh',
        username: 'alice',
        uid: 200000,
        hostname: 'skaha.example.org',
        apiBaseUrl: 'http://10.0.0.1:8557',
        layout: { topLevelDir: '/arc' },
        resources: SESSION_TYPE_TABLE[type].fixedResources ?? { coresRequest: 1, coresLimit: 1, ramRequestGiB: 1, ramLimitGiB: 1, gpus: 0 },
        userEnv: [],
      });
      assert.deepEqual(recipe.ports, SESSION_TYPE_TABLE[type].ports, type);
    }
    assert.ok(!LAUNCHABLE_TYPES.includes('desktop-app' as never));
  });
});
