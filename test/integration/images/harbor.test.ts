import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { HarborCatalog } from '../../../src/catalog/harbor/harbor.js';
import { SESSION_TYPES } from '../../../src/sessions/model.js';
import { startHarborReplay, type HarborReplay, type ReplayArtifact } from '../../helpers/harbor-replay.js';

const digest = () => `sha256:${crypto.randomBytes(32).toString('hex')}`;
const robot = { name: 'robot$skaha+catalog', secret: 'robot-secret' };

describe('Harbor catalog, against a replay of Harbor v2.0 API responses (Harbor cannot run here)', () => {
  let harbor: HarborReplay;
  const nb = digest();
  const artifacts: ReplayArtifact[] = [
    { repository: 'skaha/notebook', digest: nb, tags: ['1.2', 'latest'], labels: ['notebook', 'headless'] },
    { repository: 'skaha/unlabelled', digest: digest(), tags: ['1.0'], labels: [] },
    { repository: 'skaha/untagged', digest: digest(), tags: [], labels: ['notebook'] },
    { repository: 'skaha/by-config-label', digest: digest(), tags: ['2.0'], labels: [], configLabels: { 'canfar.net/types': 'desktop-app' } },
    { repository: 'skaha/nested/carta', digest: digest(), tags: ['4.1'], labels: ['carta'] },
    { repository: 'secret/casa', digest: digest(), tags: ['6.6'], labels: ['desktop-app'] },
    // More than one page (page_size 100) in one repository.
    ...Array.from({ length: 130 }, (_, i) => ({ repository: 'bulk/tool', digest: digest(), tags: [`v${i}`], labels: ['headless'] })),
  ];
  before(async () => {
    harbor = await startHarborReplay({
      projects: [
        { name: 'skaha', public: true },
        { name: 'bulk', public: true },
        { name: 'secret', public: false },
      ],
      artifacts,
      robot,
    });
  });
  after(() => harbor.stop());

  it('lists labelled, tagged artifacts by their first tag, label names as types (anonymous: public projects only)', async () => {
    const catalog = new HarborCatalog({ url: harbor.url, host: 'images.example.org' });
    const images = await catalog.fetch();
    await catalog.close();
    const byId = new Map(images.map((i) => [i.id, i]));
    assert.deepEqual(byId.get('images.example.org/skaha/notebook:1.2'), {
      id: 'images.example.org/skaha/notebook:1.2',
      types: ['notebook', 'headless'],
      digest: nb,
    });
    assert.ok(!byId.has('images.example.org/skaha/notebook:latest'), 'only the first tag');
    assert.ok(![...byId.keys()].some((id) => id.includes('unlabelled') || id.includes('untagged')));
    assert.deepEqual(byId.get('images.example.org/skaha/by-config-label:2.0')?.types, ['desktop-app'], "the image's own label counts too");
    assert.deepEqual(byId.get('images.example.org/skaha/nested/carta:4.1')?.types, ['carta'], 'nested repository names');
    assert.equal(images.filter((i) => i.id.startsWith('images.example.org/bulk/tool:')).length, 130, 'every page');
    assert.ok(![...byId.keys()].some((id) => id.includes('/secret/')), 'private projects need credentials');
  });

  it('lists private projects with a robot account, and says why when the account is refused', async () => {
    const catalog = new HarborCatalog({ url: harbor.url, username: robot.name, password: robot.secret, projects: ['secret'] });
    const images = await catalog.fetch();
    await catalog.close();
    assert.deepEqual(
      images.map((i) => i.id),
      [`${new URL(harbor.url).host}/secret/casa:6.6`],
    );
    const wrong = new HarborCatalog({ url: harbor.url, username: robot.name, password: 'nope' });
    await assert.rejects(wrong.fetch(), (err: Error) => /GET \/api\/v2\.0\/projects: 401 UNAUTHORIZED/.test(err.message) && !err.message.includes('nope'));
    await wrong.close();
  });

  it("sets an artifact's session types with Harbor labels: the global ones where they exist, else the project's, created by the robot; other labels left alone", async () => {
    const catalog = new HarborCatalog({ url: harbor.url, username: robot.name, password: robot.secret });
    artifacts[0]!.labels.push('reviewed');
    await catalog.setTypes('skaha/notebook', '1.2', ['notebook', 'firefly'], SESSION_TYPES);
    assert.deepEqual(harbor.labelsOf('skaha/notebook', nb).sort(), ['firefly', 'notebook', 'reviewed']);
    const made = harbor.labels().filter((l) => l.name === 'firefly' || l.name === 'notebook');
    assert.deepEqual(
      made,
      [
        { name: 'notebook', scope: 'g' },
        { name: 'firefly', scope: 'p', project: 'skaha' },
      ],
      'no global label made by a robot account',
    );
    await catalog.setTypes('skaha/nested/carta', '4.1', ['carta', 'firefly'], SESSION_TYPES);
    assert.equal(harbor.labels().filter((l) => l.name === 'firefly').length, 1, "the project's label is found again, not made twice");
    const again = (await catalog.fetch()).find((i) => i.digest === nb);
    assert.deepEqual(again?.types.sort(), ['firefly', 'notebook', 'reviewed']);
    await catalog.close();
  });
});
