import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { SESSION_EVENTS, type Api, type Me, type Session } from '../api';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { LaunchProgress } from '../components/LaunchProgress';
import { SessionDetails } from '../components/SessionDetails';
import { displayName, SessionTable } from '../components/SessionTable';
import { EmptyState, ErrorNotice, PageHeader, Spinner, StatusMessage } from '../components/ui';
import { relativeTime, sortSessions } from '../lib/format';
import { IDLE_LIST_DELAY, nextListDelay } from '../lib/poll';
import { Link, ROUTES } from '../router';

/**
 * The server's list with the sessions this browser just launched and the server does not list
 * yet, and the local view of ones being deleted: what the page shows. Desktop-apps (listed by
 * v0 with their desktop's ID) are not rows: their desktop's details list them.
 */
export function mergeSessions(server: Session[] | undefined, launched: Session[], deleting: Set<string>): Session[] {
  const listed = (server ?? []).filter((s) => s.type !== 'desktop-app');
  const ids = new Set(listed.map((s) => s.id));
  const merged = [...launched.filter((s) => !ids.has(s.id)), ...listed].map((s) =>
    deleting.has(s.id) && s.status !== 'Terminating' ? { ...s, status: 'Terminating' } : s,
  );
  return sortSessions(merged);
}

/** How many desktop-apps run in each desktop, by the desktop's ID. */
export function desktopAppCounts(server: Session[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of server) if (s.type === 'desktop-app' && s.status !== 'Succeeded' && s.status !== 'Failed') counts[s.id] = (counts[s.id] ?? 0) + 1;
  return counts;
}

