import assert from 'node:assert/strict';
import http from 'node:http';
import { HEADLESS_IMAGE, WEB_IMAGE } from '../../helpers/platform.js';
import { MemoryBackend } from '../../helpers/memory-backend.js';
import { DESKTOP_IMAGE, NOTEBOOK_IMAGE, TERMINAL_IMAGE } from '../../helpers/sessions.js';
import { describeBackendContract } from './contract.js';

/**
 * The backend contract on the in-memory backend (test/helpers/memory-backend.ts): the same
 * suite as Podman and Kubernetes, through the real API, proxy and session service, with one
 * backend instance outliving the platforms started on it (as an engine outlives a server).
 * Nothing runs: jobs end when told, and the test itself answers at a session's address.
 */
let backend = new MemoryBackend();

describeBackendContract('in-memory', {
  setUp: async () => void (backend = new MemoryBackend()),
  tearDown: async () => undefined,
  config: () => ({}),
  backend: () => backend,
  images: { web: WEB_IMAGE, headless: HEADLESS_IMAGE, desktop: DESKTOP_IMAGE, terminal: TERMINAL_IMAGE, notebook: NOTEBOOK_IMAGE },
  finish: async (id, exitCode) => backend.finish(id, exitCode),
  async serve(address, body) {
    const server = http.createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(address.port, address.host, resolve));
    return () => new Promise<void>((resolve) => server.close(() => resolve()));
  },
  // The engine is this process: nothing to restart.
  restartEngine: async () => undefined,
  async checkDesktopApp(desktopId, appId) {
    const spec = backend.created.find((s) => s.sessionId === desktopId && s.appId === appId);
    assert.equal(spec?.joinSessionOf, desktopId, "the app was asked to join its desktop's network");
  },
  deadlineOf: async (id) => backend.get(id)?.deadlineSeconds,
  logsAreReal: false,
});
