import { useEffect, useMemo, useState } from 'react';
import type { Api, Me, PublicSession, Stats } from '../api';
import { ErrorNotice, PageHeader, Spinner, StatusBadge, TypeLabel } from '../components/ui';
import { DataTable, When } from '../components/DataTable';

/** Per-user counts of active (Pending or Running) sessions, busiest first. */
export function usersSummary(sessions: PublicSession[]): Array<{ user: string; active: number; total: number }> {
  const byUser = new Map<string, { active: number; total: number }>();
  for (const s of sessions) {
    const entry = byUser.get(s.userid) ?? { active: 0, total: 0 };
    entry.total += 1;
    if (s.status === 'Running' || s.status === 'Pending') entry.active += 1;
    byUser.set(s.userid, entry);
  }
  return [...byUser.entries()].map(([user, c]) => ({ user, ...c })).sort((a, b) => b.active - a.active || b.total - a.total || a.user.localeCompare(b.user));
}

/** skaha's "23.541G" as "23.5 GiB". */
export function gib(value: string): string {
  const m = /^([\d.]+)G$/.exec(value);
  return m ? `${Number(Number(m[1]).toFixed(1))} GiB` : value;
}

export function AdminPage({ api, me }: { api: Api; me: Me }) {
  const [stats, setStats] = useState<Stats>();
  const [all, setAll] = useState<PublicSession[]>();
  const [error, setError] = useState<string>();
  const [reload, setReload] = useState(0);
  const [filter, setFilter] = useState('');

  useEffect(() => {
    if (!me.admin) return;
    let stale = false;
    Promise.all([api.stats(), api.allSessions()]).then(
      ([s, a]) => {
        if (stale) return;
        setStats(s);
        setAll(a);
        setError(undefined);
      },
      (err: Error) => !stale && setError(err.message),
    );
    return () => {
      stale = true;
    };
  }, [api, me.admin, reload]);

  const shown = useMemo(() => {
    const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
    return (all ?? [])
      .filter((s) => words.every((w) => `${s.userid} ${s.type} ${s.status}`.toLowerCase().includes(w)))
      .sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime));
  }, [all, filter]);

  if (!me.admin) {
    return (
      <>
        <PageHeader title="Administration" />
        <div className="notice notice--info">
          <p>
            This page is for the platform's administrators (the <code>skaha-admins</code> group, by default). Ask one if you need to see the platform's load.
          </p>
        </div>
      </>
    );
  }

  return (
    <>
      <PageHeader title="Administration" description="The platform's load and every user's sessions.">
        <button type="button" className="button button--secondary" onClick={() => setReload((r) => r + 1)}>
          Refresh
        </button>
      </PageHeader>
      {error ? <ErrorNotice title="The platform's figures could not be loaded" error={error} onRetry={() => setReload((r) => r + 1)} /> : null}
      {!stats && !error ? (
        <div className="panel loading-panel" aria-busy="true">
          <Spinner label="Loading the platform's figures…" />
        </div>
      ) : null}
      {stats ? (
        <section aria-labelledby="stats-title">
          <h2 id="stats-title" className="visually-hidden">
            Running now
          </h2>
          <ul className="stat-cards">
            <li className="stat-card">
              <span className="stat-label">Running sessions</span>
              <span className="stat-value">{stats.instances.total}</span>
              <span className="stat-detail">
                {stats.instances.session} interactive · {stats.instances.headless} headless · {stats.instances.desktopApp} desktop apps
              </span>
            </li>
            <li className="stat-card">
              <span className="stat-label">CPU cores requested</span>
              <span className="stat-value">
                {Number(stats.cores.requestedCPUCores)} <span className="stat-of">of {Number(stats.cores.cpuCoresAvailable)}</span>
              </span>
              <Meter value={Number(stats.cores.requestedCPUCores)} max={Number(stats.cores.cpuCoresAvailable)} label="CPU cores requested" />
            </li>
            <li className="stat-card">
              <span className="stat-label">Memory requested</span>
              <span className="stat-value">
                {gib(stats.ram.requestedRAM)} <span className="stat-of">of {gib(stats.ram.ramAvailable)}</span>
              </span>
              <Meter value={parseFloat(stats.ram.requestedRAM)} max={parseFloat(stats.ram.ramAvailable)} label="Memory requested" />
            </li>
            <li className="stat-card">
              <span className="stat-label">Users with sessions</span>
              <span className="stat-value">{all ? usersSummary(all).length : '—'}</span>
              <span className="stat-detail">{all ? `${all.length} sessions listed` : ''}</span>
            </li>
          </ul>
        </section>
      ) : null}
      {all ? (
        <section className="panel" aria-labelledby="all-title">
          <div className="panel-header">
            <h2 id="all-title">All sessions</h2>
            <div className="field field--inline">
              <label htmlFor="admin-filter">Filter</label>
              <input id="admin-filter" type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="user, type or status" />
            </div>
          </div>
          {shown.length === 0 ? (
            <p className="empty-inline">{all.length ? 'No session matches the filter.' : 'Nobody has a session.'}</p>
          ) : (
            <DataTable caption="All users' sessions" columns={['User', 'Type', 'Status', 'Started']}>
              {shown.map((s, i) => (
                <tr key={`${s.userid}-${s.startTime}-${i}`}>
                  <td data-label="User">{s.userid}</td>
                  <td data-label="Type">
                    <TypeLabel type={s.type} />
                  </td>
                  <td data-label="Status">
                    <StatusBadge status={s.status} />
                  </td>
                  <td data-label="Started">
                    <When iso={s.startTime} />
                  </td>
                </tr>
              ))}
            </DataTable>
          )}
        </section>
      ) : null}
    </>
  );
}

function Meter({ value, max, label }: { value: number; max: number; label: string }) {
  const pct = max > 0 ? Math.min(100, Math.round((value / max) * 100)) : 0;
  return (
    <span className="meter" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={value} aria-valuetext={`${pct}%`}>
      <span className="meter-fill" style={{ width: `${pct}%` }} />
    </span>
  );
}
