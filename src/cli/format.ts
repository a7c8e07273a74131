/** Human output: aligned tables, relative times, colours only on a terminal. */

const useColour = () => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;

const COLOURS: Record<string, string> = { Running: '32', Succeeded: '36', Completed: '36', Pending: '33', Failed: '31', Terminating: '35' };

export function colourStatus(status: string): string {
  const code = COLOURS[status];
  return code && useColour() ? `\u001b[${code}m${status}\u001b[0m` : status;
}

const visibleLength = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '').length;

/** Columns padded to their widest cell, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visibleLength(c))))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** "in 3 d 4 h", "2 h 5 min ago", "now". */
export function relativeTime(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const diff = t - now;
  let s = Math.round(Math.abs(diff) / 1000);
  if (s < 5) return 'now';
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['min', 60],
    ['s', 1],
  ] as const) {
    if (s >= size && parts.length < 2) {
      parts.push(`${Math.floor(s / size)} ${unit}`);
      s %= size;
    } else if (parts.length > 0) break;
  }
  const text = parts.join(' ');
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

/** A one-line progress indicator on stderr (only on a terminal; silent otherwise). */
export class Spinner {
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private text = '';
  private readonly tty = Boolean(process.stderr.isTTY);

  start(text: string): this {
    this.text = text;
    if (this.tty) this.timer = setInterval(() => this.draw(), 100);
    return this;
  }

  update(text: string): void {
    if (text !== this.text && !this.tty) process.stderr.write(`${text}\n`);
    this.text = text;
  }

  stop(final?: string): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty) process.stderr.write('\r\u001b[K');
    if (final) process.stderr.write(`${final}\n`);
  }

  private draw(): void {
    const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
    process.stderr.write(`\r\u001b[K${frames[this.frame++ % frames.length]} ${this.text}`);
  }
}
