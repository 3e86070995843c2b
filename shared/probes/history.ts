/**
 * A probe's state in two documents: the hot one (`<env>/.state/probes/<name>.json`: counters, status, the last 20
 * results, per-minute aggregates, and the hours not yet closed) written at every sample, and the hourly history
 * (`<env>/.state/probe-history/<name>.json`: 90 days of per-hour aggregates) written only when an hour closes. The
 * history was nine tenths of the old single document, read, parsed, serialised and written back at every sample.
 *
 * The sample step (recordSample) is unchanged: it runs on a view of the hot document whose hours are the open ones
 * plus two summary buckets standing for the closed ones, one for the part of the 3-day window and one for the rest of
 * the 30-day window, the only windows over hours a sample's figures (burn rate, budget left) read. Those two sums are
 * kept in the hot document (`past`), valid while the windows start at the same hours, so the history is read about
 * once an hour: when an hour closes (it moves from the hot document into the history), when the windows move, and for
 * a sample that arrives after its hour was closed (more than an hour late: added to the history afterwards).
 *
 * Compare-and-swap on both: the history is written first, merging each closed hour by keeping the fuller bucket (an
 * hour's bucket only grows while it is open, so of two versions the one with more samples is the later; merging the
 * same hour twice, from a retry or a concurrent run, changes nothing), then the hot document, whose write decides.
 */
import { z } from 'zod';
import { StorageError, type ObjectStore } from '../storage/types';
import { foldLargest, HOUR, HOUR_BUCKETS, totals, type Bucket } from './slo';
import type { ProbeState } from './state';

export const historyKey = (env: string, name: string) => `${env}/.state/probe-history/${name}.json`;

export const BucketSchema = z.object({
  t: z.number(),
  n: z.number(),
  f: z.number(),
  m: z.number(),
  h: z.array(z.number()),
  /** The largest latency (slo.ts); absent in a bucket written before it was kept. */
  x: z.number().optional(),
});
const TotalsSchema = z.object({
  n: z.number(),
  f: z.number(),
  m: z.number(),
  h: z.array(z.number()),
  x: z.number().optional(),
});

/** The closed hours' sums over a sample's 3-day and 30-day windows, valid for windows starting at those hours. */
export const PastSchema = z.object({ from3d: z.number(), from30d: z.number(), w3d: TotalsSchema, w30d: TotalsSchema });
export type Past = z.infer<typeof PastSchema>;

const HistorySchema = z.object({ version: z.literal(1), probe: z.string(), hours: z.array(BucketSchema) });

export interface HistoryRead {
  hours: Bucket[];
  /** null: no history document yet. */
  generation: string | null;
  problem?: string;
}

/**
 * A probe's document (hot state or history) as stored. One that is not JSON at all (cut short, edited by hand) reads
 * as unreadable, with its generation: the probe starts afresh and its next write replaces it, as for any other
 * unreadable document (such a document used to fail every run, so the probe was never probed again).
 */
export async function readProbeDocument(
  store: ObjectStore,
  key: string,
): Promise<{ value: unknown; generation: string; notJson?: string } | undefined> {
  try {
    return await store.readJson(key);
  } catch (err) {
    if (!(err instanceof StorageError && err.cause instanceof SyntaxError)) throw err;
    const info = await store.stat(key);
    return info && { value: undefined, generation: info.generation, notJson: 'not JSON' };
  }
}

export async function readHistory(store: ObjectStore, env: string, name: string): Promise<HistoryRead> {
  const doc = await readProbeDocument(store, historyKey(env, name));
  if (!doc) return { hours: [], generation: null };
  const parsed = HistorySchema.safeParse(doc.value);
  if (parsed.success && parsed.data.probe === name) return { hours: parsed.data.hours, generation: doc.generation };
  return {
    hours: [],
    generation: doc.generation,
    problem: `hourly history of probe ${name} unreadable, starting afresh`,
  };
}

export function historyDocument(name: string, hours: Bucket[]) {
  return { version: 1 as const, probe: name, hours };
}

const hourOf = (ms: number) => Math.floor(ms / HOUR) * HOUR;

