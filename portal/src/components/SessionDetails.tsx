import { useCallback, useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import type { Api, Session } from '../api';
import { endOf, parseEvents } from '../lib/events';
import { absoluteTime, duration, isFinished, relativeTime, resources, shortImage, usage } from '../lib/format';
import { displayName } from './SessionTable';
import { ErrorNotice, Spinner, StatusBadge } from './ui';
import { DataTable, When } from './DataTable';
import { Link, ROUTES } from '../router';

type Tab = 'logs' | 'events' | 'apps';

type Load<T> = { state: 'loading' } | { state: 'ok'; value: T; at: number } | { state: 'error'; message: string };

/**
 * One session's logs, events and (for a desktop) desktop-apps, in tabs (WAI-ARIA tabs: arrow
 * keys move between them).
 */
export function SessionDetails({ api, session, onClose }: { api: Api; session: Session; onClose: () => void }) {
  const tabs: Tab[] = session.type === 'desktop' ? ['logs', 'events', 'apps'] : ['logs', 'events'];
  const [tab, setTab] = useState<Tab>('logs');
  const [load, setLoad] = useState<Load<string | Session[]>>({ state: 'loading' });
  const [reload, setReload] = useState(0);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const tabRefs = useRef<Partial<Record<Tab, HTMLButtonElement | null>>>({});
  const base = useId();
  const name = displayName(session);

  useEffect(() => {
    headingRef.current?.focus();
  }, [session.id]);

  // A finished session says when it ended, how long it ran and its exit code (from its events).
  const [ending, setEnding] = useState<ReturnType<typeof endOf>>();
  useEffect(() => {
    let stale = false;
    setEnding(undefined);
    if (isFinished(session.status))
      api.events(session.id).then(
        (text) => !stale && setEnding(endOf(parseEvents(text))),
        () => undefined,
      );
    return () => {
      stale = true;
    };
  }, [api, session.id, session.status]);

  const fetchTab = useCallback(
    async (which: Tab): Promise<string | Session[]> => {
      if (which === 'logs') return api.logs(session.id);
      if (which === 'events') return api.events(session.id);
      return (await api.apps(session.id)).filter((a) => a.id === session.id);
    },
    [api, session.id],
  );

  useEffect(() => {
    let stale = false;
    setLoad((l) => (l.state === 'ok' ? l : { state: 'loading' }));
    fetchTab(tab).then(
      (value) => !stale && setLoad({ state: 'ok', value, at: Date.now() }),
      (err: Error) => !stale && setLoad({ state: 'error', message: err.message }),
    );
    return () => {
      stale = true;
    };
    // The status is a dependency: a session that starts or ends has new logs and events.
  }, [fetchTab, tab, reload, session.status]);

  const choose = (t: Tab) => {
    if (t === tab) return;
    setLoad({ state: 'loading' });
    setTab(t);
  };

  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    const i = tabs.indexOf(tab);
    let next: Tab | undefined;
    if (e.key === 'ArrowRight') next = tabs[(i + 1) % tabs.length];
    else if (e.key === 'ArrowLeft') next = tabs[(i - 1 + tabs.length) % tabs.length];
    else if (e.key === 'Home') next = tabs[0];
    else if (e.key === 'End') next = tabs[tabs.length - 1];
    if (!next) return;
    e.preventDefault();
    choose(next);
    tabRefs.current[next]?.focus();
  };

  const labels: Record<Tab, string> = { logs: 'Logs', events: 'Events', apps: 'Desktop apps' };

  return (
    <section className="panel details" id="session-details" aria-labelledby={`${base}-title`}>
      <div className="panel-header">
        <div>
          <h2 id={`${base}-title`} ref={headingRef} tabIndex={-1}>
            {name} <StatusBadge status={session.status} />
          </h2>
          <p className="muted small">
            <code>{session.id}</code> · {shortImage(session.image)} · {resources(session)}
            {usage(session) ? <> ({usage(session)})</> : null} · started <When iso={session.startTime} />
          </p>
          {ending ? (
            <p className="small finished-summary">
              Finished <time dateTime={ending.finishedAt}>{absoluteTime(ending.finishedAt)}</time>
              {ending.ranMs !== undefined ? <> · ran {duration(ending.ranMs)}</> : null}
              {ending.exitCode !== undefined ? <> · exit code {ending.exitCode}</> : null}
            </p>
          ) : null}
          <p className="small">
            <Link to={`${ROUTES.storage}?path=${encodeURIComponent(`/home/${session.userid}`)}`}>Open this session's home</Link> (
            <code>/arc/home/{session.userid}</code>)
          </p>
        </div>
        <div className="panel-header-actions">
          <button type="button" className="button button--secondary button--small" onClick={() => setReload((r) => r + 1)}>
            Refresh<span className="visually-hidden"> {labels[tab].toLowerCase()}</span>
          </button>
          <button type="button" className="button button--ghost button--small" onClick={onClose}>
            Close<span className="visually-hidden"> details of {name}</span>
          </button>
        </div>
      </div>
      <div role="tablist" aria-label={`Details of ${name}`} className="tabs">
        {tabs.map((t) => (
          <button
            key={t}
            type="button"
            role="tab"
            id={`${base}-tab-${t}`}
            ref={(el) => {
              tabRefs.current[t] = el;
            }}
            aria-selected={tab === t}
            aria-controls={`${base}-panel`}
            tabIndex={tab === t ? 0 : -1}
            className="tab"
            onClick={() => choose(t)}
            onKeyDown={onTabKey}
          >
            {labels[t]}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${base}-panel`} aria-labelledby={`${base}-tab-${tab}`} className="tabpanel" aria-busy={load.state === 'loading'}>
        {load.state === 'loading' ? <Spinner label={`Loading ${labels[tab].toLowerCase()}…`} /> : null}
        {load.state === 'error' ? (
          <ErrorNotice error={load.message} onRetry={() => setReload((r) => r + 1)} title={`The ${labels[tab].toLowerCase()} could not be loaded`} />
        ) : null}
        {load.state === 'ok' && tab === 'logs' ? <Logs text={load.value as string} /> : null}
        {load.state === 'ok' && tab === 'events' ? <Events text={load.value as string} /> : null}
        {load.state === 'ok' && tab === 'apps' ? <Apps apps={load.value as Session[]} /> : null}
      </div>
    </section>
  );
}

function Logs({ text }: { text: string }) {
  if (!text.trim()) return <p className="muted">No output yet.</p>;
  return (
    <pre className="log" tabIndex={0} aria-label="Session logs">
      {text}
    </pre>
  );
}

function Events({ text }: { text: string }) {
  const rows = parseEvents(text);
  if (text.trim() === '<none>' || (!rows.length && !text.trim())) return <p className="muted">No events.</p>;
  if (!rows.length)
    return (
      <pre className="log" tabIndex={0}>
        {text}
      </pre>
    );
  return (
    <DataTable caption="Events" className="events-table" columns={['Type', 'Reason', 'Message', 'Last seen']}>
      {rows.map((r, i) => (
        <tr key={i}>
          <td data-label="Type">
            <span className={r.type === 'Warning' ? 'event-warning' : undefined}>{r.type}</span>
          </td>
          <td data-label="Reason">{r.reason}</td>
          <td data-label="Message">{r.message || '—'}</td>
          <td data-label="Last seen">
            <When iso={r.lastTime} />
          </td>
        </tr>
      ))}
    </DataTable>
  );
}

function Apps({ apps }: { apps: Session[] }) {
  if (!apps.length)
    return (
      <p className="muted">
        No desktop apps run in this desktop. Start them from the desktop's own menu, or with <code>skaha app launch</code>.
      </p>
    );
  return (
    <DataTable caption="Desktop apps" columns={['App', 'Image', 'Status', 'Started', 'Resources']}>
      {apps.map((a) => (
        <tr key={`${a.id}-${a.appid}`}>
          <td data-label="App">
            {displayName(a)} <code className="muted">{a.appid}</code>
          </td>
          <td data-label="Image">{shortImage(a.image)}</td>
          <td data-label="Status">
            <StatusBadge status={a.status} />
          </td>
          <td data-label="Started">{relativeTime(a.startTime)}</td>
          <td data-label="Resources">{resources(a)}</td>
        </tr>
      ))}
    </DataTable>
  );
}
