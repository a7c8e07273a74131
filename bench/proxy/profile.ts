/**
 * Reading a V8 CPU profile (`node --cpu-prof`) of the proxy process, for bench/proxy.ts
 * (BENCH_PROFILE=1) or by hand:
 *
 *   node --import tsx bench/proxy/profile.ts <file.cpuprofile>
 *
 * Prints the top functions by self time, the top lines of the repository's own code by self time
 * (positions in dist/ are mapped back to src/*.ts through dist's source maps), and the call tree
 * below the proxy's entry points (inclusive time), all as shares of every sample.
 */
import fs from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
  positionTicks?: Array<{ line: number; ticks: number }>;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

const maps = new Map<string, SourceMap | null>();

/** The source map of a built file (`<file>.map`), or null. */
function mapFor(file: string): SourceMap | null {
  if (!maps.has(file)) {
    let m: SourceMap | null = null;
    try {
      m = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')));
    } catch {
      m = null;
    }
    maps.set(file, m);
  }
  return maps.get(file) ?? null;
}

const sourceLines = new Map<string, string[]>();
function sourceLine(file: string, line1: number): string {
  if (!sourceLines.has(file)) {
    try {
      sourceLines.set(file, fs.readFileSync(file, 'utf8').split('\n'));
    } catch {
      sourceLines.set(file, []);
    }
  }
  return (sourceLines.get(file)?.[line1 - 1] ?? '').trim();
}

/** `file:line` (1-based) of a generated position, mapped to the TypeScript source when a map exists. */
function place(url: string, line1: number, _repo: string): { file: string; line: number; mapped: boolean } {
  if (!url.startsWith('file://')) return { file: url || '(native)', line: line1, mapped: false };
  const file = fileURLToPath(url);
  const map = mapFor(file);
  if (map) {
    // The last mapping on that generated line: tsc keeps one statement per line.
    const e = map.findEntry(line1 - 1, 100_000) as { originalSource?: string; originalLine?: number; generatedLine?: number };
    if (e.originalSource !== undefined && e.originalLine !== undefined && e.generatedLine === line1 - 1) {
      const src = e.originalSource.startsWith('file://') ? fileURLToPath(e.originalSource) : path.resolve(path.dirname(file), e.originalSource);
      return { file: src, line: e.originalLine + 1, mapped: true };
    }
  }
  return { file, line: line1, mapped: false };
}

