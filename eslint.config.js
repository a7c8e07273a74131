// The linter of the test command (scripts/test.sh): typescript-eslint's recommended rules, and
// the import rules that keep the call direction of design.md —
// HTTP (server/app, api, proxy) → auth → sessions (the session service) → backends.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Import patterns a layer may not use: the layers above it, which call it. */
const above = {
  // The server wires every room; below it only its configuration's types may be named.
  app: ['**/server/**'],
  http: ['**/api/**', '**/proxy/**'],
  cli: ['**/cli/**'],
  concreteBackends: ['**/backends/podman/**', '**/backends/kubernetes/**'],
};
const forbid = (groups, message) => [
  'error',
  {
    patterns: [
      { group: groups.flat().filter((g) => !above.app.includes(g)), message },
      ...(groups.includes(above.app) ? [{ group: above.app, allowTypeImports: true, message }] : []),
    ],
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'portal/dist/**', 'node_modules/**', 'images/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // Refusing control characters (in image references, in terminal output) is deliberate.
      'no-control-regex': 'off',
      // Typed errors from libraries arrive as unknown; `as` casts say what we expect of them.
      '@typescript-eslint/no-explicit-any': 'off',
      // `void promise` marks a deliberate fire-and-forget.
      'no-void': 'off',
    },
  },
  {
    // The leaf modules: every room imports them, so they import nothing of the project.
    files: ['src/common/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../**'], message: 'src/common is a leaf: it imports nothing of the project' }] }] },
  },
  {
    // Backends know engines and clusters, nothing above them; nor does the local engine's room.
    files: ['src/backends/**/*.ts', 'src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(
        [above.app, above.http, above.cli, ['**/sessions/service.js']],
        'a backend is called by the session service; it calls nothing above it',
      ),
    },
  },
  {
    // The session service and the stores it uses: no HTTP, no CLI, and engines only through the SessionBackend interface.
    files: ['src/sessions/**/*.ts', 'src/store/**/*.ts', 'src/storage/**/*.ts', 'src/catalog/**/*.ts', 'src/auth/**/*.ts'],
    rules: {
      'no-restricted-imports': forbid(
        [above.app, above.http, above.cli, above.concreteBackends],
        'this layer is called from HTTP; it reaches engines through the SessionBackend interface only',
      ),
    },
  },
  {
    // The API and the proxy call the session service, never a backend (its types they may name).
    files: ['src/api/**/*.ts', 'src/proxy/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: above.cli, message: 'routes and the proxy are called by the server; they call nothing above them' },
            { group: above.app, allowTypeImports: true, message: 'routes and the proxy are called by the server; they call nothing above them' },
            {
              group: ['**/backends/**'],
              allowTypeImports: true,
              message: 'routes and the proxy reach engines through the session service only; only server/platform.ts wires backends',
            },
          ],
        },
      ],
    },
  },
  {
    // The CLI talks to servers over HTTP; `skaha image` drives the local engine through
    // src/engine/ (never a session backend), and `skaha serve` is the server itself.
    files: ['src/cli/**/*.ts'],
    ignores: ['src/cli/commands/serve.ts'],
    rules: { 'no-restricted-imports': forbid([above.http, above.concreteBackends], 'the CLI is a client of the API') },
  },
  {
    // The portal is a browser client of the API: nothing of the server's code at run time.
    files: ['portal/src/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)src/(?!sessions/model$)',
              message: 'the portal talks to the API over HTTP (src/sessions/model is pure data and may be shared)',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
