import { useEffect, useRef, useState, type ReactNode } from 'react';
import { statusTone, typeLabel } from '../lib/format';
import { useRouter } from '../router';
import { isSessionType, type SessionType } from '../../../src/sessions/model';

/** A page's heading, which takes the focus after an in-app navigation (for screen readers). */
export function PageHeader({ title, children, description }: { title: string; description?: ReactNode; children?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  const { navigations } = useRouter();
  useEffect(() => {
    document.title = `${title} · skaha`;
  }, [title]);
  useEffect(() => {
    if (navigations > 0) ref.current?.focus();
  }, [navigations]);
  return (
    <div className="page-header">
      <div>
        <h1 ref={ref} tabIndex={-1}>
          {title}
        </h1>
        {description ? <p className="page-description">{description}</p> : null}
      </div>
      {children ? <div className="page-actions">{children}</div> : null}
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const tone = statusTone(status);
  return (
    <span className={`status status--${tone}`}>
      <span className="status-dot" aria-hidden="true" />
      {status}
    </span>
  );
}

/** An icon per session type: the compiler asks for one when a type is added to the table. */
const ICON_PATHS: Record<SessionType, ReactNode> = {
  notebook: (
    <>
      <rect x="4" y="3" width="14" height="18" rx="2" />
      <path d="M8 8h6M8 12h6M8 16h3" />
      <path d="M18 7h2M18 12h2M18 17h2" />
    </>
  ),
  desktop: (
    <>
      <rect x="3" y="4" width="18" height="12" rx="2" />
      <path d="M8 20h8M12 16v4" />
    </>
  ),
  'desktop-app': (
    <>
      <rect x="3" y="5" width="18" height="14" rx="2" />
      <path d="M3 9h18M6 7h.01M8.5 7h.01" />
    </>
  ),
  carta: (
    <>
      <circle cx="12" cy="12" r="3" />
      <circle cx="12" cy="12" r="8" strokeDasharray="2 3" />
    </>
  ),
  contributed: (
    <>
      <circle cx="12" cy="12" r="9" />
      <path d="M3 12h18M12 3c3 3.5 3 14.5 0 18M12 3c-3 3.5-3 14.5 0 18" />
    </>
  ),
  firefly: (
    <>
      <path d="M12 3l2.2 5.6L20 9.3l-4.5 3.9L17 19l-5-3.1L7 19l1.5-5.8L4 9.3l5.8-.7z" />
    </>
  ),
  headless: (
    <>
      <rect x="3" y="4" width="18" height="16" rx="2" />
      <path d="M7 9l3 3-3 3M12 15h5" />
    </>
  ),
};

/** The type's pictogram (decorative) and its name; without the name where the page prints it beside. */
export function TypeLabel({ type, withText = true }: { type: string; withText?: boolean }) {
  return (
    <span className={`type type--${type}`}>
      <svg
        className="type-icon"
        viewBox="0 0 24 24"
        width="20"
        height="20"
        aria-hidden="true"
        focusable="false"
        fill="none"
        stroke="currentColor"
        strokeWidth="1.8"
        strokeLinecap="round"
        strokeLinejoin="round"
      >
        {(isSessionType(type) ? ICON_PATHS[type] : undefined) ?? <circle cx="12" cy="12" r="8" />}
      </svg>
      {withText ? <span>{typeLabel(type)}</span> : null}
    </span>
  );
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <span className="spinner-wrap" role="status">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </span>
  );
}

export function ErrorNotice({ error, onRetry, title = 'Something went wrong' }: { error: string; onRetry?: () => void; title?: string }) {
  return (
    <div className="notice notice--error" role="alert">
      <div>
        <strong>{title}</strong>
        <p>{error}</p>
      </div>
      {onRetry ? (
        <button type="button" className="button button--secondary" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** A polite message that reads itself out (renewed, deleted, copied, ...). */
export function StatusMessage({ message, tone = 'ok', onDismiss }: { message: string | undefined; tone?: 'ok' | 'error'; onDismiss?: () => void }) {
  return (
    <div className="status-region" role="status" aria-live="polite">
      {message ? (
        <div className={`notice notice--${tone === 'ok' ? 'success' : 'error'} notice--inline`}>
          <p>{message}</p>
          {onDismiss ? (
            <button type="button" className="button button--ghost button--small" onClick={onDismiss} aria-label="Dismiss message">
              ✕
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

export function EmptyState({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty">
      <svg viewBox="0 0 64 64" width="56" height="56" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" strokeWidth="2">
        <circle cx="32" cy="32" r="10" />
        <ellipse cx="32" cy="32" rx="27" ry="9" transform="rotate(-25 32 32)" />
        <circle cx="52" cy="14" r="1.5" fill="currentColor" />
        <circle cx="10" cy="50" r="1" fill="currentColor" />
      </svg>
      <h2>{title}</h2>
      {children}
      {action}
    </div>
  );
}

/** Copy text to the clipboard, with a fallback for browsers without the async clipboard API. */
async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the old way
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

export function CopyButton({ text, label = 'Copy', what }: { text: string; label?: string; what: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = setTimeout(() => setState('idle'), 2500);
    return () => clearTimeout(t);
  }, [state]);
  return (
    <button
      type="button"
      className="button button--secondary button--small copy-button"
      onClick={async () => setState((await copyText(text)) ? 'copied' : 'failed')}
      aria-label={`${label} ${what}`}
    >
      <span aria-hidden="true">{state === 'copied' ? '✓ Copied' : state === 'failed' ? 'Select and copy' : label}</span>
      <span className="visually-hidden" role="status">
        {state === 'copied' ? `${what} copied` : state === 'failed' ? 'Could not copy: select the text and copy it' : ''}
      </span>
    </button>
  );
}

/** A block of code with a copy button. */
export function CodeBlock({ code, what, id }: { code: string; what: string; id?: string }) {
  return (
    <div className="code-block">
      <pre tabIndex={0} id={id} aria-label={what}>
        <code>{code}</code>
      </pre>
      <CopyButton text={code} what={what} />
    </div>
  );
}
