import type { Session } from '../api';
import { absoluteTime, canConnect, isFinished, isNone, relativeTime, resources, shortImage, typeLabel } from '../lib/format';
import { StatusBadge, TypeLabel } from './ui';
import { ACTIONS, DataTable } from './DataTable';

interface SessionActions {
  onRenew(s: Session): void;
  onDelete(s: Session): void;
  onDetails(s: Session): void;
}

/** A session's name as people know it (skaha stores names lower-cased; `<none>` for none). */
export const displayName = (s: Pick<Session, 'name' | 'id'>) => (isNone(s.name) ? s.id : s.name);

/**
 * The caller's sessions: one row each, its actions at the end. Below a laptop's width the rows
 * become cards (CSS), each cell keeping its column's name.
 */
/** A session that ends sooner than this is flagged in the list. */
const EXPIRY_WARNING_MS = 60 * 60_000;

export function SessionTable({
  sessions,
  now,
  busy,
  selected,
  actions,
  appCounts = {},
}: {
  sessions: Session[];
  now: number;
  busy: Record<string, string | undefined>;
  selected?: string | undefined;
  actions: SessionActions;
  appCounts?: Record<string, number>;
}) {
  return (
    <DataTable caption="Your sessions" className="sessions-table card-table" columns={['Session', 'Image', 'Status', 'Time', 'Resources', ACTIONS]}>
      {sessions.map((s) => (
        <SessionRow key={s.id} s={s} now={now} busy={busy[s.id]} selected={selected === s.id} actions={actions} apps={appCounts[s.id] ?? 0} />
      ))}
    </DataTable>
  );
}

function SessionRow({
  s,
  now,
  busy,
  selected,
  actions,
  apps,
}: {
  s: Session;
  now: number;
  busy: string | undefined;
  selected: boolean;
  actions: SessionActions;
  apps: number;
}) {
  const name = displayName(s);
  const connectable = canConnect(s);
  const started = relativeTime(s.startTime, now);
  const expires = relativeTime(s.expiryTime, now);
  const finished = isFinished(s.status);
  // Less than an hour left: say so where the time is, with the end's exact time.
  const soon = !finished && !!expires && new Date(s.expiryTime).getTime() - now < EXPIRY_WARNING_MS;
  return (
    <tr data-session-id={s.id} className={selected ? 'is-selected' : undefined}>
      <td data-label="Session">
        <div className="session-cell">
          <TypeLabel type={s.type} withText={false} />
          <div>
            <div className="session-name">{name}</div>
            <div className="muted small">
              {typeLabel(s.type)}
              {apps ? ` · ${apps} ${apps === 1 ? 'app' : 'apps'}` : ''}
            </div>
          </div>
        </div>
      </td>
      <td data-label="Image">
        <span className="image-name" title={s.image}>
          {shortImage(s.image)}
        </span>
      </td>
      <td data-label="Status">
        <StatusBadge status={busy === 'Deleting' ? 'Terminating' : s.status} />
      </td>
      <td data-label="Time" className="nowrap">
        <div>
          started{' '}
          {started ? (
            <time dateTime={s.startTime} title={absoluteTime(s.startTime)}>
              {started}
            </time>
          ) : (
            '—'
          )}
        </div>
        {expires && !finished ? (
          <div className={soon ? 'small expiry-soon' : 'muted small'}>
            expires{' '}
            <time dateTime={s.expiryTime} title={absoluteTime(s.expiryTime)}>
              {expires}
            </time>
            <span className="expiry-at"> ({absoluteTime(s.expiryTime)})</span>
            {soon ? <span> — renew to keep it</span> : null}
          </div>
        ) : null}
      </td>
      <td data-label="Resources" className="nowrap">
        {resources(s) || '—'}
      </td>
      <td className="actions-cell">
        <div className="row-actions">
          {s.type === 'headless' ? null : connectable ? (
            <a className="button button--primary button--small" href={s.connectURL} target="_blank" rel="noopener noreferrer">
              Connect<span className="visually-hidden"> to {name} (opens a new tab)</span>
            </a>
          ) : (
            <button
              type="button"
              className="button button--primary button--small"
              disabled
              title={s.status === 'Pending' ? 'Starting…' : `Not available while ${s.status.toLowerCase()}`}
            >
              Connect<span className="visually-hidden"> to {name}</span>
            </button>
          )}
          {finished ? null : (
            <button
              type="button"
              className="button button--secondary button--small"
              onClick={() => actions.onRenew(s)}
              disabled={!!busy || s.status === 'Terminating'}
            >
              {busy === 'Renewing' ? 'Renewing…' : 'Renew'}
              <span className="visually-hidden"> {name}</span>
            </button>
          )}
          <button
            type="button"
            className="button button--secondary button--small"
            onClick={() => actions.onDetails(s)}
            aria-expanded={selected}
            aria-controls="session-details"
          >
            Details
            <span className="visually-hidden"> of {name}</span>
          </button>
          <button
            type="button"
            className="button button--danger-quiet button--small"
            onClick={() => actions.onDelete(s)}
            disabled={busy === 'Deleting' || s.status === 'Terminating'}
          >
            Delete<span className="visually-hidden"> {name}</span>
          </button>
        </div>
      </td>
    </tr>
  );
}