export function SessionsPage({
  api,
  launched,
  forgetLaunched,
  watching,
  stopWatching,
}: {
  api: Api;
  me: Me;
  launched: Session[];
  forgetLaunched: (ids: string[]) => void;
  watching: string | undefined;
  stopWatching: () => void;
}) {
  const [server, setServer] = useState<Session[]>();
  const [error, setError] = useState<string>();
  const [refresh, setRefresh] = useState(0);
  const [now, setNow] = useState(() => Date.now());
  const [busy, setBusy] = useState<Record<string, string | undefined>>({});
  const [deleting, setDeleting] = useState<Set<string>>(() => new Set());
  const [message, setMessage] = useState<{ text: string; tone: 'ok' | 'error' }>();
  const [selected, setSelected] = useState<string>();
  const [confirm, setConfirm] = useState<Session>();
  const [confirmError, setConfirmError] = useState<string>();
  const launchedRef = useRef(launched);
  launchedRef.current = launched;

  // The list, pushed by the server as it changes (server-sent events), and polled: quickly with
  // backoff while anything starts or stops and the push is not connected, slowly otherwise.
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let delay: number | undefined;
    let last: Session[] = [];
    let live = false;
    const feed = typeof EventSource === 'undefined' ? undefined : new EventSource(SESSION_EVENTS);
    feed?.addEventListener('open', () => (live = true));
    feed?.addEventListener('error', () => (live = false));
    feed?.addEventListener('sessions', (e) => {
      if (stopped) return;
      last = JSON.parse((e as MessageEvent<string>).data) as Session[];
      setServer(last);
      setError(undefined);
      setNow(Date.now());
    });
    const run = async () => {
      let failed = false;
      try {
        last = await api.sessions();
        if (stopped) return;
        setServer(last);
        setError(undefined);
        setNow(Date.now());
      } catch (err) {
        failed = true;
        if (!stopped) setError((err as Error).message);
      }
      if (stopped) return;
      const listed = new Set(last.map((s) => s.id));
      const waiting = launchedRef.current.some((s) => !listed.has(s.id));
      delay = live && !waiting ? IDLE_LIST_DELAY : nextListDelay(delay, last, { waiting, failed, hidden: document.visibilityState === 'hidden' });
      timer = setTimeout(run, delay);
    };
    void run();
    const onVisible = () => document.visibilityState === 'visible' && setRefresh((r) => r + 1);
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      clearTimeout(timer);
      feed?.close();
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [api, refresh]);

  // Relative times move on between fetches.
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, []);

  // Launched sessions the server lists now need no local copy; deleted ones gone from the list are done.
  useEffect(() => {
    if (!server) return;
    const ids = new Set(server.map((s) => s.id));
    const seen = launched.filter((s) => ids.has(s.id)).map((s) => s.id);
    if (seen.length) forgetLaunched(seen);
    setDeleting((d) => {
      const still = [...d].filter((id) => ids.has(id));
      return still.length === d.size ? d : new Set(still);
    });
  }, [server, launched, forgetLaunched]);

  const sessions = useMemo(() => mergeSessions(server, launched, deleting), [server, launched, deleting]);
  const appCounts = useMemo(() => desktopAppCounts(server ?? []), [server]);
  const watched = watching ? sessions.find((s) => s.id === watching) : undefined;
  const detailed = selected ? sessions.find((s) => s.id === selected) : undefined;

  const renew = useCallback(
    async (s: Session) => {
      setBusy((b) => ({ ...b, [s.id]: 'Renewing' }));
      try {
        await api.renew(s.id);
        const fresh = await api.session(s.id).catch(() => undefined);
        setMessage({ text: `Renewed ${displayName(s)}${fresh ? `: it now expires ${relativeTime(fresh.expiryTime)}` : ''}.`, tone: 'ok' });
        setRefresh((r) => r + 1);
      } catch (err) {
        setMessage({ text: `Could not renew ${displayName(s)}: ${(err as Error).message}`, tone: 'error' });
      } finally {
        setBusy((b) => ({ ...b, [s.id]: undefined }));
      }
    },
    [api],
  );

  const remove = useCallback(async () => {
    if (!confirm) return;
    const s = confirm;
    setBusy((b) => ({ ...b, [s.id]: 'Deleting' }));
    setConfirmError(undefined);
    try {
      await api.remove(s.id);
      setDeleting((d) => new Set(d).add(s.id));
      setConfirm(undefined);
      if (selected === s.id) setSelected(undefined);
      if (watching === s.id) stopWatching();
      setMessage({ text: `Deleted ${displayName(s)}.`, tone: 'ok' });
      setRefresh((r) => r + 1);
    } catch (err) {
      setConfirmError((err as Error).message);
    } finally {
      setBusy((b) => ({ ...b, [s.id]: undefined }));
    }
  }, [api, confirm, selected, watching, stopWatching]);

  const actions = useMemo(
    () => ({
      onRenew: (s: Session) => void renew(s),
      onDelete: (s: Session) => {
        setConfirmError(undefined);
        setConfirm(s);
      },
      onDetails: (s: Session) => setSelected((cur) => (cur === s.id ? undefined : s.id)),
    }),
    [renew],
  );

  const active = sessions.filter((s) => s.status === 'Running' || s.status === 'Pending').length;

  return (
    <>
      <PageHeader
        title="Sessions"
        description={
          server
            ? `${sessions.length} ${sessions.length === 1 ? 'session' : 'sessions'}, ${active} active. The list updates by itself.`
            : 'Your notebooks, desktops, web apps and jobs.'
        }
      >
        <button type="button" className="button button--secondary" onClick={() => setRefresh((r) => r + 1)}>
          Refresh
        </button>
        <Link to={ROUTES.launch} className="button button--primary">
          Launch a session
        </Link>
      </PageHeader>

      <StatusMessage message={message?.text} tone={message?.tone} onDismiss={() => setMessage(undefined)} />

      {watched ? <LaunchProgress api={api} session={watched} onDismiss={stopWatching} onDetails={() => setSelected(watched.id)} /> : null}

      {error && server ? (
        <ErrorNotice title="The list could not be updated" error={`${error} It is shown as it was last.`} onRetry={() => setRefresh((r) => r + 1)} />
      ) : null}

      {!server && !error ? (
        <div className="panel loading-panel" aria-busy="true">
          <Spinner label="Loading your sessions…" />
        </div>
      ) : null}
      {!server && error ? <ErrorNotice title="Your sessions could not be loaded" error={error} onRetry={() => setRefresh((r) => r + 1)} /> : null}

      {server && sessions.length === 0 ? (
        <EmptyState
          title="No sessions yet"
          action={
            <Link to={ROUTES.launch} className="button button--primary">
              Launch your first session
            </Link>
          }
        >
          <p className="muted">
            A session is a container that runs as you, with your home directory: a Jupyter notebook, a desktop, CARTA, a contributed web app or a batch job.
          </p>
        </EmptyState>
      ) : null}

      {sessions.length > 0 ? <SessionTable sessions={sessions} now={now} busy={busy} selected={selected} actions={actions} appCounts={appCounts} /> : null}

      {detailed ? <SessionDetails key={detailed.id} api={api} session={detailed} onClose={() => setSelected(undefined)} /> : null}

      <ConfirmDialog
        open={!!confirm}
        title={confirm ? `Delete ${displayName(confirm)}?` : 'Delete?'}
        confirmLabel="Delete session"
        busy={confirm ? busy[confirm.id] === 'Deleting' : false}
        error={confirmError}
        onConfirm={() => void remove()}
        onCancel={() => setConfirm(undefined)}
      >
        <p>
          The session stops at once and anything running in it ends. Files in your home directory (<code>/arc/home</code>) and projects stay; the session's{' '}
          <code>/scratch</code> is removed.
        </p>
      </ConfirmDialog>
    </>
  );
}
