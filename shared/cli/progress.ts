/** Progress for long CLI work: a redrawn bar on a TTY, plain lines otherwise (for logs and CI). */
export interface Progress {
  /** Updates the bar (TTY only; throttled). `fraction` in 0..1. */
  update(fraction: number, text: string): void;
  /** A line worth keeping: printed on TTYs and pipes alike. */
  line(text: string): void;
  done(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, enabled = true): Progress {
  if (!enabled) return { update() {}, line() {}, done() {} };
  const tty = Boolean(stream.isTTY);
  let last = 0;
  let drawn = false;
  const clear = () => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    update(fraction, text) {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100 && fraction < 1) return;
      last = now;
      const width = 24;
      const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
      const columns = stream.columns ?? 100;
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${text}`;
      stream.write(`\r\x1b[2K${bar.slice(0, columns - 1)}`);
      drawn = true;
    },
    line(text) {
      clear();
      stream.write(`${text}\n`);
    },
    done() {
      clear();
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m - h * 60} min`;
}

export function formatAge(from: Date, now: Date = new Date()): string {
  const minutes = Math.round((now.getTime() - from.getTime()) / 60_000);
  if (minutes < 0) return 'in the future';
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.round(hours / 24)}d`;
}

/** Left-aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}
