import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import type { Api, Me, NewToken, TokenInfo } from '../api';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { CodeBlock, CopyButton, ErrorNotice, PageHeader, Spinner, StatusMessage } from '../components/ui';
import { relativeTime } from '../lib/format';
import { scopesText, tokenExamples } from '../lib/examples';
import { expiryDaysProblem, MAX_TOKEN_DAYS, tokenNameProblem } from '../lib/validate';
import { ACTIONS, DataTable, When } from '../components/DataTable';

const SCOPE_HELP: Record<string, string> = {
  read: 'list sessions, images, logs',
  launch: 'launch, renew and delete sessions',
  admin: "see every user's sessions",
};

export function AccountPage({ api, me }: { api: Api; me: Me }) {
  const [tokens, setTokens] = useState<TokenInfo[]>();
  const [loadError, setLoadError] = useState<string>();
  const [reload, setReload] = useState(0);
  const [created, setCreated] = useState<NewToken>();
  const [message, setMessage] = useState<{ text: string; tone: 'ok' | 'error' }>();
  const [revoking, setRevoking] = useState<TokenInfo>();
  const [revokeBusy, setRevokeBusy] = useState(false);
  const [revokeError, setRevokeError] = useState<string>();

  useEffect(() => {
    let stale = false;
    api.tokens().then(
      (list) => {
        if (stale) return;
        setTokens(list);
        setLoadError(undefined);
      },
      (err: Error) => !stale && setLoadError(err.message),
    );
    return () => {
      stale = true;
    };
  }, [api, reload]);

  const revoke = async () => {
    if (!revoking) return;
    setRevokeBusy(true);
    setRevokeError(undefined);
    try {
      await api.revokeToken(revoking.id);
      setMessage({ text: `Revoked the token ${revoking.name}: it no longer works.`, tone: 'ok' });
      if (created?.id === revoking.id) setCreated(undefined);
      setRevoking(undefined);
      setReload((r) => r + 1);
    } catch (err) {
      setRevokeError((err as Error).message);
    } finally {
      setRevokeBusy(false);
    }
  };

  const onCreated = useCallback((token: NewToken) => {
    setCreated(token);
    setMessage(undefined);
    setReload((r) => r + 1);
  }, []);

  const origin = window.location.origin;
  const examples = tokenExamples(origin);

  return (
    <>
      <PageHeader title="Account" description="Who you are on this platform, and API tokens for scripts, the skaha command and the Python client." />
      <StatusMessage message={message?.text} tone={message?.tone} onDismiss={() => setMessage(undefined)} />

      <section className="panel" aria-labelledby="profile-title">
        <h2 id="profile-title">Profile</h2>
        <dl className="facts">
          <div>
            <dt>Username</dt>
            <dd>{me.username}</dd>
          </div>
          <div>
            <dt>POSIX uid</dt>
            <dd>{me.uid}</dd>
          </div>
          <div>
            <dt>Groups</dt>
            <dd>{me.groups.length ? me.groups.join(', ') : 'none'}</dd>
          </div>
          <div>
            <dt>Logged in with</dt>
            <dd>{me.method === 'cookie' ? 'this browser (login)' : me.method}</dd>
          </div>
          <div>
            <dt>Home</dt>
            <dd>
              <code>/arc/home/{me.username}</code>
            </dd>
          </div>
        </dl>
      </section>

      {created ? <NewTokenPanel token={created} origin={origin} onDone={() => setCreated(undefined)} /> : null}

      <section className="panel" aria-labelledby="tokens-title">
        <h2 id="tokens-title">API tokens</h2>
        <p className="muted">
          A token acts as you, with the scopes it was made with, until it expires or you revoke it. Only a hash is stored: its secret is shown once, when it is
          made.
        </p>
        {loadError ? <ErrorNotice title="Your tokens could not be loaded" error={loadError} onRetry={() => setReload((r) => r + 1)} /> : null}
        {!tokens && !loadError ? <Spinner label="Loading your tokens…" /> : null}
        {tokens && tokens.length === 0 ? <p className="empty-inline">You have no API tokens.</p> : null}
        {tokens && tokens.length > 0 ? (
          <DataTable caption="Your API tokens" className="tokens-table card-table" columns={['Name', 'Scopes', 'Created', 'Expires', ACTIONS]}>
            {tokens.map((t) => (
              <tr key={t.id} data-token-id={t.id}>
                <td data-label="Name">
                  <strong>{t.name}</strong> <code className="muted small">{t.id}</code>
                </td>
                <td data-label="Scopes">{scopesText(t.scopes)}</td>
                <td data-label="Created">
                  <When iso={t.createdAt} />
                </td>
                <td data-label="Expires">{t.expiresAt ? <When iso={t.expiresAt} /> : 'never'}</td>
                <td className="actions-cell">
                  <button
                    type="button"
                    className="button button--danger-quiet button--small"
                    onClick={() => {
                      setRevokeError(undefined);
                      setRevoking(t);
                    }}
                  >
                    Revoke<span className="visually-hidden"> {t.name}</span>
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        ) : null}
        <CreateTokenForm api={api} me={me} onCreated={onCreated} />
      </section>

      <CertificatePanel api={api} />

      <section className="panel" aria-labelledby="examples-title">
        <h2 id="examples-title">Using a token</h2>
        <p className="muted">
          Put the token in <code>TOKEN</code> (<code>read -rs TOKEN</code>, then paste it) and:
        </p>
        <h3>curl</h3>
        <CodeBlock code={examples.curl} what="curl example" />
        <h3>The skaha command</h3>
        <CodeBlock code={examples.cli} what="skaha command example" />
        <h3>The Python client</h3>
        <CodeBlock code={examples.python} what="Python client example" />
      </section>

      <ConfirmDialog
        open={!!revoking}
        title={revoking ? `Revoke the token ${revoking.name}?` : 'Revoke?'}
        confirmLabel="Revoke token"
        busy={revokeBusy}
        error={revokeError}
        onConfirm={() => void revoke()}
        onCancel={() => setRevoking(undefined)}
      >
        <p>Scripts and programs using it stop working at once. This cannot be undone; you can make a new token.</p>
      </ConfirmDialog>
    </>
  );
}

function CreateTokenForm({ api, me, onCreated }: { api: Api; me: Me; onCreated: (t: NewToken) => void }) {
  const offered = ['read', 'launch', ...(me.admin ? ['admin'] : [])].filter((s) => me.scopes.includes(s));
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['read', 'launch'].filter((s) => offered.includes(s)));
  const [days, setDays] = useState('90');
  const [tried, setTried] = useState(false);
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string>();
  const nameRef = useRef<HTMLInputElement>(null);
  const daysRef = useRef<HTMLInputElement>(null);

  const nameError = tokenNameProblem(name);
  const daysError = expiryDaysProblem(days);
  const scopesError = scopes.length ? undefined : 'Choose at least one scope.';

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTried(true);
    setError(undefined);
    if (nameError) return nameRef.current?.focus();
    if (scopesError) return;
    if (daysError) return daysRef.current?.focus();
    setSending(true);
    try {
      const token = await api.createToken([
        ['name', name.trim()],
        ['scopes', scopes.join(',')],
        ['expiresDays', String(Number(days))],
      ]);
      setName('');
      setTried(false);
      onCreated(token);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setSending(false);
    }
  };

  return (
    <form className="form token-form" onSubmit={submit} noValidate aria-labelledby="new-token-title">
      <h3 id="new-token-title">New token</h3>
      {error ? (
        <p className="notice notice--error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="token-form-grid">
        <div className="field">
          <label htmlFor="token-name">Name</label>
          <input
            id="token-name"
            ref={nameRef}
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="laptop, ci, notebook…"
            maxLength={80}
            autoComplete="off"
            aria-invalid={tried && !!nameError}
            aria-describedby="token-name-error"
          />
          <p className="field-error" id="token-name-error" aria-live="polite">
            {tried ? (nameError ?? '') : ''}
          </p>
        </div>
        <div className="field">
          <label htmlFor="token-days">Expires after (days)</label>
          <input
            id="token-days"
            ref={daysRef}
            type="number"
            inputMode="numeric"
            min={1}
            max={MAX_TOKEN_DAYS}
            value={days}
            onChange={(e) => setDays(e.target.value)}
            aria-invalid={tried && !!daysError}
            aria-describedby="token-days-error"
          />
          <p className="field-error" id="token-days-error" aria-live="polite">
            {tried ? (daysError ?? '') : ''}
          </p>
        </div>
        <fieldset className="field scopes" aria-describedby="token-scopes-error">
          <legend>Scopes</legend>
          {offered.map((s) => (
            <label key={s} className="check">
              <input
                type="checkbox"
                name="scopes"
                value={s}
                checked={scopes.includes(s)}
                onChange={(e) => setScopes((cur) => (e.target.checked ? [...cur, s] : cur.filter((x) => x !== s)))}
              />
              <span>
                <strong>{s}</strong> <span className="muted">— {SCOPE_HELP[s]}</span>
              </span>
            </label>
          ))}
          <p className="field-error" id="token-scopes-error" aria-live="polite">
            {tried ? (scopesError ?? '') : ''}
          </p>
        </fieldset>
      </div>
      <button type="submit" className="button button--primary" disabled={sending}>
        {sending ? 'Creating…' : 'Create token'}
      </button>
    </form>
  );
}

function NewTokenPanel({ token, origin, onDone }: { token: NewToken; origin: string; onDone: () => void }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, [token.id]);
  const examples = tokenExamples(origin, token.token);
  return (
    <section className="panel panel--highlight new-token" aria-labelledby="created-title">
      <h2 id="created-title" ref={ref} tabIndex={-1}>
        Your new token “{token.name}”
      </h2>
      <p>
        <strong>Copy it now: it is shown only this once.</strong> Scopes {scopesText(token.scopes)};{' '}
        {token.expiresAt ? `expires ${relativeTime(token.expiresAt)}` : 'never expires'}.
      </p>
      <div className="secret">
        <label htmlFor="new-token-value" className="visually-hidden">
          The new token
        </label>
        <input id="new-token-value" readOnly value={token.token} onFocus={(e) => e.currentTarget.select()} spellCheck={false} />
        <CopyButton text={token.token} what="token" />
      </div>
      <details>
        <summary>Examples with this token</summary>
        <h3>curl</h3>
        <CodeBlock code={examples.curl} what="curl example with the new token" />
        <h3>The skaha command</h3>
        <CodeBlock code={examples.cli} what="skaha command example with the new token" />
      </details>
      <button type="button" className="button button--secondary" onClick={onDone}>
        I have copied it
      </button>
    </section>
  );
}

/** A proxy certificate (cadcproxy.pem) from the platform CA, for `curl -E` and X.509 clients. */
function CertificatePanel({ api }: { api: Api }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const download = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const pem = await api.certificate(10);
      const url = URL.createObjectURL(new Blob([pem], { type: 'application/x-pem-file' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = 'cadcproxy.pem';
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="cert-title">
      <h2 id="cert-title">Proxy certificate</h2>
      <p className="muted">
        A 10-day proxy certificate for <code>curl -E cadcproxy.pem</code> on the HTTPS port, as skaha users get from <code>cadc-get-cert</code>. Keep it
        private: it is as good as your password until it expires.
      </p>
      {error ? (
        <p role="alert" className="error">
          {error}
        </p>
      ) : null}
      <button type="button" className="button" onClick={() => void download()} disabled={busy}>
        {busy ? 'Making…' : 'Download cadcproxy.pem'}
      </button>
    </section>
  );
}
