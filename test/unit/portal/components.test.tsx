import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { Api, ApiError, type FormFields, type ImageInfo, type Me, type ResourceContext, type Session } from '../../../portal/src/api';
import { SessionTable } from '../../../portal/src/components/SessionTable';
import { progressSummary } from '../../../portal/src/components/LaunchProgress';
import { desktopAppCounts, mergeSessions } from '../../../portal/src/pages/Sessions';
import { LaunchPage, optimisticSession, resourceDefaults } from '../../../portal/src/pages/Launch';
import { usersSummary, gib } from '../../../portal/src/pages/Admin';
import { RouterProvider } from '../../../portal/src/router';

afterEach(cleanup);

const NOW = Date.parse('2025-03-05T12:00:00Z');

function session(over: Partial<Session> = {}): Session {
  return {
    id: 'abcdefgh',
    userid: 'alice',
    image: 'images.canfar.net/skaha/webapp:1.0',
    type: 'contributed',
    status: 'Running',
    name: 'web1',
    startTime: '2025-03-05T11:55:00Z',
    expiryTime: '2025-03-09T11:55:00Z',
    connectURL: 'http://127.0.0.1:8555/session/contrib/abcdefgh/',
    requestedRAM: '2G',
    requestedCPUCores: '1',
    requestedGPUCores: '0',
    ...over,
  };
}

const noActions = { onRenew: () => {}, onDelete: () => {}, onDetails: () => {} };

