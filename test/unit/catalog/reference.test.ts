import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReference, fromRegistry, launchProblem, parseReference, referenceProblem } from '../../../src/catalog/reference.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('image references (OCI distribution grammar)', () => {
  it('parses host[:port]/path[:tag][@digest]', () => {
    assert.deepEqual(parseReference('images.canfar.net/skaha/notebook:1.0'), { host: 'images.canfar.net', repository: 'skaha/notebook', tag: '1.0' });
    assert.deepEqual(parseReference('127.0.0.1:5000/private/kep'), { host: '127.0.0.1:5000', repository: 'private/kep' });
    assert.deepEqual(parseReference(`registry.example.org:443/a/b/c@${DIGEST}`), { host: 'registry.example.org:443', repository: 'a/b/c', digest: DIGEST });
    assert.deepEqual(parseReference(`localhost/x_y__z-w.v:Tag_1.2-rc@${DIGEST}`), {
      host: 'localhost',
      repository: 'x_y__z-w.v',
      tag: 'Tag_1.2-rc',
      digest: DIGEST,
    });
    assert.deepEqual(parseReference('[::1]:5000/team/tool:2'), { host: '[::1]:5000', repository: 'team/tool', tag: '2' });
    assert.deepEqual(
      parseReference('Images.CANFAR.net/skaha/a---b:1'),
      { host: 'Images.CANFAR.net', repository: 'skaha/a---b', tag: '1' },
      'host names are case-insensitive',
    );
    for (const ref of ['images.canfar.net/skaha/notebook:1.0', `h.example/a@${DIGEST}`, `h.example:1/a:b@${DIGEST}`]) {
      assert.equal(formatReference(parseReference(ref)), ref);
    }
  });

  it('refuses what is not a reference, with the rule it breaks in one line', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['images.canfar.net/skaha/HEADLESS:1.0', /must be lower case/],
      ['images.canfar.net/skaha/headless:1.0 --privileged', /spaces/],
      ['images.canfar.net/skaha/headless:1.0\n', /control characters/],
      ['headless:1.0', /no registry host/],
      ['registry/team/tool:1', /default registry/],
      ['images.canfar.net/', /repository is empty/],
      ['images.canfar.net/skaha//x:1', /'' is not a repository path component/],
      ['images.canfar.net/skaha/-x:1', /'-x' is not a repository path component/],
      ['images.canfar.net/skaha/x.:1', /not a repository path component/],
      ['images.canfar.net/skaha/x:', /'' is not a tag/],
      ['images.canfar.net/skaha/x:.1', /not a tag/],
      [`images.canfar.net/skaha/x:${'t'.repeat(129)}`, /not a tag/],
      ['images.canfar.net/skaha/x@sha256:abc', /not a digest/],
      ['images.canfar.net:99999/skaha/x:1', /not a port/],
      ['-bad.example/skaha/x:1', /not a registry host/],
      ['bad_host.example/skaha/x:1', /not a registry host/],
      [`images.canfar.net/${'a'.repeat(250)}:1`, /longer than 255/],
      ['images.canfar.net/skaha/x;rm -rf:1', /spaces|not a/],
      ['images.canfar.net/skaha/x$(id):1', /not a repository path component/],
    ];
    for (const [raw, why] of cases) {
      const problem = referenceProblem(raw);
      assert.ok(problem, `${JSON.stringify(raw)} is refused`);
      assert.match(problem, why, raw);
      assert.match(problem, /^invalid image reference '/);
      assert.ok(!problem.includes('\n'), 'one line');
      assert.throws(() => parseReference(raw), { message: problem });
    }
  });

  it('matches registry hosts exactly, never as a string prefix', () => {
    const allowed = ['images.canfar.net', '127.0.0.1:5000', 'harbor.example.org/skaha'];
    const from = (image: string) => fromRegistry(parseReference(image), allowed);
    assert.equal(from('images.canfar.net/skaha/x:1'), true);
    assert.equal(from('IMAGES.canfar.net/skaha/x:1'), true);
    assert.equal(from('images.canfar.net.evil.example/x:1'), false);
    assert.equal(from('images.canfar.network/x:1'), false);
    assert.equal(from('images.canfar.net:443/x:1'), false, 'a port is part of the host');
    assert.equal(from('127.0.0.1:5000/team/x:1'), true);
    assert.equal(from('127.0.0.1:50001/team/x:1'), false);
    assert.equal(from('harbor.example.org/skaha/x:1'), true, 'an entry with a path allows that project');
    assert.equal(from('harbor.example.org/skahax/x:1'), false, 'whole path components only');
    assert.equal(from('harbor.example.org/other/x:1'), false);
  });

  it("gives a launch skaha's words for another registry and the rule for a malformed reference", () => {
    const allowed = ['images.canfar.net'];
    assert.equal(launchProblem('images.canfar.net/skaha/x:1', allowed), undefined);
    assert.equal(
      launchProblem('images.canfar.net.evil.example/x:1', allowed),
      "session image 'images.canfar.net.evil.example/x:1' must come from one of [images.canfar.net]",
    );
    assert.equal(
      launchProblem('docker.io/library/debian:12', allowed),
      "session image 'docker.io/library/debian:12' must come from one of [images.canfar.net]",
    );
    assert.equal(launchProblem('junk', allowed), "session image 'junk' must come from one of [images.canfar.net]");
    assert.match(
      launchProblem('images.canfar.net/skaha/HEADLESS:1.0', allowed) ?? '',
      /^invalid image reference 'images.canfar.net\/skaha\/HEADLESS:1.0': the repository must be lower case$/,
    );
    assert.match(launchProblem('images.canfar.net/skaha/headless:1.0 --privileged', allowed) ?? '', /spaces/);
  });
});
