import { useEffect, useState } from 'react';
import type { Api, Session } from '../api';
import { parseEvents } from '../lib/events';
import { canConnect, typeLabel } from '../lib/format';
import { launchStep, launchSteps, nextDelay, SESSION_BACKOFF } from '../lib/poll';
import { displayName } from './SessionTable';

/** A one-line summary of where a new session is, read out when it changes. */
export function progressSummary(s: Pick<Session, 'name' | 'id' | 'status' | 'type'>): string {
  const name = displayName(s);
  switch (s.status) {
    case 'Requested':
      return `${name} is requested.`;
    case 'Pending':
      return `${name} is starting: its container is being created.`;
    case 'Running':
      return s.type === 'headless' ? `${name} is running.` : `${name} is running and ready to connect.`;
    case 'Succeeded':
      return `${name} finished successfully.`;
    case 'Failed':
      return `${name} failed. Its logs and events say why.`;
    case 'Terminating':
      return `${name} is stopping.`;
    default:
      return `${name}: ${s.status}.`;
  }
}

/**
 * The progress of a session this browser just launched: Requested → Pending → Running (→
 * Finished for a job), with the latest engine event while it starts. Status comes from the list
 * (which polls quickly while anything is pending); events are fetched with backoff until it runs.
 */
export function LaunchProgress({ api, session, onDismiss, onDetails }: { api: Api; session: Session; onDismiss: () => void; onDetails: () => void }) {
  const steps = launchSteps(session.type);
  const { index, failed, done } = launchStep(session.status, session.type);
  const [lastEvent, setLastEvent] = useState<string>();
  const starting = !done && session.status !== 'Running';
  const name = displayName(session);

  useEffect(() => {
    if (!starting || session.status === 'Requested') return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let delay: number | undefined;
    const run = async () => {
      try {
        const rows = parseEvents(await api.events(session.id));
        const last = rows[rows.length - 1];
        if (!stopped && last) setLastEvent([last.reason, last.message].filter(Boolean).join(': '));
      } catch {
        // events are a nicety here; the list shows the status
      }
      if (stopped) return;
      delay = nextDelay(delay, SESSION_BACKOFF);
      timer = setTimeout(run, delay);
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, session.id, session.status, starting]);

  const title = failed ? `${name} did not start` : done ? (session.status === 'Succeeded' ? `${name} finished` : `${name} is ready`) : `Starting ${name}`;

  return (
    <section
      className={`panel progress ${failed ? 'progress--failed' : done ? 'progress--done' : ''}`}
      aria-labelledby="progress-title"
      data-testid="launch-progress"
    >
      <div className="panel-header">
        <div>
          <h2 id="progress-title">{title}</h2>
          <p className="muted small">
            {typeLabel(session.type)} · <code>{session.id}</code>
          </p>
        </div>
        <button type="button" className="button button--ghost button--small" onClick={onDismiss}>
          Dismiss<span className="visually-hidden"> progress of {name}</span>
        </button>
      </div>
      <ol className="stepper">
        {steps.map((label, i) => {
          const state = i < index || (i === index && done && !failed) ? 'complete' : i === index ? (failed ? 'failed' : 'current') : 'upcoming';
          const shown = i === steps.length - 1 && session.type === 'headless' && done ? session.status : label;
          return (
            <li key={label} className={`step step--${state}`} aria-current={state === 'current' ? 'step' : undefined}>
              <span className="step-marker" aria-hidden="true">
                {state === 'complete' ? '✓' : state === 'failed' ? '!' : i + 1}
              </span>
              <span className="step-label">{shown}</span>
              <span className="visually-hidden">
                {state === 'complete' ? ' (done)' : state === 'current' ? ' (in progress)' : state === 'failed' ? ' (failed)' : ''}
              </span>
            </li>
          );
        })}
      </ol>
      <p className="progress-summary" role="status" aria-live="polite">
        {progressSummary(session)}
        {starting && lastEvent ? <span className="muted"> Latest: {lastEvent}</span> : null}
      </p>
      {done ? (
        <div className="progress-actions">
          {canConnect(session) ? (
            <a className="button button--primary" href={session.connectURL} target="_blank" rel="noopener noreferrer">
              Open {name}
              <span className="visually-hidden"> (opens a new tab)</span>
            </a>
          ) : null}
          <button type="button" className="button button--secondary" onClick={onDetails}>
            {failed ? 'See logs and events' : 'Logs and events'}
          </button>
        </div>
      ) : null}
    </section>
  );
}