/** Where a sample's 3-day and 30-day windows start (as windowTotals counts them: whole hours from there). */
export function windowStarts(at: number): { from3d: number; from30d: number } {
  return { from3d: Math.ceil((at - 72 * HOUR) / HOUR) * HOUR, from30d: Math.ceil((at - 720 * HOUR) / HOUR) * HOUR };
}

/** Hours before this one are closed once a sample at `newest` is in: the current and the previous hour stay open. */
export function closedBefore(newest: number): number {
  return hourOf(newest) - HOUR;
}

export function pastFor(history: readonly Bucket[], at: number): Past {
  const { from3d, from30d } = windowStarts(at);
  return { from3d, from30d, w3d: totals(history, from3d, Infinity), w30d: totals(history, from30d, Infinity) };
}

export function pastValid(past: Past | undefined, at: number): past is Past {
  if (!past) return false;
  const w = windowStarts(at);
  return past.from3d === w.from3d && past.from30d === w.from30d;
}

/**
 * The two summary buckets standing for the closed hours in the sample step (none when nothing is closed yet). The
 * older one's largest latency is the 30 days' (a maximum cannot be subtracted): read with the 3 days', as a 30-day
 * window reads them, it is the largest of the window.
 */
export function summaryBuckets(past: Past): Bucket[] {
  const older: Bucket = {
    t: past.from30d,
    n: past.w30d.n - past.w3d.n,
    f: past.w30d.f - past.w3d.f,
    m: past.w30d.m - past.w3d.m,
    h: past.w30d.h.map((c, i) => c - (past.w3d.h[i] ?? 0)),
    x: past.w30d.x,
  };
  return [older, { t: past.from3d, ...past.w3d, h: [...past.w3d.h] }];
}

/** Closed hours into the history: each hour's fuller bucket kept (idempotent), sorted, 90 days from the newest. */
export function mergeClosed(history: readonly Bucket[], closed: readonly Bucket[]): Bucket[] {
  const byHour = new Map(history.map((b) => [b.t, b]));
  for (const b of closed) {
    const had = byHour.get(b.t);
    if (!had || b.n + b.m > had.n + had.m) byHour.set(b.t, b);
  }
  return bounded([...byHour.values()].sort((a, b) => a.t - b.t));
}

/** Late samples' buckets added to the history (they count on top of what the closed hour holds). */
export function addLate(history: readonly Bucket[], late: readonly Bucket[]): Bucket[] {
  const byHour = new Map(history.map((b) => [b.t, b]));
  for (const b of late) {
    const had = byHour.get(b.t) ?? { t: b.t, n: 0, f: 0, m: 0, h: [] };
    const h = [...had.h];
    b.h.forEach((c, i) => (h[i] = (h[i] ?? 0) + c));
    const x = foldLargest(foldLargest(0, had), b);
    byHour.set(b.t, { t: b.t, n: had.n + b.n, f: had.f + b.f, m: had.m + b.m, h, ...(h.length > 0 && { x }) });
  }
  return bounded([...byHour.values()].sort((a, b) => a.t - b.t));
}

function bounded(hours: Bucket[]): Bucket[] {
  if (hours.length === 0) return hours;
  const oldest = hours.at(-1)!.t - (HOUR_BUCKETS - 1) * HOUR;
  const kept = hours.filter((b) => b.t >= oldest);
  return kept.length > HOUR_BUCKETS ? kept.slice(-HOUR_BUCKETS) : kept;
}

/** The whole state as it reads (hours from the history, then the hot document's open ones): for reports and pages. */
export function withHistory(state: ProbeState, history: readonly Bucket[]): ProbeState {
  const through = state.historyThrough;
  if (through === undefined || history.length === 0) return state;
  const { past: _past, ...rest } = state;
  return { ...rest, hours: bounded([...history.filter((b) => b.t <= through), ...state.hours]) };
}

/** Whether this sample's step needs the history read: an hour to close, windows moved, or a sample for a closed hour. */
export function needsHistory(state: ProbeState, at: number): boolean {
  const last = state.lastRunAt ? Date.parse(state.lastRunAt) : at;
  const cutoff = closedBefore(Math.max(at, last));
  if (state.hours.some((b) => b.t < cutoff)) return true;
  if (state.historyThrough === undefined) return false; // nothing closed yet: no history to read
  if (hourOf(at) <= state.historyThrough) return true;
  return !pastValid(state.past, at);
}
