import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The package root, whether we run from src/ (tsx) or dist/ (built): both sit one level down. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Podman settings shipped with the project (runc, lowered ulimits); see deploy/podman/. */
export const DEFAULT_CONTAINERS_CONF = path.join(PACKAGE_ROOT, 'deploy', 'podman', 'containers.conf');

/** Scripts mounted read-only at /skaha-system in session containers, as skaha's chart does. */
export const LAUNCH_SCRIPTS_DIR = path.join(PACKAGE_ROOT, 'images', 'launch-scripts');

/** The portal's built assets (portal/ is built into portal/dist by `npm run build`). */
export const PORTAL_DIST_DIR = path.join(PACKAGE_ROOT, 'portal', 'dist');

/**
 * HOME of the Podman service skaha starts: containers/image looks for registry authorities in
 * $HOME/.config/containers/certs.d/<host:port>/, so this is where skaha can add them without /etc.
 */
export const DEFAULT_ENGINE_HOME = '/var/lib/skaha/podman-home';
