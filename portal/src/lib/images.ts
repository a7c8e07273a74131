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

/**
 * The images that can run as `type`, matching every word of `query` (in the ID, any order,
 * case-insensitive), grouped by project; projects and images sorted by name.
 */
export function groupImages(images: ImageInfo[], type: string, query = ''): ImageGroup[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const groups = new Map<string, ImageInfo[]>();
  for (const image of images) {
    if (type && !image.types.includes(type)) continue;
    const id = image.id.toLowerCase();
    if (!words.every((w) => id.includes(w))) continue;
    const project = projectOf(image.id);
    groups.set(project, [...(groups.get(project) ?? []), image]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([project, list]) => ({ project, images: list.sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true })) }));
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
