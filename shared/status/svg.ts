/**
 * The status page's pictures as SVG text (pure): the 90-day uptime bar, sparklines, and shields-style badges.
 * Colour is never the only signal: bar cells differ in height (and maintenance is hatched), points above an objective
 * are drawn as circles, every picture carries a text equivalent (aria-label, <title> per cell), and badges say their
 * value in words. The palette keeps white text at 4.5:1 or better.
 */
import type { DayCell, DayLevel } from './model';

export const COLOURS = {
  up: '#1a7f37',
  degraded: '#9a6700',
  down: '#cf222e',
  maintenance: '#0969da',
  none: '#6e7781',
  label: '#555',
} as const;

/** Text safe inside an element or a double-quoted attribute. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}

/** A fraction as a percentage, never rounded up to 100% (99.996% shows 99.99%). */
export function percent(u: number | null, digits = 2): string {
  if (u === null) return 'no data';
  if (u >= 1) return '100%';
  const f = 10 ** digits;
  return `${(Math.floor(u * 100 * f) / f).toFixed(digits)}%`;
}

const LEVEL_WORD: Record<DayLevel, string> = {
  up: 'met the objective',
  degraded: 'below the objective',
  down: 'down',
  maintenance: 'maintenance',
  none: 'no data',
};

/** The tooltip of one day cell: the figures behind it. */
export function dayTitle(d: DayCell): string {
  if (d.level === 'none') return `${d.date}: no data`;
  if (d.level === 'maintenance')
    return `${d.date}: maintenance, ${d.maintenance} samples in a maintenance window, none counted`;
  if (d.failures === 0 && d.missed === 0 && d.maintenance === 0) return `${d.date}: 100% up, ${d.samples} samples`;
  const parts = [`${d.date}: ${percent(d.uptime, 3)} up (${LEVEL_WORD[d.level]})`];
  if (d.samples > 0)
    parts.push(
      `${d.samples - d.failures} of ${d.samples + d.missed} samples good`,
      `${d.failures} failed`,
      `${d.missed} not taken`,
    );
  if (d.maintenance > 0) parts.push(`${d.maintenance} in maintenance`);
  return parts.join(', ');
}

const CELL = 4;
const BAR_H = 34;
const HEIGHT: Record<DayLevel, number> = { up: BAR_H, degraded: 24, down: 14, maintenance: BAR_H, none: 3 };

/** The uptime bar: one cell per day, oldest first. Height and hatching carry the level as well as colour. */
export function uptimeBar(days: readonly DayCell[], label: string, id = 'bar'): string {
  const width = days.length * CELL;
  const parts: string[] = [];
  parts.push(
    `<svg class="bar" viewBox="0 0 ${width} ${BAR_H + 6}" preserveAspectRatio="none" role="img" aria-label="${esc(label)}" xmlns="http://www.w3.org/2000/svg">`,
    `<defs><pattern id="${id}-hatch" width="3" height="3" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="3" height="3" fill="${COLOURS.maintenance}"/><rect width="1.2" height="3" fill="#fff"/></pattern></defs>`,
  );
  for (let i = 0; i < days.length; i++) {
    const d = days[i]!;
    const h = HEIGHT[d.level];
    const fill = d.level === 'maintenance' ? `url(#${id}-hatch)` : COLOURS[d.level];
    parts.push(
      `<rect class="d-${d.level}" x="${i * CELL}" y="${BAR_H - h}" width="3" height="${h}" fill="${fill}"><title>${esc(dayTitle(d))}</title></rect>`,
    );
    // a day with some maintenance (but also counted samples) gets a mark under its cell
    if (d.maintenance > 0 && d.level !== 'maintenance')
      parts.push(
        `<rect x="${i * CELL}" y="${BAR_H + 2}" width="${CELL - 1}" height="3" fill="${COLOURS.maintenance}"/>`,
      );
  }
  parts.push('</svg>');
  return parts.join('');
}

export interface SparklineOptions {
  label: string;
  /** A dashed line at this value, labelled; points above it are circled. */
  objective?: number;
  objectiveLabel?: string;
  width?: number;
  height?: number;
}

