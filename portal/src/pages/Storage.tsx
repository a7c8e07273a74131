import { useCallback, useEffect, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { ApiError, storageUrl, type Api, type Me, type StorageEntry } from '../api';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ACTIONS, DataTable, When } from '../components/DataTable';
import { EmptyState, ErrorNotice, PageHeader, Spinner, StatusMessage } from '../components/ui';
import { bytes } from '../lib/format';
import { Link, ROUTES, useRouter } from '../router';

/** A download this large says so before it starts. */
const LARGE_DOWNLOAD = 1024 ** 3;

interface Upload {
  name: string;
  size: number;
  sent: number;
  error?: string;
  done: boolean;
}

/** `/storage?path=/home/alice/data` → the node path; the caller's home by default. */
function pathOf(search: string, me: Me): string {
  const asked = new URLSearchParams(search).get('path');
  return asked && asked.startsWith('/') ? asked.replace(/\/+$/, '') || '/' : `/home/${me.username}`;
}

function Breadcrumbs({ path }: { path: string }) {
  const parts = path.split('/').filter(Boolean);
  return (
    <nav aria-label="Folder" className="breadcrumbs">
      <ol>
        <li>
          <Link to={`${ROUTES.storage}?path=/`}>arc</Link>
        </li>
        {parts.map((name, i) => {
          const to = `/${parts.slice(0, i + 1).join('/')}`;
          return (
            <li key={to}>
              {i === parts.length - 1 ? <span aria-current="page">{name}</span> : <Link to={`${ROUTES.storage}?path=${encodeURIComponent(to)}`}>{name}</Link>}
            </li>
          );
        })}
      </ol>
    </nav>
  );
}

/** The home's usage against its quota (when one is set), as a meter. */
function Usage({ home }: { home: StorageEntry | undefined }) {
  if (!home) return null;
  if (home.quota === undefined) return <p className="muted">Your home holds {bytes(home.size)}.</p>;
  const share = Math.min(1, home.size / home.quota);
  return (
    <div className="usage">
      <label htmlFor="home-usage">
        Home: {bytes(home.size)} of {bytes(home.quota)} ({Math.round(share * 100)}%)
      </label>
      <meter id="home-usage" min={0} max={home.quota} value={home.size} high={home.quota * 0.9} />
    </div>
  );
}

/**
 * The platform's storage, as CANFAR's storage pages offer it: browse homes and projects, upload
 * (several files, drag and drop, progress), download, new folder, delete with confirmation; the
 * same tree sessions see at /arc.
 */