const short = (file: string, repo: string) =>
  file.startsWith(repo + path.sep) ? path.relative(repo, file) : file.replace(/^.*node_modules\//, 'node_modules/');

export function profileReport(profileFile: string, repo: string, opts: { top?: number; ownCode?: RegExp } = {}): string {
  const top = opts.top ?? 25;
  const own = opts.ownCode ?? /\/(src|dist)\//;
  const prof = JSON.parse(fs.readFileSync(profileFile, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const total = prof.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const seconds = (prof.endTime - prof.startTime) / 1e6;
  const pct = (x: number) => `${((100 * x) / Math.max(total, 1)).toFixed(1)}%`;
  const out: string[] = [];
  out.push(`${profileFile}: ${total} samples over ${seconds.toFixed(1)} s`);

  // Self time per function.
  const selfBy = new Map<string, number>();
  for (const n of prof.nodes) {
    const f = n.callFrame;
    const p = f.url ? place(f.url, f.lineNumber + 1, repo) : undefined;
    const key = `${f.functionName || '(anonymous)'}  ${p ? `${short(p.file, repo)}:${p.line}` : ''}`.trim();
    selfBy.set(key, (selfBy.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  // Self time per script (node's own modules by name; natives, GC and idle by themselves).
  const fileBy = new Map<string, number>();
  for (const n of prof.nodes) {
    const f = n.callFrame;
    const key = f.url ? short(f.url.startsWith('file://') ? fileURLToPath(f.url) : f.url, repo) : `(native) ${f.functionName || '(anonymous)'}`;
    fileBy.set(key, (fileBy.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  out.push('', `self time by script (top ${top}):`);
  for (const [key, hits] of [...fileBy].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`  ${pct(hits).padStart(6)}  ${key}`);

  out.push('', `top ${top} functions by self time:`);
  for (const [key, hits] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`  ${pct(hits).padStart(6)}  ${key}`);

  // Self time per line of our own code.
  const lineBy = new Map<string, { hits: number; file: string; line: number }>();
  for (const n of prof.nodes) {
    if (!own.test(n.callFrame.url) || !n.positionTicks) continue;
    for (const t of n.positionTicks) {
      const p = place(n.callFrame.url, t.line, repo);
      const key = `${p.file}:${p.line}`;
      const e = lineBy.get(key) ?? { hits: 0, file: p.file, line: p.line };
      e.hits += t.ticks;
      lineBy.set(key, e);
    }
  }
  out.push(
    '',
    `top lines of the repository's code by self time (${[...lineBy.values()].some((e) => e.file.endsWith('.ts')) ? 'mapped to the .ts sources' : 'generated positions'}):`,
  );
  for (const e of [...lineBy.values()].sort((a, b) => b.hits - a.hits).slice(0, top)) {
    out.push(`  ${pct(e.hits).padStart(6)}  ${short(e.file, repo)}:${e.line}  ${sourceLine(e.file, e.line).slice(0, 110)}`);
  }

  // Inclusive time of each node (its subtree).
  const inclusive = new Map<number, number>();
  const incl = (id: number): number => {
    const cached = inclusive.get(id);
    if (cached !== undefined) return cached;
    const n = byId.get(id)!;
    let s = n.hitCount ?? 0;
    for (const c of n.children ?? []) s += incl(c);
    inclusive.set(id, s);
    return s;
  };
  for (const n of prof.nodes) incl(n.id);

  // Inclusive time per function of our own code (summed over call paths, not nested in itself).
  const inclBy = new Map<string, number>();
  const walk = (id: number, active: Set<string>) => {
    const n = byId.get(id)!;
    const f = n.callFrame;
    let next = active;
    if (own.test(f.url)) {
      const p = place(f.url, f.lineNumber + 1, repo);
      const key = `${f.functionName || '(anonymous)'}  ${short(p.file, repo)}:${p.line}`;
      if (!active.has(key)) next = new Set([...active, key]);
    }
    // The node's own hits count once for every distinct function of ours on its path.
    for (const k of next) inclBy.set(k, (inclBy.get(k) ?? 0) + (n.hitCount ?? 0));
    for (const c of n.children ?? []) walk(c, next);
  };
  const root = prof.nodes[0];
  if (root) walk(root.id, new Set());
  out.push('', `the repository's functions by inclusive time (with all they call):`);
  for (const [key, hits] of [...inclBy].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`  ${pct(hits).padStart(6)}  ${key}`);

  // Call tree under the first frames of our own code, merged by function.
  interface Tree {
    hits: number;
    self: number;
    children: Map<string, Tree>;
  }
  const tree: Tree = { hits: 0, self: 0, children: new Map() };
  const label = (n: ProfileNode) => {
    const f = n.callFrame;
    const p = f.url ? place(f.url, f.lineNumber + 1, repo) : undefined;
    return `${f.functionName || '(anonymous)'}${p ? ` ${short(p.file, repo)}:${p.line}` : ''}`;
  };
  const addTree = (id: number, into: Tree) => {
    const n = byId.get(id)!;
    const k = label(n);
    let t = into.children.get(k);
    if (!t) into.children.set(k, (t = { hits: 0, self: 0, children: new Map() }));
    t.hits += inclusive.get(id) ?? 0;
    t.self += n.hitCount ?? 0;
    for (const c of n.children ?? []) addTree(c, t);
  };
  const findOwnRoots = (id: number) => {
    const n = byId.get(id)!;
    if (own.test(n.callFrame.url)) addTree(id, tree);
    else for (const c of n.children ?? []) findOwnRoots(c);
  };
  if (root) findOwnRoots(root.id);
  const minShare = 0.005 * total;
  const lines: string[] = [];
  const print = (t: Tree, depth: number) => {
    for (const [k, c] of [...t.children].sort((a, b) => b[1].hits - a[1].hits)) {
      if (c.hits < minShare) continue;
      lines.push(`  ${pct(c.hits).padStart(6)} ${pct(c.self).padStart(6)}  ${'  '.repeat(depth)}${k}`);
      if (depth < 7) print(c, depth + 1);
    }
  };
  print(tree, 0);
  out.push('', "call tree from the first frames of the repository's code (inclusive, self; ≥ 0.5%, 8 levels):", ...lines);
  return out.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: profile.ts <file.cpuprofile>');
    process.exit(2);
  }
  console.log(profileReport(file, path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')));
}
