import http from 'node:http';
import type net from 'node:net';

/**
 * NOT Harbor: a replay of Harbor v2.0 API responses, because Harbor itself (a dozen services and
 * PostgreSQL) cannot run on these machines (issue 8). The objects have the fields and shapes of
 * Harbor's published swagger (Project, Repository, Artifact with extra_attrs/tags/labels, Label)
 * as Harbor 2.x returns them, and the routes behave as Harbor's do for what our client calls:
 * page/page_size paging with X-Total-Count and Link, Basic auth (robot accounts), public vs
 * private projects, repository names double-encoded in paths, labels and artifact-label
 * attachment. Labels as Harbor scopes them: the labels on the artifacts at start are global ones
 * (made by a system administrator), which a robot account may attach but not create; it may
 * create project labels (scope "p") and attach them only in their own project.
 */
export interface ReplayArtifact {
  repository: string; // project/name (may contain more slashes)
  digest: string;
  tags: string[];
  labels: string[];
  configLabels?: Record<string, string>;
}

export interface HarborReplay {
  url: string;
  /** Labels attached to an artifact now (after any label API calls). */
  labelsOf(repository: string, digest: string): string[];
  /** Every label, with its scope ("g", or "p" and the project's name). */
  labels(): Array<{ name: string; scope: 'g' | 'p'; project?: string }>;
  stop(): Promise<void>;
}

const TIME = '2026-10-01T12:00:00.000Z';

