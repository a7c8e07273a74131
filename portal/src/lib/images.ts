import type { ImageInfo } from '../api';

/** The project of an image: its second path segment (`images.canfar.net/<project>/name:tag`). */
export function projectOf(image: string): string {
  const parts = image.split('/');
  return parts.length >= 3 ? parts[1]! : parts.length === 2 ? parts[0]! : 'other';
}

/** The image without registry and project: `webapp:1.0`. */
export function imageLabel(image: string): string {
  const parts = image.split('/');
  return parts.length >= 3 ? parts.slice(2).join('/') : (parts[parts.length - 1] ?? image);
}

interface ImageGroup {
  project: string;
  images: ImageInfo[];
}

/** The repository (`registry/project/name`) and the tag of an image reference. */
function splitTag(image: string): { repository: string; tag: string } {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? { repository: image.slice(0, at), tag: image.slice(at + 1) } : { repository: image, tag: '' };
}

/**
 * Whether `image` is its repository's latest: tagged `latest`, or the same digest as the
 * repository's `:latest` among `images` (so `notebook:1.2` is marked when `latest` points at it).
 */
export function isLatest(image: ImageInfo, images: ImageInfo[]): boolean {
  const { repository, tag } = splitTag(image.id);
  if (tag === 'latest') return true;
  const latest = images.find((i) => i.id === `${repository}:latest`);
  return !!latest && !!latest.digest && latest.digest === image.digest;
}

/** Tags of one repository: `latest` first, then the newest version first (numerically: 10 before 9). */
function byRepositoryThenNewest(a: ImageInfo, b: ImageInfo): number {
  const [x, y] = [splitTag(a.id), splitTag(b.id)];
  if (x.repository !== y.repository) return x.repository.localeCompare(y.repository);
  if (x.tag === 'latest' || y.tag === 'latest') return x.tag === 'latest' ? (y.tag === 'latest' ? 0 : -1) : 1;
  return y.tag.localeCompare(x.tag, undefined, { numeric: true });
}

/**
 * The images that can run as `type`, matching every word of `query` (in the ID, title or
 * description, any order, case-insensitive), grouped by project; projects by name, an image's
 * tags together with `latest` first and then the newest.
 */
export function groupImages(images: ImageInfo[], type: string, query = ''): ImageGroup[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const groups = new Map<string, ImageInfo[]>();
  for (const image of images) {
    if (type && !image.types.includes(type)) continue;
    const text = [image.id, image.title, image.description].join(' ').toLowerCase();
    if (!words.every((w) => text.includes(w))) continue;
    const project = projectOf(image.id);
    groups.set(project, [...(groups.get(project) ?? []), image]);
  }
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([project, list]) => ({ project, images: list.sort(byRepositoryThenNewest) }));
}

/**
 * The image to preselect: the current one if still offered, else the one this browser last
 * launched for the type, else the first `:latest`, else the first.
 */
export function pickImage(groups: ImageGroup[], current: string, remembered?: string): string {
  const all = groups.flatMap((g) => g.images.map((i) => i.id));
  if (all.includes(current)) return current;
  if (remembered && all.includes(remembered)) return remembered;
  return all.find((id) => id.endsWith(':latest')) ?? all[0] ?? '';
}

const LAST_IMAGE = 'skaha:last-image:';

/** The image this browser last launched a session of `type` with (localStorage; nothing when it is unavailable). */
export function lastImage(type: string): string | undefined {
  try {
    return window.localStorage.getItem(`${LAST_IMAGE}${type}`) ?? undefined;
  } catch {
    return undefined;
  }
}

export function rememberImage(type: string, image: string): void {
  try {
    window.localStorage.setItem(`${LAST_IMAGE}${type}`, image);
  } catch {
    // private mode or storage disabled: the form falls back to :latest
  }
}
