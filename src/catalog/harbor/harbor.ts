import { request, type Dispatcher } from 'undici';
import { describedBy, parseTypes, TYPES_LABEL, type CatalogImage, type ImageCatalog } from '../catalog.js';
import { errorDetail, httpsAgent, RegistryError, type RegistryEndpoint } from '../registry/client.js';
import { mapLimit } from '../registry/registry.js';

interface HarborOptions extends RegistryEndpoint {
  /** Host prefix of image IDs; default: the URL's host[:port]. */
  host?: string;
  /** Only these projects; empty: every project the credentials can see (anonymous: public ones). */
  projects?: string[];
  concurrency?: number;
}

/** The parts of Harbor v2.0 API objects we read (Harbor's swagger: Project, Repository, Artifact, Label). */
interface HarborProject {
  name: string;
  project_id: number;
}
interface HarborRepository {
  name: string;
}
interface HarborLabel {
  id: number;
  name: string;
}
interface HarborArtifact {
  digest: string;
  tags?: Array<{ name: string }> | null;
  labels?: HarborLabel[] | null;
  extra_attrs?: { config?: { Labels?: Record<string, string> | null } } | null;
}

const PAGE_SIZE = 100;

/**
 * Harbor as skaha reads it (spec §7): projects → repositories → artifacts, an artifact's label
 * names are its session types and only its first tag is listed. Unlike skaha's anonymous cron
 * job, credentials (a robot account or a user's CLI secret) may be given so private projects are
 * listed too. Types also come from the image's own `canfar.net/types` label, so an image pushed
 * with it needs no labelling in Harbor's UI.
 */
export class HarborCatalog implements ImageCatalog {
  readonly name: string;
  readonly host: string;
  private readonly base: string;
  private readonly dispatcher: Dispatcher;

  constructor(private readonly opts: HarborOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.host = opts.host || new URL(opts.url).host;
    this.name = `harbor ${this.host}`;
    this.dispatcher = httpsAgent(opts.caFile);
  }

  async fetch(): Promise<CatalogImage[]> {
    const projects = this.opts.projects?.length ? this.opts.projects : (await this.pages<HarborProject>('/projects')).map((p) => p.name);
    const repositories = (
      await mapLimit(projects, this.concurrency(), (p) =>
        this.pages<HarborRepository>(`/projects/${enc(p)}/repositories`).then((rs) => rs.map((r) => ({ project: p, name: r.name }))),
      )
    ).flat();
    const perRepo = await mapLimit(repositories, this.concurrency(), async ({ project, name }) => {
      const artifacts = await this.pages<HarborArtifact>(`${artifactsPath(project, name)}?with_tag=true&with_label=true&detail=true`);
      return artifacts.flatMap((a): CatalogImage[] => {
        const tag = a.tags?.[0]?.name;
        const types = typesOf(a);
        return tag && types.length > 0 ? [{ id: `${this.host}/${name}:${tag}`, types, digest: a.digest, ...describedBy(a.extra_attrs?.config?.Labels) }] : [];
      });
    });
    return perRepo.flat();
  }

  /** The types of one artifact (its label names and its image's own types label). */
  async fetchOne(repository: string, reference: string): Promise<{ digest: string; types: string[] }> {
    const [project] = repository.split('/');
    const a = await this.json<HarborArtifact>('GET', `${artifactsPath(project ?? '', repository)}/${enc(reference)}?with_label=true`);
    return { digest: a.digest, types: typesOf(a) };
  }

  /**
   * Make the artifact's session-type labels exactly `types`; labels that are not session types are
   * left alone. A type is the platform's global label when an administrator made one (as CANFAR
   * did), else the project's own label, created when missing: only a system administrator may
   * create global labels, a project's robot account or maintainer may create its project's.
   */
  async setTypes(repository: string, reference: string, types: string[], sessionTypes: readonly string[]): Promise<void> {
    const [project, ...rest] = repository.split('/');
    if (!project || rest.length === 0) throw new RegistryError(400, `not a Harbor repository (project/name): ${repository}`);
    const artifact = await this.json<HarborArtifact>('GET', `${artifactsPath(project, repository)}/${enc(reference)}?with_label=true`);
    const current = artifact.labels ?? [];
    for (const type of types) {
      if (current.some((l) => l.name === type)) continue;
      const id = await this.labelId(type, project);
      await this.json('POST', `${artifactsPath(project, repository)}/${enc(reference)}/labels`, { id }, [200, 201, 409]);
    }
    for (const label of current) {
      if (sessionTypes.includes(label.name) && !types.includes(label.name)) {
        await this.json('DELETE', `${artifactsPath(project, repository)}/${enc(reference)}/labels/${label.id}`, undefined, [200, 404]);
      }
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async labelId(name: string, project: string): Promise<number> {
    const global = (await this.json<HarborLabel[]>('GET', `/labels?scope=g&name=${enc(name)}`)).find((l) => l.name === name);
    if (global) return global.id;
    const projectId = (await this.json<HarborProject[]>('GET', `/projects?name=${enc(project)}`)).find((p) => p.name === project)?.project_id;
    if (projectId === undefined) throw new RegistryError(404, `${this.base}: project ${project} not found`);
    const inProject = () =>
      this.json<HarborLabel[]>('GET', `/labels?scope=p&project_id=${projectId}&name=${enc(name)}`).then((ls) => ls.find((l) => l.name === name));
    const found = await inProject();
    if (found) return found.id;
    await this.json('POST', '/labels', { name, scope: 'p', project_id: projectId, description: `skaha session type ${name}` }, [201, 409]);
    const created = await inProject();
    if (!created) throw new RegistryError(502, `${this.base}: label ${name} was not created in project ${project}`);
    return created.id;
  }

  /** Every item of a paged Harbor list (`page`/`page_size`; a short page is the last). */
  private async pages<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const sep = path.includes('?') ? '&' : '?';
      const items = await this.json<T[]>('GET', `${path}${sep}page=${page}&page_size=${PAGE_SIZE}`);
      out.push(...items);
      if (items.length < PAGE_SIZE) return out;
    }
  }

  private async json<T = unknown>(method: Dispatcher.HttpMethod, path: string, body?: unknown, ok = [200]): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.opts.username) headers.authorization = `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password ?? ''}`).toString('base64')}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.base}/api/v2.0${path}`, {
        method,
        headers,
        dispatcher: this.dispatcher,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      const e = err as Error & { cause?: { message?: string } };
      throw new RegistryError(503, `${this.base}: ${e.cause?.message ?? e.message}`);
    }
    if (!ok.includes(res.statusCode)) {
      const detail = await errorDetail(res);
      throw new RegistryError(res.statusCode, `${this.base}: ${method} /api/v2.0${path.split('?')[0]}: ${res.statusCode}${detail ? ` ${detail}` : ''}`);
    }
    const text = await res.body.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private concurrency() {
    return this.opts.concurrency ?? 16;
  }
}

const enc = encodeURIComponent;

const typesOf = (a: HarborArtifact) => [...new Set([...(a.labels ?? []).map((l) => l.name), ...parseTypes(a.extra_attrs?.config?.Labels?.[TYPES_LABEL])])];

/** Harbor wants the repository name without its project, and a slash inside it encoded twice. */
function artifactsPath(project: string, repository: string): string {
  const inner = repository.startsWith(`${project}/`) ? repository.slice(project.length + 1) : repository;
  return `/projects/${enc(project)}/repositories/${enc(enc(inner))}/artifacts`;
}
