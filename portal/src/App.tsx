import { useCallback, useEffect, useMemo, useState } from 'react';
import { Api, whoAmI, type Me, type Session } from './api';
import { Layout } from './components/Layout';
import { ErrorNotice, Spinner } from './components/ui';
import { AccountPage } from './pages/Account';
import { AdminPage } from './pages/Admin';
import { LaunchPage } from './pages/Launch';
import { LoginPage } from './pages/Login';
import { NotFoundPage } from './pages/NotFound';
import { SessionsPage } from './pages/Sessions';
import { StoragePage } from './pages/Storage';
import { ROUTES, RouterProvider, useRouter } from './router';

type Auth = { state: 'loading' } | { state: 'out' } | { state: 'in'; me: Me } | { state: 'error'; message: string };

export function App() {
  return (
    <RouterProvider>
      <Portal />
    </RouterProvider>
  );
}

function Portal() {
  const [auth, setAuth] = useState<Auth>({ state: 'loading' });
  const load = useCallback(async () => {
    try {
      const me = await whoAmI();
      setAuth(me ? { state: 'in', me } : { state: 'out' });
    } catch (err) {
      setAuth({ state: 'error', message: (err as Error).message });
    }
  }, []);
  useEffect(() => void load(), [load]);

  const csrf = auth.state === 'in' ? auth.me.csrfToken : undefined;
  const api = useMemo(
    () =>
      new Api(
        () => csrf,
        () => setAuth({ state: 'out' }),
      ),
    [csrf],
  );

  if (auth.state === 'loading') {
    return (
      <main className="centered" id="main">
        <Spinner label="Loading skaha…" />
      </main>
    );
  }
  if (auth.state === 'error') {
    return (
      <main className="centered" id="main">
        <ErrorNotice title="The platform cannot be reached" error={auth.message} onRetry={() => void load()} />
      </main>
    );
  }
  if (auth.state === 'out') return <LoginPage />;
  return <SignedIn me={auth.me} api={api} />;
}

function SignedIn({ me, api }: { me: Me; api: Api }) {
  const { path } = useRouter();
  // Sessions this browser just launched: listed at once, before the server's list has them.
  const [launched, setLaunched] = useState<Session[]>([]);
  const [watching, setWatching] = useState<string | undefined>();

  const onLaunched = useCallback((session: Session) => {
    setLaunched((l) => [session, ...l.filter((s) => s.id !== session.id)]);
    setWatching(session.id);
  }, []);
  const forget = useCallback(
    (ids: string[]) => setLaunched((l) => (ids.some((id) => l.some((s) => s.id === id)) ? l.filter((s) => !ids.includes(s.id)) : l)),
    [],
  );

  let page;
  switch (path.replace(/\/+$/, '') || '/') {
    case ROUTES.sessions:
      page = <SessionsPage api={api} me={me} launched={launched} forgetLaunched={forget} watching={watching} stopWatching={() => setWatching(undefined)} />;
      break;
    case ROUTES.launch:
      page = <LaunchPage api={api} me={me} onLaunched={onLaunched} />;
      break;
    case ROUTES.storage:
      page = <StoragePage api={api} me={me} />;
      break;
    case ROUTES.account:
      page = <AccountPage api={api} me={me} />;
      break;
    case ROUTES.admin:
      page = <AdminPage api={api} me={me} />;
      break;
    default:
      page = <NotFoundPage />;
  }
  return <Layout me={me}>{page}</Layout>;
}
