/**
 * Image references, parsed by the grammar of the OCI distribution spec (and of
 * github.com/distribution/reference, which Podman, Docker and the kubelet all use):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := domain "/" path            (the domain is required here: an image comes from a registry)
 *   domain     := host [ ":" port ]          host: DNS labels joined by ".", an IPv4 address or [IPv6]
 *   path       := component ( "/" component )*   component: [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := algorithm ":" hex          algorithm: [a-z0-9]+ ( [+._-] [a-z0-9]+ )*, hex: [a-f0-9]{32,}
 *
 * The repository is lower case and the whole name at most 255 characters (spec: "name" of the
 * distribution API). Nothing else (spaces, options, uppercase paths) is an image, and a launch that
 * brings one is refused with one line (400), before it can reach the engine.
 */

interface ParsedReference {
  /** `host[:port]`, as written (compare with {@link sameHost}). */
  host: string;
  /** The path inside the registry, e.g. `skaha/notebook`. */
  repository: string;
  tag?: string;
  digest?: string;
}

const MAX_NAME_LENGTH = 255;
const DOMAIN_LABEL = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
const IPV6 = /^\[[0-9A-Fa-f:.]+\]$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-f0-9]{32,}$/;

/** Why `raw` is not an image reference this platform can launch, in one line; undefined if it is. */
export function referenceProblem(raw: string): string | undefined {
  const result = parse(raw);
  return typeof result === 'string' ? result : undefined;
}

/** Parse `raw`; throws an Error whose message is the one-line reason when it is not a reference. */
export function parseReference(raw: string): ParsedReference {
  const result = parse(raw);
  if (typeof result === 'string') throw new Error(result);
  return result;
}

function parse(raw: string): ParsedReference | string {
  // Shown in a one-line reply: control characters escaped, length bounded.
  const visible = raw.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  const shown = visible.length > 200 ? `${visible.slice(0, 200)}...` : visible;
  const invalid = (why: string) => `invalid image reference '${shown}': ${why}`;
  if (raw === '') return invalid('it is empty');
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) return invalid('it contains spaces or control characters');
  let rest = raw;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return invalid(`'${digest}' is not a digest (algorithm:hex, e.g. sha256:<64 hex digits>)`);
  }
  const slash = rest.indexOf('/');
  if (slash < 0) return invalid('it names no registry host (want host[:port]/repository[:tag])');
  const host = rest.slice(0, slash);
  const hostProblem = domainProblem(host);
  if (hostProblem) return invalid(hostProblem);
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) return invalid(`'${tag}' is not a tag (letters, digits, '_', '.', '-'; at most 128)`);
  }
  if (path === '') return invalid('the repository is empty');
  if (path !== path.toLowerCase()) return invalid('the repository must be lower case');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) return invalid(`'${component}' is not a repository path component (a-z, 0-9, separated by '.', '_', '__' or '-')`);
  }
  if (host.length + 1 + path.length > MAX_NAME_LENGTH) return invalid(`the name is longer than ${MAX_NAME_LENGTH} characters`);
  return { host, repository: path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

function domainProblem(domain: string): string | undefined {
  let host = domain;
  const port = /:(\d+)$/.exec(domain);
  if (port) {
    host = domain.slice(0, port.index);
    if (Number(port[1]) < 1 || Number(port[1]) > 65535) return `'${port[1]}' is not a port`;
  }
  if (IPV6.test(host)) return undefined;
  if (host === '' || !host.split('.').every((label) => DOMAIN_LABEL.test(label))) return `'${domain}' is not a registry host[:port]`;
  // The engines read a first component without '.' or ':' (other than localhost) as a path on
  // their default registry (docker.io/...), whatever was meant: never a registry host here.
  if (!port && !host.includes('.') && host !== 'localhost')
    return `'${domain}' is not a registry host (no '.' or ':port'; the engine would look for it on its default registry)`;
  return undefined;
}

/** Host names compare case-insensitively (RFC 4343); ports exactly. */
function sameHost(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * Is `ref` from one of `allowed`? Each entry is a registry `host[:port]`, optionally followed by a
 * path prefix (`images.example.org/skaha`) that must match whole path components. Exact host
 * matching: `images.canfar.net.evil.example/x` is not from `images.canfar.net`.
 */
export function fromRegistry(ref: ParsedReference, allowed: string[]): boolean {
  return allowed.some((entry) => {
    const slash = entry.indexOf('/');
    const host = slash < 0 ? entry : entry.slice(0, slash);
    const prefix = slash < 0 ? '' : entry.slice(slash + 1).replace(/\/+$/, '');
    if (!sameHost(ref.host, host)) return false;
    return prefix === '' || ref.repository === prefix || ref.repository.startsWith(`${prefix}/`);
  });
}

/**
 * Why `image` may not be launched from `allowed` registries, in one line (the launch's 400), or
 * undefined. A reference from another registry gets skaha's words (spec §3.5); a malformed one
 * from an allowed registry gets the rule it breaks.
 */
export function launchProblem(image: string, allowed: string[]): string | undefined {
  const result = parse(image);
  const ref = typeof result === 'string' ? undefined : result;
  const firstSegment = image.split('/')[0] ?? '';
  const fromAllowed = ref ? fromRegistry(ref, allowed) : allowed.some((entry) => sameHost(entry.split('/')[0] ?? '', firstSegment));
  if (!fromAllowed) return `session image '${image}' must come from one of [${allowed.join(', ')}]`;
  return typeof result === 'string' ? result : undefined;
}

/** `host/repository[:tag][@digest]` back as text (the form the engine and the catalog use). */
export function formatReference(ref: ParsedReference): string {
  return `${ref.host}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}