/** A sparkline of values (null: a gap), oldest first; y from 0 to the larger of the data's max and 1.25 x the objective. */
export function sparkline(values: ReadonlyArray<number | null>, o: SparklineOptions): string {
  const w = o.width ?? 240;
  const h = o.height ?? 40;
  const pad = 3;
  const present = values.filter((v): v is number => v !== null);
  const max = Math.max(1, ...present, (o.objective ?? 0) * 1.25);
  const step = values.length > 1 ? (w - 2 * pad) / (values.length - 1) : 0;
  const x = (i: number) => (pad + i * step).toFixed(1);
  const y = (v: number) => (h - pad - (v / max) * (h - 2 * pad)).toFixed(1);
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${x(i)} ${y(v)}`;
    pen = true;
  });
  const parts = [
    `<svg class="spark" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(o.label)}" xmlns="http://www.w3.org/2000/svg">`,
  ];
  if (o.objective !== undefined) {
    parts.push(
      `<line x1="0" x2="${w}" y1="${y(o.objective)}" y2="${y(o.objective)}" stroke="${COLOURS.none}" stroke-dasharray="3 3" stroke-width="1"/>`,
    );
    if (o.objectiveLabel)
      parts.push(
        `<text x="${w - 2}" y="${Math.max(9, Number(y(o.objective)) - 2)}" text-anchor="end" font-size="9" fill="#57606a">${esc(o.objectiveLabel)}</text>`,
      );
  }
  if (d)
    parts.push(
      `<path d="${d}" fill="none" stroke="${COLOURS.maintenance}" stroke-width="1.5" stroke-linejoin="round"/>`,
    );
  // single points (no neighbour to draw a line to) and points above the objective are drawn as dots
  values.forEach((v, i) => {
    if (v === null) return;
    const alone = (i === 0 || values[i - 1] === null) && (i === values.length - 1 || values[i + 1] === null);
    const above = o.objective !== undefined && v > o.objective;
    if (above)
      parts.push(`<circle cx="${x(i)}" cy="${y(v)}" r="2.5" fill="#fff" stroke="${COLOURS.down}" stroke-width="1.5"/>`);
    else if (alone) parts.push(`<circle cx="${x(i)}" cy="${y(v)}" r="1.5" fill="${COLOURS.maintenance}"/>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

// Verdana 11px advance widths (shields' measure), by character class; close enough for badge layout.
const NARROW = new Set("ijlI!|.,:;'`".split(''));
const SEMI = new Set('frt()[]{}/\\- '.split(''));
const WIDE = new Set('mwMW%@'.split(''));
/** The width of text in Verdana 11px, estimated per character. */
export function textWidth(text: string): number {
  let w = 0;
  for (const c of text) {
    if (NARROW.has(c)) w += 3.6;
    else if (SEMI.has(c)) w += 4.7;
    else if (WIDE.has(c)) w += 10.5;
    else if (c >= 'A' && c <= 'Z') w += 7.6;
    else w += 6.9;
  }
  return Math.ceil(w);
}

/** A shields-style ("flat") badge: a grey label and a coloured value, with a title and an aria-label saying both. */
export function badge(label: string, value: string, colour: string): string {
  const lw = textWidth(label) + 10;
  const vw = textWidth(value) + 10;
  const w = lw + vw;
  const text = `${label}: ${value}`;
  const lx = (lw / 2) * 10;
  const vx = (lw + vw / 2) * 10;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="20" role="img" aria-label="${esc(text)}"><title>${esc(text)}</title>` +
    `<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>` +
    `<clipPath id="r"><rect width="${w}" height="20" rx="3" fill="#fff"/></clipPath>` +
    `<g clip-path="url(#r)"><rect width="${lw}" height="20" fill="${COLOURS.label}"/><rect x="${lw}" width="${vw}" height="20" fill="${colour}"/><rect width="${w}" height="20" fill="url(#s)"/></g>` +
    `<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" text-rendering="geometricPrecision" font-size="110">` +
    `<text aria-hidden="true" x="${lx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">${esc(label)}</text>` +
    `<text x="${lx}" y="140" transform="scale(.1)" fill="#fff">${esc(label)}</text>` +
    `<text aria-hidden="true" x="${vx}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)">${esc(value)}</text>` +
    `<text x="${vx}" y="140" transform="scale(.1)" fill="#fff">${esc(value)}</text></g></svg>`
  );
}
