/** Human-readable sizes, durations, ages and text tables: for the CLI and for the plans and reports capabilities print. */

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

/** `1 table`, `2 tables`, `1 index`, `3 indexes`: a count and its noun, plural unless one. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
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

/** Left-aligned text table, one line per row (a cell's line breaks and tabs are spaces: a row never spills). */
export function table(headers: string[], rows: string[][]): string {
  rows = rows.map((r) => r.map((c) => (/[\r\n\t]/.test(c) ? c.replace(/[\r\n\t]+/g, ' ').trim() : c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [fmt(headers), ...rows.map(fmt)].join('\n');
}
