/**
 * Maintenance windows: the `maintenance` section of the operator file and the one pure function that says whether
 * an instant falls inside a window. Shared by the probes (samples taken inside a window are recorded as maintenance
 * and excluded from uptime) and the alert fan-out (no page inside a window).
 *
 * A window starts at each run of its cron, read in its time zone (croner, so `0#1` is the first Sunday of the month),
 * and lasts `durationMinutes` of wall-clock time in that zone: `02:00` for 120 minutes is 02:00-04:00 local, also on
 * the days daylight saving time starts or ends (then the window is one hour shorter or longer in elapsed time).
 */
import { z } from 'zod';
import { Cron } from 'croner';
import { cronExpression, TimeZone } from '../infra/schedules';

export const MaintenanceWindowSchema = z
  .object({
    name: z.string().min(1),
    /** Cron for the window's start, in `timeZone` (croner syntax: `0#1` is the first Sunday of the month). */
    cron: cronExpression(),
    durationMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60),
    timeZone: TimeZone.default('America/New_York'),
  })
  .strict();
export type MaintenanceWindow = z.infer<typeof MaintenanceWindowSchema>;

/** The `maintenance` section: Missing Table's monthly window by default. */
export const MaintenanceSectionSchema = z.array(MaintenanceWindowSchema).default([
  // Missing Table: monthly, Sundays 02:00-04:00 America/New_York (first Sunday of the month).
  // Not `0 2 1-7 * 0`: with both day fields set, cron (and croner) run on days 1-7 OR on any Sunday.
  { name: 'monthly', cron: '0 2 * * 0#1', durationMinutes: 120, timeZone: 'America/New_York' },
]);

/** One occurrence of a window. */
export interface ActiveWindow {
  name: string;
  start: Date;
  end: Date;
}

const partsCache = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = partsCache.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    partsCache.set(timeZone, f);
  }
  return f;
}

/** The wall-clock time of `instant` in `timeZone`, as if it were UTC (ms). */
function wallClock(instant: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instant)))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return (
    Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) + (instant % 1000)
  );
}

/**
 * The instant at which the clocks of `timeZone` show `wall` (ms, wall time as if UTC). A wall time skipped by a
 * spring-forward gap is moved forward by the gap's length (as Temporal's `compatible`); one repeated by a fall-back maps
 * to its first occurrence.
 */
export function instantOfWallClock(wall: number, timeZone: string): number {
  const candidates = new Set<number>();
  for (const probe of [wall - 36 * 3_600_000, wall, wall + 36 * 3_600_000])
    candidates.add(wall - (wallClock(probe, timeZone) - probe));
  const exact = [...candidates].filter((t) => wallClock(t, timeZone) === wall).sort((a, b) => a - b);
  if (exact.length > 0) return exact[0]!;
  // in a gap: read it with the offset in force before the gap, which lands after the gap
  const before = wall - 36 * 3_600_000;
  return wall - (wallClock(before, timeZone) - before);
}

/**
 * What is known about a window around the last instant asked: from `from` until `until` (ms) the answer is `hit`
 * (an occurrence, or none until the next one starts). croner's previousRuns costs milliseconds, and the alert
 * pipeline asks for every message: a time inside the known span is answered from here, the same answer.
 */
const known = new WeakMap<MaintenanceWindow, { from: number; until: number; hit: ActiveWindow | undefined }>();

/** The occurrence of `window` that covers `at`, if any. */
export function occurrenceAt(window: MaintenanceWindow, at: Date): ActiveWindow | undefined {
  const t = at.getTime();
  const memo = known.get(window);
  if (memo && memo.from <= t && t < memo.until) return memo.hit;
  const hit = computeOccurrenceAt(window, at);
  if (hit) known.set(window, { from: hit.start.getTime(), until: hit.end.getTime(), hit });
  else {
    // no occurrence covers `at`, so none covers any instant before the next one starts
    const cron = new Cron(window.cron, { timezone: window.timeZone, paused: true });
    try {
      known.set(window, { from: t, until: cron.nextRun(at)?.getTime() ?? Number.POSITIVE_INFINITY, hit: undefined });
    } finally {
      cron.stop();
    }
  }
  return hit;
}

function computeOccurrenceAt(window: MaintenanceWindow, at: Date): ActiveWindow | undefined {
  const cron = new Cron(window.cron, { timezone: window.timeZone, paused: true });
  try {
    // Any occurrence covering `at` started at most the duration (plus an hour of DST) before it.
    const reference = new Date(at.getTime() + 1);
    for (const start of cron.previousRuns(3, reference)) {
      const startWall = wallClock(start.getTime(), window.timeZone);
      const end = instantOfWallClock(startWall + window.durationMinutes * 60_000, window.timeZone);
      if (start.getTime() <= at.getTime() && at.getTime() < end)
        return { name: window.name, start, end: new Date(end) };
      if (end <= at.getTime() - 3_600_000) break; // older occurrences ended even earlier
    }
    return undefined;
  } finally {
    cron.stop();
  }
}

/** The first window (in config order) whose occurrence covers `at`, or undefined. Pure: same input, same answer. */
export function activeWindow(windows: readonly MaintenanceWindow[], at: Date): ActiveWindow | undefined {
  for (const w of windows) {
    const hit = occurrenceAt(w, at);
    if (hit) return hit;
  }
  return undefined;
}

/** Whether `at` is inside any window. */
export function inMaintenance(windows: readonly MaintenanceWindow[], at: Date): boolean {
  return activeWindow(windows, at) !== undefined;
}

/** The next occurrence to start after `at`, over every window (the earliest), or undefined when none will. Pure. */
export function nextWindow(windows: readonly MaintenanceWindow[], at: Date): ActiveWindow | undefined {
  let best: ActiveWindow | undefined;
  for (const w of windows) {
    const cron = new Cron(w.cron, { timezone: w.timeZone, paused: true });
    try {
      const start = cron.nextRun(at);
      if (!start || (best && best.start.getTime() <= start.getTime())) continue;
      const end = instantOfWallClock(wallClock(start.getTime(), w.timeZone) + w.durationMinutes * 60_000, w.timeZone);
      best = { name: w.name, start, end: new Date(end) };
    } finally {
      cron.stop();
    }
  }
  return best;
}
