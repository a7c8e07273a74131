import { describe, expect, it } from 'vitest';
import { eventsTable } from '../../../src/api/session/views';
import { endOf, parseEvents } from '../../../portal/src/lib/events';
import { canConnect, duration, relativeTime, resources, shortImage, sortSessions, statusTone, usage } from '../../../portal/src/lib/format';
import { groupImages, imageLabel, isLatest, lastImage, pickImage, projectOf, rememberImage } from '../../../portal/src/lib/images';
import { launchStep, launchSteps, nextDelay, nextListDelay, SESSION_BACKOFF, IDLE_LIST_DELAY } from '../../../portal/src/lib/poll';
import { tokenExamples } from '../../../portal/src/lib/examples';

const NOW = Date.parse('2025-03-05T12:00:00Z');

describe('times', () => {
  it('prints the two largest units, as the CLI does', () => {
    expect(duration(4 * 86400_000 - 1000)).toBe('3 d 23 h');
    expect(duration(5 * 60_000 + 3000)).toBe('5 min 3 s');
    expect(duration(2 * 3600_000 + 30_000)).toBe('2 h');
    expect(duration(12_000)).toBe('12 s');
  });

  it('says when, relative to now', () => {
    expect(relativeTime('2025-03-09T12:00:00Z', NOW)).toBe('in 4 d');
    expect(relativeTime('2025-03-05T11:55:00Z', NOW)).toBe('5 min ago');
    expect(relativeTime('2025-03-05T12:00:02Z', NOW)).toBe('just now');
    expect(relativeTime('<none>', NOW)).toBe('');
    expect(relativeTime('garbage', NOW)).toBe('');
  });
});