export function StoragePage({ api, me }: { api: Api; me: Me }) {
  const { search, navigate } = useRouter();
  const path = pathOf(search, me);
  const [entries, setEntries] = useState<StorageEntry[]>();
  const [home, setHome] = useState<StorageEntry>();
  const [error, setError] = useState<string>();
  const [reload, setReload] = useState(0);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [message, setMessage] = useState<string>();
  const [folderName, setFolderName] = useState('');
  const [folderError, setFolderError] = useState<string>();
  const [deleting, setDeleting] = useState<StorageEntry>();
  const [deleteBusy, setDeleteBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<string>();
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const writable = path.startsWith('/home/') || /^\/projects\/[^/]+/.test(path);

  useEffect(() => {
    let stale = false;
    setEntries(undefined);
    api.storageNode(path).then(
      ({ node, children }) => {
        if (stale) return;
        if (node.type !== 'container') {
          navigate(`${ROUTES.storage}?path=${encodeURIComponent(path.split('/').slice(0, -1).join('/') || '/')}`, { replace: true });
          return;
        }
        setEntries(children);
        setError(undefined);
      },
      (err: ApiError) => {
        if (stale) return;
        setError(
          err.status === 404
            ? `${path} does not exist${path === `/home/${me.username}` ? ' yet: it is made when you upload a file or launch a session' : ''}.`
            : err.message,
        );
      },
    );
    api.storageNode(`/home/${me.username}`).then(
      ({ node }) => !stale && setHome(node),
      () => undefined,
    );
    return () => {
      stale = true;
    };
  }, [api, path, reload, me.username, navigate]);

  const refresh = useCallback(() => setReload((r) => r + 1), []);

  const uploadFiles = async (files: File[]) => {
    if (files.length === 0) return;
    const start = uploads.length;
    setUploads((u) => [...u, ...files.map((f) => ({ name: f.name, size: f.size, sent: 0, done: false }))]);
    const update = (i: number, change: Partial<Upload>) => setUploads((u) => u.map((x, j) => (j === start + i ? { ...x, ...change } : x)));
    let ok = 0;
    for (const [i, file] of files.entries()) {
      try {
        await api.upload(`${path}/${file.name}`, file, (sent) => update(i, { sent }));
        update(i, { sent: file.size, done: true });
        ok++;
      } catch (err) {
        update(i, { error: (err as Error).message, done: true });
      }
    }
    setMessage(`${ok} of ${files.length} file${files.length === 1 ? '' : 's'} uploaded to ${path}.`);
    refresh();
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    if (writable) void uploadFiles(Array.from(e.dataTransfer.files));
  };

  const createFolder = async (e: FormEvent) => {
    e.preventDefault();
    const name = folderName.trim();
    if (!name || name.includes('/') || name === '.' || name === '..') {
      setFolderError('Give a folder name without "/".');
      return;
    }
    try {
      await api.storageMkdir(`${path}/${name}`);
      setFolderName('');
      setFolderError(undefined);
      setMessage(`Folder ${name} created.`);
      refresh();
    } catch (err) {
      setFolderError((err as Error).message);
    }
  };

  const confirmDelete = async () => {
    if (!deleting) return;
    setDeleteBusy(true);
    try {
      await api.storageRemove(deleting.path);
      setMessage(`${deleting.name} deleted.`);
      setDeleting(undefined);
      setDeleteError(undefined);
      refresh();
    } catch (err) {
      setDeleteError((err as Error).message);
    } finally {
      setDeleteBusy(false);
    }
  };

  const folderLink = (p: string) => `${ROUTES.storage}?path=${encodeURIComponent(p)}`;

  return (
    <>
      <PageHeader title="Storage" description="Your home and projects, as your sessions see them at /arc." />
      <Usage home={home} />
      <Breadcrumbs path={path} />
      <StatusMessage message={message} onDismiss={() => setMessage(undefined)} />
      {writable ? (
        <div
          className={dragging ? 'dropzone dropzone--active' : 'dropzone'}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <p>Drop files here, or</p>
          <input
            ref={fileInput}
            id="upload-files"
            type="file"
            multiple
            aria-label="Files to upload"
            tabIndex={-1}
            className="visually-hidden"
            onChange={(e) => {
              void uploadFiles(Array.from(e.target.files ?? []));
              e.target.value = '';
            }}
          />
          <button type="button" className="button" onClick={() => fileInput.current?.click()}>
            Choose files to upload
          </button>
          <form className="inline-form" onSubmit={createFolder}>
            <label htmlFor="new-folder">New folder</label>
            <input
              id="new-folder"
              value={folderName}
              onChange={(e) => setFolderName(e.target.value)}
              aria-invalid={folderError ? true : undefined}
              aria-describedby={folderError ? 'new-folder-error' : undefined}
            />
            <button type="submit" className="button button--secondary">
              Create
            </button>
          </form>
          {folderError ? (
            <p id="new-folder-error" className="field-error" role="alert">
              {folderError}
            </p>
          ) : null}
        </div>
      ) : null}
      {uploads.length > 0 ? (
        <ul className="uploads" aria-label="Uploads">
          {uploads.map((u, i) => (
            <li key={i}>
              <span className="upload-name">{u.name}</span>
              <progress max={u.size || 1} value={u.sent} aria-label={`Upload of ${u.name}`} />
              <span className={u.error ? 'field-error' : 'muted'}>{u.error ? u.error : u.done ? 'done' : `${bytes(u.sent)} of ${bytes(u.size)}`}</span>
            </li>
          ))}
        </ul>
      ) : null}
      {error ? (
        <ErrorNotice error={error} onRetry={refresh} />
      ) : !entries ? (
        <Spinner label="Loading the folder…" />
      ) : entries.length === 0 ? (
        <EmptyState title="This folder is empty">{writable ? 'Upload files or create a folder above.' : null}</EmptyState>
      ) : (
        <DataTable caption={`Contents of ${path}`} columns={['Name', 'Size', 'Modified', 'Owner', ACTIONS]} className="storage-table">
          {entries.map((e) => (
            <tr key={e.path}>
              <td data-label="Name">
                {e.type === 'container' ? (
                  <Link to={folderLink(e.path)}>
                    <span aria-hidden="true">📁 </span>
                    {e.name}
                  </Link>
                ) : (
                  <span>
                    {e.type === 'link' ? <span className="muted">(link) </span> : null}
                    {e.name}
                  </span>
                )}
              </td>
              <td data-label="Size">{e.type === 'data' ? bytes(e.size) : '—'}</td>
              <td data-label="Modified">
                <When iso={e.modified} />
              </td>
              <td data-label="Owner">{e.owner ?? '—'}</td>
              <td data-label="Actions" className="row-actions">
                {e.type === 'data' ? (
                  <a
                    className="button button--small button--secondary"
                    href={storageUrl('files', e.path)}
                    download={e.name}
                    title={e.size >= LARGE_DOWNLOAD ? `A large file: ${bytes(e.size)}` : undefined}
                  >
                    Download<span className="visually-hidden"> {e.name}</span> ({bytes(e.size)})
                  </a>
                ) : null}
                {writable && e.path.split('/').length > 3 ? (
                  <button type="button" className="button button--small button--danger" onClick={() => setDeleting(e)}>
                    Delete<span className="visually-hidden"> {e.name}</span>
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      <ConfirmDialog
        open={deleting !== undefined}
        title={`Delete ${deleting?.name ?? ''}?`}
        confirmLabel="Delete"
        busy={deleteBusy}
        error={deleteError}
        onConfirm={() => void confirmDelete()}
        onCancel={() => {
          setDeleting(undefined);
          setDeleteError(undefined);
        }}
      >
        <p>
          {deleting?.type === 'container'
            ? 'The folder and everything in it will be deleted, also for your sessions.'
            : 'The file will be deleted, also for your sessions.'}{' '}
          This cannot be undone.
        </p>
      </ConfirmDialog>
    </>
  );
}
