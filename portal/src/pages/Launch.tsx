import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { Api, ImageInfo, Me, ResourceContext, Session } from '../api';
import { ErrorNotice, PageHeader, Spinner, TypeLabel } from '../components/ui';
import { fixedResourcesOf } from '../../../src/sessions/model';
import { fixedResourcesText, launchLabel, SESSION_TYPES, typeHint, typeLabel } from '../lib/format';
import { groupImages, imageLabel, isLatest, lastImage, pickImage, rememberImage } from '../lib/images';
import { argsNote, launchErrors, launchFields, MAX_NAME_LENGTH, parseEnvLines, suggestName, type LaunchErrors, type LaunchInput } from '../lib/validate';
import { ROUTES, useRouter } from '../router';

type Catalog = { state: 'loading' } | { state: 'ok'; images: ImageInfo[]; context: ResourceContext; sessions: Session[] } | { state: 'error'; message: string };

/** The caller's interactive sessions that count against the per-user limit (headless jobs never do). */
function activeInteractive(sessions: Session[]): Session[] {
  return sessions.filter((s) => s.type !== 'headless' && s.type !== 'desktop-app' && (s.status === 'Pending' || s.status === 'Running'));
}

/** The form's starting values for a type: the context's defaults (the headless ones for jobs). */
export function resourceDefaults(context: ResourceContext, type: string): { cores: string; ram: string } {
  const headless = type === 'headless';
  const cores = (headless ? context.cores.defaultHeadless : undefined) ?? context.cores.default;
  const ram = (headless ? context.memoryGB.defaultHeadless : undefined) ?? context.memoryGB.default;
  return { cores: String(cores), ram: String(ram) };
}

/** The session the list shows at once, before the server lists it. */
/** The fixed resources of a type that has them (desktop, firefly), else undefined. */
const fixedOf = fixedResourcesOf;

export function optimisticSession(id: string, me: Me, input: LaunchInput): Session {
  return {
    id,
    userid: me.username,
    image: input.image,
    type: input.type,
    status: 'Requested',
    name: input.name.trim().toLowerCase(),
    startTime: new Date().toISOString(),
    expiryTime: '<none>',
    connectURL: '<none>',
    requestedCPUCores: fixedOf(input.type) ? String(fixedOf(input.type)!.coresRequest) : input.cores || '<none>',
    requestedRAM: fixedOf(input.type) ? `${fixedOf(input.type)!.ramRequestGiB}G` : input.ram ? `${input.ram}G` : '<none>',
    requestedGPUCores: input.gpus || '0',
  };
}

const FIELD_ORDER: Array<keyof LaunchInput> = ['type', 'image', 'name', 'cores', 'ram', 'gpus', 'cmd', 'args', 'env'];