describe('session fields', () => {
  it('shows live usage once the engine has measured it', () => {
    expect(usage({ cpuCoresInUse: '0.987', ramInUse: '0.54' })).toBe('using 0.99 cores and 0.50 GiB');
    expect(usage({ cpuCoresInUse: '<none>', ramInUse: '<none>' })).toBe('');
    expect(usage({})).toBe('');
  });

  it('shows resources from skaha’s strings', () => {
    expect(resources({ requestedCPUCores: '2', requestedRAM: '8G', requestedGPUCores: '0' })).toBe('2 cores · 8 GiB');
    expect(resources({ requestedCPUCores: '1', requestedRAM: '0.5G', requestedGPUCores: '1' })).toBe('1 core · 0.5 GiB · 1 GPU');
    expect(resources({ requestedCPUCores: '<none>', requestedRAM: '<none>', requestedGPUCores: '<none>' })).toBe('');
  });

  it('shortens images and groups them by project', () => {
    expect(shortImage('images.canfar.net/skaha/webapp:1.0')).toBe('skaha/webapp:1.0');
    expect(projectOf('images.canfar.net/skaha/webapp:1.0')).toBe('skaha');
    expect(projectOf('images.canfar.net/cadc/tools/x:1')).toBe('cadc');
    expect(imageLabel('images.canfar.net/cadc/tools/x:1')).toBe('tools/x:1');
    const images = [
      { id: 'images.canfar.net/skaha/webapp:1.0', types: ['contributed'], digest: '' },
      { id: 'images.canfar.net/skaha/notebook:latest', types: ['notebook', 'headless'], digest: '' },
      { id: 'images.canfar.net/astro/notebook:10', types: ['notebook'], digest: '' },
      { id: 'images.canfar.net/astro/notebook:9', types: ['notebook'], digest: '' },
    ];
    const groups = groupImages(images, 'notebook');
    expect(groups.map((g) => [g.project, g.images.map((i) => imageLabel(i.id))])).toEqual([
      ['astro', ['notebook:10', 'notebook:9']],
      ['skaha', ['notebook:latest']],
    ]);
    expect(groupImages(images, 'notebook', 'LATEST skaha').flatMap((g) => g.images.map((i) => i.id))).toEqual(['images.canfar.net/skaha/notebook:latest']);
    expect(groupImages(images, 'desktop')).toEqual([]);
    expect(pickImage(groups, '')).toBe('images.canfar.net/skaha/notebook:latest');
    expect(pickImage(groups, 'images.canfar.net/astro/notebook:9')).toBe('images.canfar.net/astro/notebook:9');
    expect(pickImage([], 'x')).toBe('');
    // What this browser launched last for the type wins over :latest, while it is still offered.
    expect(pickImage(groups, '', 'images.canfar.net/astro/notebook:9')).toBe('images.canfar.net/astro/notebook:9');
    expect(pickImage(groups, '', 'images.canfar.net/gone/notebook:1')).toBe('images.canfar.net/skaha/notebook:latest');
    rememberImage('notebook', 'images.canfar.net/astro/notebook:9');
    expect(lastImage('notebook')).toBe('images.canfar.net/astro/notebook:9');
    expect(lastImage('carta')).toBeUndefined();
  });

  it("puts an image's tags together, latest first then the newest, and marks what latest points at", () => {
    const images = [
      { id: 'r.org/p/b:1.2', types: ['notebook'], digest: 'sha256:b12' },
      { id: 'r.org/p/a:1.0', types: ['notebook'], digest: 'sha256:a10' },
      { id: 'r.org/p/a:latest', types: ['notebook'], digest: 'sha256:a11' },
      { id: 'r.org/p/a:1.1', types: ['notebook'], digest: 'sha256:a11', title: 'Astro lab', description: 'JupyterLab with astropy' },
      { id: 'r.org/p/b:1.10', types: ['notebook'], digest: 'sha256:b110' },
    ];
    expect(groupImages(images, 'notebook')[0]!.images.map((i) => imageLabel(i.id))).toEqual(['a:latest', 'a:1.1', 'a:1.0', 'b:1.10', 'b:1.2']);
    expect(images.filter((i) => isLatest(i, images)).map((i) => i.id)).toEqual(['r.org/p/a:latest', 'r.org/p/a:1.1']);
    // A search also finds words of the title and description.
    expect(groupImages(images, 'notebook', 'astropy')[0]!.images.map((i) => i.id)).toEqual(['r.org/p/a:1.1']);
  });

  it('connects only to a running interactive session with a URL', () => {
    expect(canConnect({ status: 'Running', type: 'contributed', connectURL: 'http://h/session/contrib/abc/' })).toBe(true);
    expect(canConnect({ status: 'Pending', type: 'contributed', connectURL: 'http://h/session/contrib/abc/' })).toBe(false);
    expect(canConnect({ status: 'Running', type: 'headless', connectURL: 'not-applicable' })).toBe(false);
    expect(canConnect({ status: 'Running', type: 'notebook', connectURL: '<none>' })).toBe(false);
  });

  it('gives each status a tone and sorts newest first', () => {
    expect(['Running', 'Pending', 'Terminating', 'Succeeded', 'Failed', 'Requested'].map(statusTone)).toEqual(['ok', 'busy', 'busy', 'done', 'bad', 'idle']);
    const sorted = sortSessions([
      { id: 'a', startTime: '2025-03-05T10:00:00Z' },
      { id: 'b', startTime: '2025-03-05T11:00:00Z' },
    ]);
    expect(sorted.map((s) => s.id)).toEqual(['b', 'a']);
  });
});

