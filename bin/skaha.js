#!/usr/bin/env node
// The `skaha` command: the built CLI (run `npm run build` first; scripts/setup.sh does).
import v8 from 'node:v8';

// `skaha serve` streams gigabytes through short-lived buffers: 64 KiB body chunks of uploads,
// 4 MiB reads of downloads, the session proxy's socket buffers (docs/benchmarks.md, storage).
// These flags are set here, before the heap grows, not in the serve command; the CLI's short
// runs are unaffected by either.
//
// 32 MiB semi-spaces: a ceiling on the young generation, which collects those buffers' handles.
if (!/--max-semi-space-size/.test(`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`)) {
  v8.setFlagsFromString('--max-semi-space-size=32');
}
// The buffers' memory is outside the heap, counted by V8 as external memory. Swept on a thread
// of its own (V8's default), it was freed later than new buffers arrived on a busy machine: the
// count kept crossing V8's external-memory limit, each crossing started a major GC, and the GC's
// own threads delayed the sweep further. In one fresh server process in three or more (and in
// every long-lived one we watched), four GC threads marked through whole transfers, 0.3–0.6
// CPU-seconds each per GiB; uploads fell from ~450 to ~280 MiB/s. Swept in the young-generation
// collection's own pause, the count stays true and no major GC starts.
v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
await import('../dist/cli/main.js');