export function LaunchPage({ api, me, onLaunched }: { api: Api; me: Me; onLaunched: (s: Session) => void }) {
  const { navigate } = useRouter();
  const [catalog, setCatalog] = useState<Catalog>({ state: 'loading' });
  const [reload, setReload] = useState(0);
  const [input, setInput] = useState<LaunchInput>({ type: 'notebook', image: '', name: '', cores: '', ram: '', gpus: '0', cmd: '', args: '', env: '' });
  const [query, setQuery] = useState('');
  const [nameTouched, setNameTouched] = useState(false);
  const [showErrors, setShowErrors] = useState(false);
  const [touched, setTouched] = useState<Partial<Record<keyof LaunchInput, boolean>>>({});
  const [sending, setSending] = useState(false);
  const [serverError, setServerError] = useState<string>();
  const formRef = useRef<HTMLFormElement>(null);
  const serverErrorRef = useRef<HTMLDivElement>(null);

  // A refusal is shown where the person is looking: scrolled to and focused, read out.
  useEffect(() => {
    if (!serverError) return;
    serverErrorRef.current?.scrollIntoView?.({ block: 'center' });
    serverErrorRef.current?.focus();
  }, [serverError]);

  useEffect(() => {
    let stale = false;
    setCatalog({ state: 'loading' });
    Promise.all([api.images(), api.context(), api.sessions()]).then(
      ([images, context, sessions]) => {
        if (stale) return;
        setCatalog({ state: 'ok', images, context, sessions });
        setInput((i) => {
          const type =
            SESSION_TYPES.find((t) => t === i.type && images.some((im) => im.types.includes(t))) ??
            SESSION_TYPES.find((t) => images.some((im) => im.types.includes(t))) ??
            i.type;
          return { ...i, type, ...resourceDefaults(context, type) };
        });
      },
      (err: Error) => !stale && setCatalog({ state: 'error', message: err.message }),
    );
    return () => {
      stale = true;
    };
  }, [api, reload]);

  const images = catalog.state === 'ok' ? catalog.images : [];
  const groups = useMemo(() => groupImages(images, input.type, query), [images, input.type, query]);
  const offered = groups.reduce((n, g) => n + g.images.length, 0);
  const chosen = images.find((i) => i.id === input.image);

  // Keep an offered image chosen as the type or the search changes; suggest a name from it.
  useEffect(() => {
    if (catalog.state !== 'ok') return;
    const image = pickImage(groups, input.image, lastImage(input.type));
    if (image !== input.image) setInput((i) => ({ ...i, image }));
  }, [groups, input.image, input.type, catalog.state]);
  useEffect(() => {
    if (!nameTouched && input.image) setInput((i) => ({ ...i, name: suggestName(i.image) }));
  }, [input.image, nameTouched]);

  const errors: LaunchErrors = launchErrors(input);
  const shown = (field: keyof LaunchInput) => (showErrors || touched[field] ? errors[field] : undefined);
  const env = parseEnvLines(input.env);
  const note = argsNote(input.args);

  const set = (field: keyof LaunchInput) => (value: string) => setInput((i) => ({ ...i, [field]: value }));
  const blur = (field: keyof LaunchInput) => () => setTouched((t) => ({ ...t, [field]: true }));

  const chooseType = (type: string) => {
    setInput((i) => ({ ...i, type, ...(catalog.state === 'ok' ? resourceDefaults(catalog.context, type) : {}) }));
    setServerError(undefined);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setShowErrors(true);
    setServerError(undefined);
    const first = FIELD_ORDER.find((f) => errors[f]);
    if (first) {
      formRef.current?.querySelector<HTMLElement>(`[data-field="${first}"]`)?.focus();
      return;
    }
    setSending(true);
    try {
      const id = await api.launch(launchFields(input));
      rememberImage(input.type, input.image);
      onLaunched(optimisticSession(id, me, input));
      navigate(ROUTES.sessions);
    } catch (err) {
      setServerError((err as Error).message);
      setSending(false);
    }
  };

  if (catalog.state === 'loading') {
    return (
      <>
        <PageHeader title="Launch a session" />
        <div className="panel loading-panel" aria-busy="true">
          <Spinner label="Loading images and resource options…" />
        </div>
      </>
    );
  }
  if (catalog.state === 'error') {
    return (
      <>
        <PageHeader title="Launch a session" />
        <ErrorNotice title="The images or resource options could not be loaded" error={catalog.message} onRetry={() => setReload((r) => r + 1)} />
      </>
    );
  }

  const { context } = catalog;
  const limit = Number(context.maxInteractiveSessions ?? 0);
  const running = activeInteractive(catalog.sessions);
  const atLimit = input.type !== 'headless' && limit > 0 && running.length >= limit;
  const count = (type: string) => images.filter((i) => i.types.includes(type)).length;
  const errorList = FIELD_ORDER.filter((f) => errors[f]);

  return (
    <>
      <PageHeader title="Launch a session" description="Choose what to run. It starts as you, with your home directory mounted at /arc/home." />
      <form ref={formRef} className="form launch-form" onSubmit={submit} noValidate aria-describedby={serverError ? 'launch-error' : undefined}>
        {showErrors && errorList.length ? (
          <div className="notice notice--error" role="alert">
            <div>
              <strong>Check the form</strong>
              <ul>
                {errorList.map((f) => (
                  <li key={f}>{errors[f]}</li>
                ))}
              </ul>
            </div>
          </div>
        ) : null}
        {serverError ? (
          <div className="notice notice--error" role="alert" id="launch-error" ref={serverErrorRef} tabIndex={-1}>
            <div>
              <strong>The platform did not launch it</strong>
              <p>{serverError}</p>
            </div>
          </div>
        ) : null}

        <fieldset className="panel">
          <legend>Type</legend>
          <div className="type-grid">
            {SESSION_TYPES.map((type, i) => {
              const n = count(type);
              return (
                <label key={type} className={`type-card ${input.type === type ? 'is-checked' : ''} ${n === 0 ? 'is-disabled' : ''}`}>
                  <input
                    type="radio"
                    name="type"
                    value={type}
                    checked={input.type === type}
                    onChange={() => chooseType(type)}
                    disabled={n === 0}
                    data-field={i === 0 ? 'type' : undefined}
                  />
                  <TypeLabel type={type} />
                  <span className="type-hint">{n === 0 ? 'No images offered' : typeHint(type)}</span>
                </label>
              );
            })}
          </div>
        </fieldset>

        <fieldset className="panel">
          <legend>Image</legend>
          <div className="field">
            <label htmlFor="image-search">Search images</label>
            <input
              id="image-search"
              type="search"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
              placeholder="Filter by name, project or tag"
              autoComplete="off"
              aria-controls="image"
              aria-describedby="image-count"
            />
            <p className="hint" id="image-count" aria-live="polite">
              {offered} {offered === 1 ? 'image' : 'images'} for this type{query ? ` matching “${query}”` : ''}, grouped by project, newest first.
            </p>
          </div>
          <div className="field">
            <label htmlFor="image">Image</label>
            {offered ? (
              <select
                id="image"
                data-field="image"
                value={input.image}
                onChange={(e) => set('image')(e.target.value)}
                size={Math.min(8, Math.max(3, offered + groups.length))}
                className="image-list"
                aria-invalid={!!shown('image')}
                aria-describedby="image-about image-error"
              >
                {groups.map((g) => (
                  <optgroup key={g.project} label={g.project}>
                    {g.images.map((im) => (
                      <option key={im.id} value={im.id} title={im.description ?? im.id}>
                        {imageLabel(im.id)}
                        {isLatest(im, images) && !im.id.endsWith(':latest') ? ' (latest)' : ''}
                      </option>
                    ))}
                  </optgroup>
                ))}
              </select>
            ) : (
              <p className="muted" id="image" tabIndex={-1} data-field="image">
                No image matches. Clear the search or choose another type.
              </p>
            )}
            {input.image ? (
              <div className="hint image-about" id="image-about" aria-live="polite">
                {chosen?.title || chosen?.description ? (
                  <p>
                    {chosen.title ? <strong>{chosen.title}</strong> : null}
                    {chosen.title && chosen.description ? ': ' : null}
                    {chosen.description}
                  </p>
                ) : null}
                <code className="break">{input.image}</code>
              </div>
            ) : null}
            {shown('image') ? (
              <p className="field-error" id="image-error">
                {shown('image')}
              </p>
            ) : null}
          </div>
        </fieldset>

        <fieldset className="panel">
          <legend>Session</legend>
          <div className="field">
            <label htmlFor="name">Name</label>
            <input
              id="name"
              data-field="name"
              value={input.name}
              onChange={(e) => {
                setNameTouched(true);
                set('name')(e.target.value);
              }}
              onBlur={blur('name')}
              maxLength={MAX_NAME_LENGTH + 20}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={!!shown('name')}
              aria-describedby="name-hint"
              required
            />
            <HintOrError id="name-hint" error={shown('name')} hint={<>Letters, digits and '-', at most {MAX_NAME_LENGTH} characters.</>} />
          </div>
          {fixedOf(input.type) ? (
            <p className="hint" id="fixed-resources" data-field="resources">
              {typeLabel(input.type)} sessions run with fixed resources: {fixedResourcesText(fixedOf(input.type)!)}. They are the same for every launch.
            </p>
          ) : (
            <div className="resource-row">
              <div className="field">
                <label htmlFor="cores">CPU cores</label>
                <select id="cores" data-field="cores" value={input.cores} onChange={(e) => set('cores')(e.target.value)}>
                  {context.cores.options.map((n) => (
                    <option key={n} value={String(n)}>
                      {n} {n === 1 ? 'core' : 'cores'}
                      {n === ((input.type === 'headless' ? context.cores.defaultHeadless : undefined) ?? context.cores.default) ? ' (default)' : ''}
                    </option>
                  ))}
                </select>
              </div>
              <div className="field">
                <label htmlFor="ram">Memory</label>
                <select id="ram" data-field="ram" value={input.ram} onChange={(e) => set('ram')(e.target.value)}>
                  {context.memoryGB.options.map((n) => (
                    <option key={n} value={String(n)}>
                      {n} GiB
                      {n === ((input.type === 'headless' ? context.memoryGB.defaultHeadless : undefined) ?? context.memoryGB.default) ? ' (default)' : ''}
                    </option>
                  ))}
                </select>
              </div>
              <div className="field">
                <label htmlFor="gpus">GPUs</label>
                <select
                  id="gpus"
                  data-field="gpus"
                  value={input.gpus}
                  onChange={(e) => set('gpus')(e.target.value)}
                  disabled={!context.gpus.options.length}
                  aria-describedby="gpus-hint"
                >
                  <option value="0">None</option>
                  {context.gpus.options.map((n) => (
                    <option key={n} value={String(n)}>
                      {n} {n === 1 ? 'GPU' : 'GPUs'}
                    </option>
                  ))}
                </select>
                {!context.gpus.options.length ? (
                  <p className="hint" id="gpus-hint">
                    This platform has no GPUs.
                  </p>
                ) : null}
              </div>
            </div>
          )}
        </fieldset>

        {input.type === 'headless' ? (
          <fieldset className="panel">
            <legend>Job</legend>
            <div className="field">
              <label htmlFor="cmd">Command</label>
              <input
                id="cmd"
                data-field="cmd"
                value={input.cmd}
                onChange={(e) => set('cmd')(e.target.value)}
                placeholder="the image's own when empty"
                autoComplete="off"
                spellCheck={false}
                aria-describedby="cmd-hint"
              />
              <p className="hint" id="cmd-hint">
                For example <code>python3</code> or <code>/arc/home/{me.username}/run.sh</code>.
              </p>
            </div>
            <div className="field">
              <label htmlFor="args">Arguments</label>
              <input
                id="args"
                data-field="args"
                value={input.args}
                onChange={(e) => set('args')(e.target.value)}
                placeholder="-c print(42)"
                autoComplete="off"
                spellCheck={false}
                aria-describedby="args-hint"
              />
              <p className="hint" id="args-hint">
                {note ?? 'Separated by single spaces; an argument cannot contain a space.'}
              </p>
            </div>
            <div className="field">
              <label htmlFor="env">Environment</label>
              <textarea
                id="env"
                data-field="env"
                value={input.env}
                onChange={(e) => set('env')(e.target.value)}
                onBlur={blur('env')}
                rows={3}
                placeholder={'NAME=value\nOTHER=value'}
                spellCheck={false}
                aria-invalid={!!shown('env')}
                aria-describedby="env-hint"
              />
              <HintOrError
                id="env-hint"
                error={shown('env')}
                hint={
                  <>
                    One <code>NAME=value</code> a line
                    {env.entries.length ? ` · ${env.entries.length} ${env.entries.length === 1 ? 'variable' : 'variables'}` : ''}.
                  </>
                }
              />
            </div>
          </fieldset>
        ) : null}

        {atLimit ? (
          <div className="notice notice--warning" role="status" id="limit-warning">
            <div>
              <strong>
                You have {running.length} of {limit} interactive sessions
              </strong>
              <p>
                Delete one before launching another ({running.map((s) => s.name).join(', ')}). Headless jobs are not limited this way.{' '}
                <a
                  href={ROUTES.sessions}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(ROUTES.sessions);
                  }}
                >
                  Go to your sessions
                </a>
              </p>
            </div>
          </div>
        ) : null}
        <div className="form-actions">
          <button
            type="submit"
            className="button button--primary button--large"
            disabled={sending || !offered || atLimit}
            aria-describedby={atLimit ? 'limit-warning' : undefined}
          >
            {sending ? 'Launching…' : launchLabel(input.type)}
          </button>
          <button type="button" className="button button--ghost" onClick={() => navigate(ROUTES.sessions)}>
            Cancel
          </button>
        </div>
      </form>
    </>
  );
}

/**
 * A field's hint, replaced by its problem when it has one: the same line, so nothing moves
 * under the pointer when a field is left (a click on Launch right after typing still lands).
 */
function HintOrError({ id, hint, error }: { id: string; hint: ReactNode; error: string | undefined }) {
  return error ? (
    <p className="field-error" id={id}>
      <span className="visually-hidden">Error: </span>
      {error}
    </p>
  ) : (
    <p className="hint" id={id}>
      {hint}
    </p>
  );
}