describe('events', () => {
  it('reads the server’s own events table, messages with spaces whole', () => {
    const t = new Date('2025-03-05T11:59:00Z');
    const text = eventsTable([
      { type: 'Normal', reason: 'Created', message: 'Created container abc from image x', firstTime: t, lastTime: t },
      { type: 'Warning', reason: 'BackOff', message: '', firstTime: t, lastTime: new Date('2025-03-05T11:59:30Z') },
    ]);
    expect(parseEvents(text)).toEqual([
      { type: 'Normal', reason: 'Created', message: 'Created container abc from image x', firstTime: '2025-03-05T11:59:00Z', lastTime: '2025-03-05T11:59:00Z' },
      { type: 'Warning', reason: 'BackOff', message: '', firstTime: '2025-03-05T11:59:00Z', lastTime: '2025-03-05T11:59:30Z' },
    ]);
    expect(parseEvents(eventsTable([]))).toEqual([]);
    expect(parseEvents('something else')).toEqual([]);
  });

  it('tells when a finished job ended, how long it ran and its exit code', () => {
    const at = (s: string) => new Date(`2025-03-05T12:00:${s}Z`);
    const row = (reason: string, message: string, s: string) => ({
      type: (reason === 'Failed' ? 'Warning' : 'Normal') as 'Warning' | 'Normal',
      reason,
      message,
      firstTime: at(s),
      lastTime: at(s),
    });
    const ok = parseEvents(
      eventsTable([
        row('Created', 'Created container j', '01'),
        row('Started', 'Started container j', '02'),
        row('Completed', 'Container j exited with code 0', '09'),
      ]),
    );
    expect(endOf(ok)).toEqual({ finishedAt: '2025-03-05T12:00:09Z', ranMs: 7000, exitCode: 0 });
    const failed = parseEvents(eventsTable([row('Started', 'Started container j', '02'), row('Failed', 'Container j exited with code 3', '04')]));
    expect(endOf(failed)).toEqual({ finishedAt: '2025-03-05T12:00:04Z', ranMs: 2000, exitCode: 3 });
    // A pull that failed is not an exit: nothing to say.
    expect(endOf(parseEvents(eventsTable([row('Failed', 'Failed to pull image "x": not found', '01')])))).toBeUndefined();
  });
});

describe('polling', () => {
  it('backs off from half a second to five while a session starts', () => {
    const delays: number[] = [];
    let d: number | undefined;
    for (let i = 0; i < 8; i++) delays.push((d = nextDelay(d, SESSION_BACKOFF)));
    expect(delays).toEqual([500, 750, 1125, 1688, 2532, 3798, 5000, 5000]);
  });

  it('polls the list quickly only while something moves', () => {
    expect(nextListDelay(undefined, [{ status: 'Running' }])).toBe(IDLE_LIST_DELAY);
    expect(nextListDelay(undefined, [{ status: 'Pending' }])).toBe(500);
    expect(nextListDelay(500, [{ status: 'Terminating' }])).toBe(750);
    expect(nextListDelay(IDLE_LIST_DELAY, [{ status: 'Pending' }])).toBe(500);
    expect(nextListDelay(undefined, [], { waiting: true })).toBe(500);
    expect(nextListDelay(undefined, [{ status: 'Pending' }], { hidden: true })).toBe(IDLE_LIST_DELAY);
    expect(nextListDelay(8000, [], { failed: true })).toBe(IDLE_LIST_DELAY);
    expect(nextListDelay(undefined, [], { failed: true })).toBe(2000);
  });

  it('places a new session on its steps', () => {
    expect(launchSteps('contributed')).toEqual(['Requested', 'Pending', 'Running']);
    expect(launchSteps('headless')).toEqual(['Requested', 'Pending', 'Running', 'Finished']);
    expect(launchStep('Requested', 'notebook')).toEqual({ index: 0, failed: false, done: false });
    expect(launchStep('Pending', 'notebook')).toEqual({ index: 1, failed: false, done: false });
    expect(launchStep('Running', 'notebook')).toEqual({ index: 2, failed: false, done: true });
    expect(launchStep('Running', 'headless')).toEqual({ index: 2, failed: false, done: false });
    expect(launchStep('Succeeded', 'headless')).toEqual({ index: 3, failed: false, done: true });
    expect(launchStep('Failed', 'notebook')).toEqual({ index: 2, failed: true, done: true });
  });
});

describe('token examples', () => {
  it('use this site and the token, or $TOKEN', () => {
    const mine = tokenExamples('https://skaha.example', 'skt_abc');
    expect(mine.curl).toContain('curl -H "Authorization: Bearer skt_abc" https://skaha.example/skaha/v0/session');
    expect(mine.cli).toContain('npx skaha login https://skaha.example --token skt_abc');
    expect(mine.python).toContain('server="https://skaha.example/skaha"');
    expect(tokenExamples('http://127.0.0.1:8555').cli).toContain('--token "$TOKEN"');
  });
});
