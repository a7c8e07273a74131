/// <reference types="vitest/config" />
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const portalDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(portalDir, '..');
const devTarget = process.env.SKAHA_URL ?? 'http://127.0.0.1:8555';

/**
 * The portal: `npm run build:portal` writes portal/dist, which `skaha serve` serves at `/`.
 * The same file configures its component tests (test/unit/portal, jsdom):
 * `npx vitest run --config portal/vite.config.ts`.
 */
export default defineConfig({
  root: portalDir,
  base: '/',
  plugins: [react()],
  build: {
    outDir: path.join(portalDir, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    // Small enough to need no splitting; one request for the code, one for the styles.
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npx vite --config portal/vite.config.ts` against a running `skaha serve` (SKAHA_URL, default
    // port 8555). The Origin is the server's own, so its CSRF origin check passes in development.
    proxy: Object.fromEntries(
      ['/skaha', '/auth', '/login', '/logout', '/session'].map((p) => [p, { target: devTarget, ws: p === '/session', headers: { origin: new URL(devTarget).origin } }]),
    ),
  },
  test: {
    dir: repoRoot,
    include: ['test/unit/portal/**/*.test.tsx'],
    environment: 'jsdom',
    globals: false,
    css: false,
  },
});
