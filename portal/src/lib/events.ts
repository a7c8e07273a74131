interface SessionEventRow {
  type: string;
  reason: string;
  message: string;
  firstTime: string;
  lastTime: string;
}

const COLUMNS = ['TYPE', 'REASON', 'MESSAGE', 'FIRST-TIME', 'LAST-TIME'] as const;

/**
 * view=events is a `kubectl get event -o custom-columns` table (spec §3.6): columns padded to
 * the header's positions, or `<none>`. Rows are cut at the header's column starts, so a message
 * with spaces stays whole. Anything else gives no rows (the raw text is still shown).
 */
export function parseEvents(text: string): SessionEventRow[] {
  const lines = text.split('\n').filter((l) => l.trim());
  const header = lines[0];
  if (!header || !header.startsWith('TYPE')) return [];
  const starts = COLUMNS.map((c) => {
    const m = new RegExp(`(^|\\s)${c}(?=\\s|$)`).exec(header);
    return m ? m.index + (m[1] ?? '').length : -1;
  });
  if (starts.some((s, i) => s < 0 || (i > 0 && s <= starts[i - 1]!))) return [];
  return lines.slice(1).map((line) => {
    const cell = (i: number) => line.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : undefined).trim();
    return { type: cell(0), reason: cell(1), message: cell(2) === '<none>' ? '' : cell(2), firstTime: cell(3), lastTime: cell(4) };
  });
}

/**
 * How a finished session ended, read from its events (the API's session object has no end
 * time): when its container stopped, how long it ran, and its exit code when the event says it.
 */
export function endOf(rows: SessionEventRow[]): { finishedAt: string; ranMs?: number; exitCode?: number } | undefined {
  const end = [...rows].reverse().find((r) => r.reason === 'Completed' || (r.reason === 'Failed' && /exited with code/.test(r.message)));
  if (!end || Number.isNaN(Date.parse(end.lastTime))) return undefined;
  const started = rows.find((r) => r.reason === 'Started');
  const code = /exited with code (-?\d+)/.exec(end.message)?.[1];
  return {
    finishedAt: end.lastTime,
    ...(started && !Number.isNaN(Date.parse(started.firstTime)) ? { ranMs: Date.parse(end.lastTime) - Date.parse(started.firstTime) } : {}),
    ...(code !== undefined ? { exitCode: Number(code) } : {}),
  };
}