describe('the session list', () => {
  it('shows each session with its type, status, times, resources and actions', () => {
    const onRenew = vi.fn();
    const onDelete = vi.fn();
    render(
      <SessionTable
        now={NOW}
        busy={{}}
        actions={{ ...noActions, onRenew, onDelete }}
        sessions={[
          session(),
          session({
            id: 'jjjjjjjj',
            name: 'job1',
            type: 'headless',
            status: 'Succeeded',
            connectURL: 'not-applicable',
            image: 'images.canfar.net/skaha/headless:1.0',
          }),
          session({ id: 'pppppppp', name: 'nb', type: 'notebook', status: 'Pending' }),
        ]}
      />,
    );
    const rows = screen.getAllByRole('row').slice(1);
    expect(rows).toHaveLength(3);
    const web = within(rows[0]!);
    expect(web.getByText('web1', { selector: '.session-name' })).toBeTruthy();
    expect(web.getByText('Contributed')).toBeTruthy();
    expect(web.getByText('skaha/webapp:1.0')).toBeTruthy();
    expect(web.getByText('Running')).toBeTruthy();
    expect(web.getByText('5 min ago')).toBeTruthy();
    expect(web.getByText('in 3 d 23 h')).toBeTruthy();
    expect(web.getByText('1 core · 2 GiB')).toBeTruthy();
    const connect = web.getByRole('link', { name: 'Connect to web1 (opens a new tab)' });
    expect(connect.getAttribute('href')).toBe('http://127.0.0.1:8555/session/contrib/abcdefgh/');
    expect(connect.getAttribute('target')).toBe('_blank');
    expect(connect.getAttribute('rel')).toContain('noopener');
    fireEvent.click(web.getByRole('button', { name: 'Renew web1' }));
    expect(onRenew).toHaveBeenCalledWith(expect.objectContaining({ id: 'abcdefgh' }));
    fireEvent.click(web.getByRole('button', { name: 'Delete web1' }));
    expect(onDelete).toHaveBeenCalledOnce();

    const job = within(rows[1]!);
    expect(job.queryByRole('link')).toBeNull();
    expect(job.queryByRole('button', { name: /Connect/ })).toBeNull();
    expect(job.queryByRole('button', { name: /Renew/ })).toBeNull();
    expect(job.getByText('Headless job')).toBeTruthy();

    const pending = within(rows[2]!);
    expect((pending.getByRole('button', { name: 'Connect to nb' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('says when a session ends, exactly, and warns in its last hour', () => {
    render(
      <SessionTable
        now={NOW}
        busy={{}}
        actions={noActions}
        sessions={[session(), session({ id: 'soonsoon', name: 'soon', expiryTime: '2025-03-05T12:40:00Z' })]}
      />,
    );
    const [later, soon] = screen
      .getAllByRole('row')
      .slice(1)
      .map((r) => within(r));
    expect(later!.getByText(/\(.*2025.*\)/).textContent).toMatch(/2025/);
    expect(later!.queryByText(/renew to keep it/)).toBeNull();
    expect(soon!.getByText('in 40 min').closest('.expiry-soon')).toBeTruthy();
    expect(soon!.getByText(/renew to keep it/)).toBeTruthy();
  });

  it('marks a session being deleted, and keeps launched ones until the server lists them', () => {
    const launched = session({ id: 'newnewnn', name: 'fresh', status: 'Requested', startTime: '2025-03-05T12:00:00Z' });
    const server = [session()];
    expect(mergeSessions(server, [launched], new Set()).map((s) => s.id)).toEqual(['newnewnn', 'abcdefgh']);
    expect(mergeSessions([...server, { ...launched, status: 'Pending' }], [launched], new Set()).map((s) => s.status)).toEqual(['Pending', 'Running']);
    expect(mergeSessions(server, [], new Set(['abcdefgh']))[0]!.status).toBe('Terminating');
    expect(mergeSessions(undefined, [], new Set())).toEqual([]);
  });

  it('lists desktop-apps under their desktop, not as rows of their own', () => {
    const desktop = session({ id: 'deskdesk', name: 'desk', type: 'desktop' });
    const apps = [
      session({ id: 'deskdesk', appid: 'a01', type: 'desktop-app' }),
      session({ id: 'deskdesk', appid: 'a02', type: 'desktop-app' }),
      session({ id: 'deskdesk', appid: 'a03', type: 'desktop-app', status: 'Succeeded' }),
    ];
    expect(mergeSessions([desktop, ...apps], [], new Set()).map((s) => s.type)).toEqual(['desktop']);
    const counts = desktopAppCounts([desktop, ...apps]);
    expect(counts).toEqual({ deskdesk: 2 });
    render(<SessionTable now={NOW} busy={{}} actions={noActions} sessions={[desktop]} appCounts={counts} />);
    expect(screen.getByText('Desktop · 2 apps')).toBeTruthy();
  });

  it('says where a new session is', () => {
    expect(progressSummary(session({ status: 'Pending' }))).toBe('web1 is starting: its container is being created.');
    expect(progressSummary(session())).toBe('web1 is running and ready to connect.');
    expect(progressSummary(session({ status: 'Failed' }))).toMatch(/failed/);
  });
});

describe('the admin page helpers', () => {
  it('counts sessions per user and prints memory', () => {
    expect(
      usersSummary([
        { userid: 'bob', type: 'headless', status: 'Succeeded', startTime: '' },
        { userid: 'alice', type: 'notebook', status: 'Running', startTime: '' },
        { userid: 'bob', type: 'notebook', status: 'Pending', startTime: '' },
        { userid: 'bob', type: 'notebook', status: 'Running', startTime: '' },
      ]),
    ).toEqual([
      { user: 'bob', active: 2, total: 3 },
      { user: 'alice', active: 1, total: 1 },
    ]);
    expect(gib('23.541G')).toBe('23.5 GiB');
    expect(gib('8G')).toBe('8 GiB');
  });
});

describe('the launch form', () => {
  const me: Me = { username: 'alice', uid: 20001, groups: [], method: 'cookie', scopes: ['read', 'launch'], admin: false, csrfToken: 'c' };
  const images: ImageInfo[] = [
    { id: 'images.canfar.net/skaha/notebook:1.0', types: ['notebook'], digest: '' },
    { id: 'images.canfar.net/skaha/webapp:1.0', types: ['contributed'], digest: '' },
    { id: 'images.canfar.net/skaha/headless:1.0', types: ['headless'], digest: '' },
    { id: 'images.canfar.net/cadc/webtool:2', types: ['contributed'], digest: '' },
  ];
  const context: ResourceContext = {
    cores: { default: 2, defaultHeadless: 1, options: [1, 2, 4] },
    memoryGB: { default: 8, defaultHeadless: 4, options: [1, 2, 4, 8] },
    gpus: { options: [] },
  };

  function fakeApi(launch: (f: FormFields) => Promise<string>) {
    return { images: async () => images, context: async () => context, sessions: async () => [], launch } as unknown as Api;
  }

  it('offers the context’s defaults, refuses a bad name before sending, then sends the form', async () => {
    const launch = vi.fn(async (_: FormFields) => 'newid123');
    const onLaunched = vi.fn();
    render(
      <RouterProvider>
        <LaunchPage api={fakeApi(launch)} me={me} onLaunched={onLaunched} />
      </RouterProvider>,
    );
    await screen.findByRole('heading', { name: 'Launch a session' });
    await screen.findByLabelText('CPU cores');
    expect((screen.getByLabelText('CPU cores') as HTMLSelectElement).value).toBe('2');
    expect((screen.getByLabelText('Memory') as HTMLSelectElement).value).toBe('8');
    expect((screen.getByLabelText('GPUs') as HTMLSelectElement).disabled).toBe(true);
    expect((screen.getByRole('radio', { name: /^Desktop/ }) as HTMLInputElement).disabled).toBe(true);

    fireEvent.click(screen.getByRole('radio', { name: /^Contributed/ }));
    const image = screen.getByLabelText('Image', { selector: 'select' }) as HTMLSelectElement;
    await waitFor(() => expect(image.value).toBe('images.canfar.net/cadc/webtool:2'));
    expect([...image.querySelectorAll('optgroup')].map((g) => g.label)).toEqual(['cadc', 'skaha']);
    fireEvent.change(screen.getByLabelText('Search images'), { target: { value: 'webapp' } });
    await waitFor(() => expect(image.value).toBe('images.canfar.net/skaha/webapp:1.0'));
    const name = screen.getByLabelText('Name') as HTMLInputElement;
    expect(name.value).toBe('webapp');

    fireEvent.change(name, { target: { value: 'no good!' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch web app' }));
    expect(await screen.findByRole('alert')).toBeTruthy();
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(launch).not.toHaveBeenCalled();

    fireEvent.change(name, { target: { value: 'web1' } });
    fireEvent.change(screen.getByLabelText('CPU cores'), { target: { value: '1' } });
    fireEvent.click(screen.getByRole('button', { name: 'Launch web app' }));
    await waitFor(() => expect(onLaunched).toHaveBeenCalledOnce());
    expect(launch.mock.calls[0]![0]).toEqual([
      ['name', 'web1'],
      ['image', 'images.canfar.net/skaha/webapp:1.0'],
      ['type', 'contributed'],
      ['cores', '1'],
      ['ram', '8'],
    ]);
    expect(onLaunched.mock.calls[0]![0]).toMatchObject({ id: 'newid123', name: 'web1', status: 'Requested', type: 'contributed' });
    expect(window.location.pathname).toBe('/');
  });

  it('shows the server’s one-line refusal', async () => {
    const launch = vi.fn(async () => {
      throw new ApiError(400, 'User alice has reached the maximum of 5 active sessions.');
    });
    render(
      <RouterProvider>
        <LaunchPage api={fakeApi(launch)} me={me} onLaunched={() => {}} />
      </RouterProvider>,
    );
    const button = await screen.findByRole('button', { name: 'Launch notebook' });
    await waitFor(() => expect((screen.getByLabelText('Name') as HTMLInputElement).value).toBe('notebook'));
    fireEvent.click(button);
    await waitFor(() => expect(launch).toHaveBeenCalled());
    expect((await screen.findByRole('alert')).textContent).toContain('User alice has reached the maximum of 5 active sessions.');
  });

  it('states the fixed resources of a desktop instead of offering choices, and sends none', async () => {
    const launch = vi.fn(async (_: FormFields) => 'desk1234');
    const withDesktop = [...images, { id: 'images.canfar.net/skaha/desktop:1.0', types: ['desktop'], digest: '' }];
    const api = { images: async () => withDesktop, context: async () => context, sessions: async () => [], launch } as unknown as Api;
    render(
      <RouterProvider>
        <LaunchPage api={api} me={me} onLaunched={() => {}} />
      </RouterProvider>,
    );
    fireEvent.click(await screen.findByRole('radio', { name: /^Desktop/ }));
    const fixed = await screen.findByText(/Desktop sessions run with fixed resources/);
    expect(fixed.textContent).toBe(
      'Desktop sessions run with fixed resources: 0.25 cores guaranteed, up to 1 core; 1 GiB of memory guaranteed, up to 4 GiB. They are the same for every launch.',
    );
    expect(screen.queryByLabelText('CPU cores')).toBeNull();
    expect(screen.queryByLabelText('Memory')).toBeNull();
    await waitFor(() => expect((screen.getByLabelText('Name') as HTMLInputElement).value).toBe('desktop'));
    fireEvent.click(screen.getByRole('button', { name: /^Launch/ }));
    await waitFor(() => expect(launch).toHaveBeenCalledOnce());
    expect(launch.mock.calls[0]![0]).toEqual([
      ['name', 'desktop'],
      ['image', 'images.canfar.net/skaha/desktop:1.0'],
      ['type', 'desktop'],
    ]);
  });

  it('warns before launching past the interactive limit, says which sessions count, and still launches jobs', async () => {
    const launch = vi.fn(async (_: FormFields) => 'job12345');
    const mine = (name: string, type: string, status: string) => ({ id: name, name, type, status }) as unknown as Session;
    const sessions = [
      mine('nb1', 'notebook', 'Running'),
      mine('web1', 'contributed', 'Pending'),
      mine('old', 'notebook', 'Succeeded'),
      mine('job', 'headless', 'Running'),
    ];
    const api = {
      images: async () => images,
      context: async () => ({ ...context, maxInteractiveSessions: '2' }),
      sessions: async () => sessions,
      launch,
    } as unknown as Api;
    render(
      <RouterProvider>
        <LaunchPage api={api} me={me} onLaunched={() => {}} />
      </RouterProvider>,
    );
    const warning = await screen.findByText(/You have 2 of 2 interactive sessions/);
    expect(warning.closest('[role=status]')?.textContent).toContain('(nb1, web1)');
    const button = screen.getByRole('button', { name: 'Launch notebook' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    expect(screen.getByRole('link', { name: 'Go to your sessions' })).toBeTruthy();
    fireEvent.click(screen.getByRole('radio', { name: /^Headless/ }));
    await waitFor(() => expect(screen.queryByText(/interactive sessions/)).toBeNull());
    const submit = screen.getAllByRole('button').find((b) => (b as HTMLButtonElement).type === 'submit') as HTMLButtonElement;
    expect(submit.disabled).toBe(false);
  });

  it('uses the headless defaults for jobs', () => {
    expect(resourceDefaults(context, 'headless')).toEqual({ cores: '1', ram: '4' });
    expect(resourceDefaults(context, 'notebook')).toEqual({ cores: '2', ram: '8' });
    expect(
      optimisticSession('x', me, { type: 'notebook', image: 'i', name: 'My-NB', cores: '2', ram: '8', gpus: '0', cmd: '', args: '', env: '' }),
    ).toMatchObject({ name: 'my-nb', requestedRAM: '8G', userid: 'alice' });
  });
});

describe('the API client', () => {
  it('sends the CSRF token and a urlencoded body on changes, and the server’s line on errors', async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const replies = [
      new Response('abcdefgh\n', { status: 200 }),
      new Response('CSRF check failed: send the X-CSRF-Token\n', { status: 403 }),
      new Response('Unauthorized\n', { status: 401 }),
    ];
    const fetcher = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return replies.shift()!;
    }) as unknown as typeof fetch;
    const onUnauthorized = vi.fn();
    const api = new Api(() => 'tok', onUnauthorized, fetcher);
    expect(
      await api.launch([
        ['name', 'a b'],
        ['env', 'A=1'],
        ['env', 'B=2'],
      ]),
    ).toBe('abcdefgh');
    const headers = calls[0]!.init.headers as Record<string, string>;
    expect(calls[0]!.url).toBe('/skaha/v0/session');
    expect(calls[0]!.init.method).toBe('POST');
    expect(headers['x-csrf-token']).toBe('tok');
    expect(headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(calls[0]!.init.body).toBe('name=a+b&env=A%3D1&env=B%3D2');
    await expect(api.remove('abcdefgh')).rejects.toMatchObject({ status: 403, message: 'CSRF check failed: send the X-CSRF-Token' });
    await expect(api.sessions()).rejects.toMatchObject({ status: 401 });
    expect(onUnauthorized).toHaveBeenCalledOnce();
    expect((calls[2]!.init.headers as Record<string, string>)['x-csrf-token']).toBeUndefined();
  });
});