export async function startHarborReplay(opts: {
  projects: Array<{ name: string; public: boolean }>;
  artifacts: ReplayArtifact[];
  robot: { name: string; secret: string };
  /** The address to listen on (default loopback). */
  host?: string;
}): Promise<HarborReplay> {
  interface Label {
    id: number;
    name: string;
    scope: 'g' | 'p';
    projectId: number;
  }
  const labels: Label[] = [];
  const addLabel = (name: string, scope: 'g' | 'p', projectId = 0) => {
    const label = { id: labels.length + 1, name, scope, projectId };
    labels.push(label);
    return label;
  };
  for (const name of new Set(opts.artifacts.flatMap((a) => a.labels))) addLabel(name, 'g');
  /** An artifact's label by name: its project's own first; a name a test put on an artifact is a global label. */
  const labelNamed = (name: string, projectId: number) =>
    labels.find((l) => l.name === name && l.scope === 'p' && l.projectId === projectId) ??
    labels.find((l) => l.name === name && l.scope === 'g') ??
    addLabel(name, 'g');
  const labelObject = (l: Label) => ({
    id: l.id,
    name: l.name,
    description: '',
    color: '#0065AB',
    scope: l.scope,
    project_id: l.projectId,
    creation_time: TIME,
    update_time: TIME,
    deleted: false,
  });
  const projectId = (name: string) => opts.projects.findIndex((p) => p.name === name) + 1;
  const repos = [...new Set(opts.artifacts.map((a) => a.repository))];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://harbor');
    const auth = req.headers.authorization;
    const robot = auth === `Basic ${Buffer.from(`${opts.robot.name}:${opts.robot.secret}`).toString('base64')}`;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body === undefined ? '' : JSON.stringify(body));
    };
    if (auth && !robot) return send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized' }] });
    const visible = (project: string) => opts.projects.some((p) => p.name === project && (p.public || robot));
    const page = <T>(items: T[]) => {
      const n = Number(url.searchParams.get('page') ?? 1);
      const size = Number(url.searchParams.get('page_size') ?? 10);
      const slice = items.slice((n - 1) * size, n * size);
      const headers: Record<string, string> = { 'x-total-count': String(items.length) };
      if (n * size < items.length) headers.link = `<${url.pathname}?page=${n + 1}&page_size=${size}>; rel="next"`;
      send(200, slice, headers);
    };
    const parts = url.pathname.replace(/^\/api\/v2\.0\//, '').split('/');
    if (req.method === 'GET' && parts[0] === 'projects' && parts.length === 1) {
      const named = url.searchParams.get('name');
      return page(
        opts.projects
          .filter((p) => visible(p.name) && (!named || p.name === named))
          .map((p) => ({
            project_id: projectId(p.name),
            name: p.name,
            owner_id: 1,
            owner_name: 'admin',
            registry_id: null,
            metadata: { public: String(p.public) },
            repo_count: repos.filter((r) => r.startsWith(`${p.name}/`)).length,
            creation_time: TIME,
            update_time: TIME,
            deleted: false,
            togglable: true,
            current_user_role_id: robot ? 2 : 0,
            cve_allowlist: { id: 1, project_id: projectId(p.name), items: [], creation_time: TIME, update_time: TIME },
          })),
      );
    }
    const project = decodeURIComponent(parts[1] ?? '');
    if (parts[0] === 'projects' && !visible(project)) {
      return send(auth ? 403 : 401, { errors: [{ code: auth ? 'FORBIDDEN' : 'UNAUTHORIZED', message: 'unauthorized to access repository' }] });
    }
    if (req.method === 'GET' && parts[0] === 'projects' && parts[2] === 'repositories' && parts.length === 3) {
      return page(
        repos
          .filter((r) => r.startsWith(`${project}/`))
          .map((name, i) => ({
            id: i + 1,
            name,
            project_id: projectId(project),
            description: '',
            artifact_count: opts.artifacts.filter((a) => a.repository === name).length,
            pull_count: 0,
            creation_time: TIME,
            update_time: TIME,
          })),
      );
    }
    if (parts[0] === 'projects' && parts[2] === 'repositories' && parts[4] === 'artifacts') {
      // Harbor: the repository name without its project, with any slash encoded twice (%252F).
      const repository = `${project}/${decodeURIComponent(decodeURIComponent(parts[3] ?? ''))}`;
      const mine = opts.artifacts.filter((a) => a.repository === repository);
      const toJson = (a: ReplayArtifact, i: number) => ({
        id: i + 1,
        type: 'IMAGE',
        media_type: 'application/vnd.oci.image.config.v1+json',
        manifest_media_type: 'application/vnd.oci.image.manifest.v1+json',
        project_id: projectId(project),
        repository_id: 1,
        digest: a.digest,
        size: 52_428_800,
        icon: 'sha256:0048162a053eef4d4ce3fe7518615bef084403614f8bca43b40ae2e762e11e06',
        push_time: TIME,
        pull_time: '0001-01-01T00:00:00.000Z',
        annotations: null,
        references: null,
        extra_attrs: {
          architecture: 'amd64',
          os: 'linux',
          author: '',
          created: TIME,
          config: {
            Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
            Cmd: ['/bin/bash'],
            ...(a.configLabels ? { Labels: a.configLabels } : {}),
          },
        },
        tags: a.tags.length
          ? a.tags.map((name, t) => ({
              id: t + 1,
              repository_id: 1,
              artifact_id: i + 1,
              name,
              push_time: TIME,
              pull_time: '0001-01-01T00:00:00.000Z',
              immutable: false,
              signed: false,
            }))
          : null,
        labels: a.labels.length ? a.labels.map((name) => labelObject(labelNamed(name, projectId(project)))) : null,
        addition_links: {
          build_history: { href: `/api/v2.0/projects/${project}/repositories/${parts[3]}/artifacts/${a.digest}/additions/build_history`, absolute: false },
        },
      });
      if (req.method === 'GET' && parts.length === 5) return page(mine.map(toJson));
      const ref = decodeURIComponent(parts[5] ?? '');
      const artifact = mine.find((a) => a.digest === ref || a.tags.includes(ref));
      if (!artifact) return send(404, { errors: [{ code: 'NOT_FOUND', message: `artifact ${repository}:${ref} not found` }] });
      if (req.method === 'GET' && parts.length === 6) return send(200, toJson(artifact, mine.indexOf(artifact)));
      if (!robot) return send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized' }] });
      if (req.method === 'POST' && parts[6] === 'labels') {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const id = (JSON.parse(body) as { id: number }).id;
          const label = labels.find((l) => l.id === id);
          if (!label) return send(404, { errors: [{ code: 'NOT_FOUND', message: `label ${id} not found` }] });
          if (label.scope === 'p' && label.projectId !== projectId(project))
            return send(400, { errors: [{ code: 'BAD_REQUEST', message: `label ${id} is not in project ${project}` }] });
          if (artifact.labels.includes(label.name))
            return send(409, { errors: [{ code: 'CONFLICT', message: `label ${id} is already added to the artifact` }] });
          artifact.labels.push(label.name);
          send(200, undefined);
        });
        return;
      }
      if (req.method === 'DELETE' && parts[6] === 'labels') {
        const name = labels.find((l) => l.id === Number(parts[7]))?.name;
        artifact.labels = artifact.labels.filter((l) => l !== name);
        return send(200, undefined);
      }
    }
    if (parts[0] === 'labels') {
      if (req.method === 'GET') {
        const name = url.searchParams.get('name');
        const scope = url.searchParams.get('scope') ?? 'g';
        const inProject = Number(url.searchParams.get('project_id') ?? 0);
        if (scope === 'p' && !inProject) return send(400, { errors: [{ code: 'BAD_REQUEST', message: 'project_id is required for scope p' }] });
        return send(
          200,
          labels.filter((l) => l.scope === scope && (scope === 'g' || l.projectId === inProject) && (!name || l.name === name)).map(labelObject),
        );
      }
      if (req.method === 'POST' && robot) {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const { name, scope, project_id: inProject = 0 } = JSON.parse(body) as { name: string; scope: 'g' | 'p'; project_id?: number };
          // Global labels are a system administrator's; a robot account is refused, as by Harbor.
          if (scope !== 'p') return send(403, { errors: [{ code: 'FORBIDDEN', message: 'forbidden' }] });
          if (!opts.projects.some((p) => projectId(p.name) === inProject))
            return send(400, { errors: [{ code: 'BAD_REQUEST', message: `project ${inProject} not found` }] });
          if (labels.some((l) => l.name === name && l.scope === 'p' && l.projectId === inProject))
            return send(409, { errors: [{ code: 'CONFLICT', message: `label ${name} already exists` }] });
          send(201, undefined, { location: `/api/v2.0/labels/${addLabel(name, 'p', inProject).id}` });
        });
        return;
      }
    }
    send(404, { errors: [{ code: 'NOT_FOUND', message: `no route ${req.method} ${url.pathname}` }] });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    url: `http://${host}:${(server.address() as net.AddressInfo).port}`,
    labels: () =>
      labels.map((l) => ({
        name: l.name,
        scope: l.scope,
        ...(l.scope === 'p' ? { project: opts.projects.find((p) => projectId(p.name) === l.projectId)?.name } : {}),
      })),
    labelsOf: (repository, digest) => [...(opts.artifacts.find((a) => a.repository === repository && a.digest === digest)?.labels ?? [])],
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
