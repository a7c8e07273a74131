#!/usr/bin/env node
// The `skaha` command: the built CLI (run `npm run build` first; scripts/setup.sh does).
import v8 from 'node:v8';

// `skaha serve` streams gigabytes through short-lived 64 KiB socket buffers (storage uploads,
// the session proxy). With V8's default 16 MiB semi-spaces, collecting them kept its GC threads
// busy for about a core-second per GiB uploaded; with 32 MiB that work all but vanishes
// (docs/benchmarks.md, storage). It only takes effect before the heap grows, hence here and not
// in the serve command; it is a ceiling, so the CLI's short runs are unaffected.
if (!/--max-semi-space-size/.test(`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`)) {
  v8.setFlagsFromString('--max-semi-space-size=32');
}
await import('../dist/cli/main.js');
