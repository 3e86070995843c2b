/**
 * Uptime and SLO maths over a probe's aggregates (pure, table-tested): per-minute buckets for the last 6 hours and
 * per-hour buckets for 90 days, each with a count, failures, maintenance samples and a latency histogram.
 *
 * - Uptime over a window is good samples over the samples the schedule should have taken (from the first sample, or
 *   the window's start), maintenance excluded: time with no samples (the prober itself down) is unknown, never up.
 * - Burn rate over a window is the error rate divided by the error budget (1 - objective), as in Google's SRE
 *   workbook; alerts are multi-window, multi-burn-rate: page at 14.4 over 1 h and 5 min, or 6 over 6 h and 30 min;
 *   warning at 1 over 3 d and 6 h.
 */

/** Upper bounds (ms) of the latency histogram's buckets; the last bucket is everything above. */
export const LATENCY_BOUNDS_MS = [5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000] as const;

export interface Bucket {
  /** Start of the bucket (ms since the epoch, aligned to the minute or the hour). */
  t: number;
  /** Samples counted (maintenance excluded). */
  n: number;
  /** Failed samples among them. */
  f: number;
  /** Samples taken inside a maintenance window. */
  m: number;
  /** Latency histogram of the counted samples: counts per LATENCY_BOUNDS_MS bucket (+ overflow), trailing zeros trimmed. */
  h: number[];
  /**
   * The largest latency among them (whole ms, rounded down), which bounds the percentiles read from `h`; absent with no latencies, or in a
   * bucket kept from before it was recorded (then not known: the percentiles are the bucket bounds, as they were).
   */
  x?: number;
}

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const MINUTE_BUCKETS = 6 * 60;
export const HOUR_BUCKETS = 90 * 24;

export function latencyBucket(ms: number): number {
  const i = LATENCY_BOUNDS_MS.findIndex((b) => ms <= b);
  return i === -1 ? LATENCY_BOUNDS_MS.length : i;
}

export interface SampleFacts {
  at: number;
  ok: boolean;
  /** Counts against availability (a failed condition at or above the probe's severity). */
  availabilityFailure: boolean;
  maintenance: boolean;
  latencyMs?: number;
}

/**
 * Adds one sample to a bucket list (sorted by t, bounded to `limit` newest buckets); returns a new list. The input is
 * not changed, and only the bucket the sample falls in is copied (the others are shared): a 90-day hourly list is
 * 2,160 buckets, and copying them all made every sample cost milliseconds.
 */
export function addToBuckets(buckets: readonly Bucket[], sample: SampleFacts, size: number, limit: number): Bucket[] {
  const t = Math.floor(sample.at / size) * size;
  const out = buckets.slice();
  // samples arrive in time order, so the bucket is nearly always the last one: search from the end
  let i = out.length - 1;
  while (i >= 0 && out[i]!.t > t) i--;
  let bucket: Bucket;
  if (i >= 0 && out[i]!.t === t) {
    bucket = { ...out[i]!, h: [...out[i]!.h] };
    out[i] = bucket;
  } else {
    bucket = { t, n: 0, f: 0, m: 0, h: [] };
    out.splice(i + 1, 0, bucket);
  }
  if (sample.maintenance) bucket.m++;
  else {
    bucket.n++;
    if (sample.availabilityFailure) bucket.f++;
    if (sample.latencyMs !== undefined) {
      // the first latency sets the largest (whole ms, rounded down: never above what was seen); a bucket with
      // latencies but no largest (kept from before) stays unknown
      const whole = Math.floor(sample.latencyMs);
      if (bucket.h.length === 0) bucket.x = whole;
      else if (bucket.x !== undefined) bucket.x = Math.max(bucket.x, whole);
      const k = latencyBucket(sample.latencyMs);
      while (bucket.h.length <= k) bucket.h.push(0);
      bucket.h[k]!++;
    }
  }
  // drop buckets older than the retained span (and beyond the count limit)
  const oldest = t - (limit - 1) * size;
  let first = 0;
  while (first < out.length && out[first]!.t < oldest) first++;
  const kept = first > 0 ? out.slice(first) : out;
  return kept.length > limit ? kept.slice(-limit) : kept;
}

export interface Totals {
  n: number;
  f: number;
  m: number;
  h: number[];
  /** The largest latency (0 with none); undefined when a bucket with latencies does not know its largest. */
  x?: number;
}

/**
 * `largest` (a running maximum, starting at 0) with a bucket's largest latency folded in: unknown (undefined) from the
 * first bucket that has latencies but not their largest on.
 */
export function foldLargest(largest: number | undefined, b: { h: readonly number[]; x?: number }): number | undefined {
  if (b.h.length === 0) return largest;
  if (largest === undefined || b.x === undefined) return undefined;
  return Math.max(largest, b.x);
}

/** Sums the buckets that start within [from, to). */
export function totals(buckets: readonly Bucket[], from: number, to: number): Totals {
  const sum: Totals = { n: 0, f: 0, m: 0, h: [], x: 0 };
  for (const b of buckets) {
    if (b.t < from || b.t >= to) continue;
    sum.n += b.n;
    sum.f += b.f;
    sum.m += b.m;
    for (let i = 0; i < b.h.length; i++) sum.h[i] = (sum.h[i] ?? 0) + b.h[i]!;
    sum.x = foldLargest(sum.x, b);
  }
  return sum;
}

/** totals() without the histogram: what burn rates, coverage and the budget read (at every sample). */
function counts(buckets: readonly Bucket[], from: number, to: number): Omit<Totals, 'h'> {
  let n = 0;
  let f = 0;
  let m = 0;
  for (const b of buckets) {
    if (b.t < from || b.t >= to) continue;
    n += b.n;
    f += b.f;
    m += b.m;
  }
  return { n, f, m };
}

/**
 * The latency at quantile q (0..1) from a histogram: the upper bound of the bucket holding it (undefined if empty;
 * Infinity above the last bound), but never more than `largest`, the largest latency the histogram counted, when it is
 * known: no percentile is above every sample (a probe timing out at 3000 ms is not 'p95 5000 ms').
 */
export function quantile(h: readonly number[], q: number, largest?: number): number | undefined {
  const total = h.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = Math.ceil(q * total);
  let seen = 0;
  let bound = Infinity;
  for (let i = 0; i < h.length; i++) {
    seen += h[i] ?? 0;
    if (seen >= rank) {
      bound = LATENCY_BOUNDS_MS[i] ?? Infinity;
      break;
    }
  }
  return largest === undefined ? bound : Math.min(bound, largest);
}

/** Buckets kept in another form (the probe state's packed minutes, packed-minutes.ts): their counts, or them as objects. */
export interface BucketSeries {
  counts(from: number, to: number): Omit<Totals, 'h' | 'x'>;
  buckets(): readonly Bucket[];
}

const asBuckets = (b: readonly Bucket[] | BucketSeries): readonly Bucket[] => ('buckets' in b ? b.buckets() : b);

export interface Aggregates {
  minutes: readonly Bucket[] | BucketSeries;
  hours: readonly Bucket[];
  /** When the first sample was taken (ms). */
  firstSampleAt?: number;
}

/**
 * The totals of a window ending at `now`: minute buckets up to 6 h, hour buckets beyond. Only whole buckets count, so
 * the window really starts at `from`, the first bucket boundary at or after `now - windowMs`.
 */
export function windowTotals(agg: Aggregates, windowMs: number, now: number): Totals & { from: number } {
  const size = windowMs <= MINUTE_BUCKETS * MINUTE ? MINUTE : HOUR;
  const from = Math.ceil((now - windowMs) / size) * size;
  return { ...totals(size === MINUTE ? asBuckets(agg.minutes) : agg.hours, from, now + 1), from };
}

/** windowTotals() without the histogram. */
function windowCounts(agg: Aggregates, windowMs: number, now: number): Omit<Totals, 'h'> {
  const size = windowMs <= MINUTE_BUCKETS * MINUTE ? MINUTE : HOUR;
  const from = Math.ceil((now - windowMs) / size) * size;
  if (size === HOUR) return counts(agg.hours, from, now + 1);
  return 'counts' in agg.minutes ? agg.minutes.counts(from, now + 1) : counts(agg.minutes, from, now + 1);
}

export interface Uptime {
  /** Fraction of expected samples that were good (0..1), or undefined with nothing expected yet. */
  uptime?: number;
  /** Fraction of expected samples never taken (the prober down): unknown, not up. */
  unknown?: number;
  samples: number;
  failures: number;
  maintenance: number;
  p50?: number;
  p95?: number;
  p99?: number;
}

export function uptimeOver(agg: Aggregates, windowMs: number, now: number, intervalSeconds: number): Uptime {
  const t = windowTotals(agg, windowMs, now);
  const first = agg.firstSampleAt;
  const from = Math.max(t.from, first ?? now);
  // the schedule's samples (first + k x interval) that fall in [from, now]; counting floor((now - from) / interval) + 1
  // instead would expect one sample too many whenever the window is read between two samples
  const every = intervalSeconds * 1000;
  const scheduled = first === undefined ? 0 : Math.floor((now - first) / every) - Math.ceil((from - first) / every) + 1;
  const expected = Math.max(t.n + t.m, scheduled);
  const counted = expected - t.m;
  const result: Uptime = {
    samples: t.n,
    failures: t.f,
    maintenance: t.m,
    p50: quantile(t.h, 0.5, t.x),
    p95: quantile(t.h, 0.95, t.x),
    p99: quantile(t.h, 0.99, t.x),
  };
  if (counted > 0) {
    result.uptime = (t.n - t.f) / counted;
    result.unknown = Math.max(0, counted - t.n) / counted;
  }
  return result;
}

/** Burn rate over a window: error rate / (1 - objective). 0 with no samples. `objective` in percent (99.9). */
export function burnRate(agg: Aggregates, windowMs: number, now: number, objective: number): number {
  return rateOf(windowCounts(agg, windowMs, now), objective);
}

function rateOf(t: Omit<Totals, 'h'>, objective: number): number {
  if (t.n === 0) return 0;
  return t.f / t.n / (1 - objective / 100);
}

export const BURN_WINDOWS = {
  '5m': 5 * MINUTE,
  '30m': 30 * MINUTE,
  '1h': HOUR,
  '6h': 6 * HOUR,
  '3d': 72 * HOUR,
} as const;
export type BurnWindow = keyof typeof BURN_WINDOWS;

export interface BurnAlert {
  level: 'critical' | 'warning' | 'none';
  /** Why: `burn 20.1 over 1h and 16.0 over 5m (> 14.4)`. */
  reason?: string;
  rates: Record<BurnWindow, number>;
  /**
   * The last hour still burns above the fast rule's 14.4 (the hour half sampled): an open SLO incident is not resolved
   * yet, even when the 5-minute window is clean (see sloStep). A probe samples that window only a few times (five at
   * 60 s), so one failed sample swings it from 0 to 200x and back: resolving on it alone made a target failing one
   * sample in twenty minutes page and resolve every twenty minutes.
   */
  holding: boolean;
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

/**
 * The multi-window, multi-burn-rate decision (SRE workbook, chapter 5). A rule applies only once its long window holds
 * at least half the samples the schedule takes in it: a new probe's first failed sample (an error rate of 100% over
 * one sample) is the threshold alert's business, not a burn of the monthly budget. And only once its long window holds
 * at least `minFailures` failed samples (the probe's failureThreshold): the workbook's remedy for a service with little
 * traffic, which a probe is (60 samples an hour at 60 s). At 99.9% one failed sample in an hour is a burn of 16.7x, so
 * the fast rule alone paged for a single blip, which the probe's own alert waits three in a row for.
 */
export function burnAlert(
  agg: Aggregates,
  now: number,
  objective: number,
  intervalSeconds = 60,
  minFailures = 1,
): BurnAlert {
  // each window's counts once: its rate, and whether it is covered
  const t = {} as Record<BurnWindow, Omit<Totals, 'h'>>;
  const rates = {} as Record<BurnWindow, number>;
  for (const k of Object.keys(BURN_WINDOWS) as BurnWindow[]) {
    t[k] = windowCounts(agg, BURN_WINDOWS[k], now);
    rates[k] = rateOf(t[k], objective);
  }
  const rules: Array<[BurnAlert['level'], BurnWindow, BurnWindow, number]> = [
    ['critical', '1h', '5m', 14.4],
    ['critical', '6h', '30m', 6],
    ['warning', '3d', '6h', 1],
  ];
  const covered = (w: BurnWindow) => t[w].n + t[w].m >= BURN_WINDOWS[w] / (intervalSeconds * 1000) / 2;
  const holding = rates['1h'] > 14.4 && covered('1h');
  for (const [level, long, short, threshold] of rules) {
    if (rates[long] > threshold && rates[short] > threshold && covered(long) && t[long].f >= minFailures) {
      return {
        level,
        rates,
        reason: `error budget burning at ${fmt(rates[long])}x over ${long} and ${fmt(rates[short])}x over ${short} (> ${threshold})`,
        holding,
      };
    }
  }
  return { level: 'none', rates, holding };
}

/** The SLO window the error budget is counted over. */
export const BUDGET_WINDOW_MS = 30 * 24 * HOUR;

/**
 * Error budget left over the 30-day SLO window, as a fraction of the budget (1 = untouched, 0 = spent, below 0 =
 * overspent); undefined without samples. As in Google's SRE workbook: remaining = 1 - bad / allowed, where allowed is
 * (1 - objective) x the events of the whole window. A probe's events are its schedule (one per interval: 43,200 in 30
 * days at 60 s, so 43.2 failed samples at 99.9%), or the samples taken when more were (manual runs): not only those
 * taken so far, which made a new probe's first failures overspend a budget of a fraction of one sample (-74900%).
 */
export function budgetLeft(
  agg: Aggregates,
  now: number,
  objective: number,
  intervalSeconds: number,
): number | undefined {
  const t = windowCounts(agg, BUDGET_WINDOW_MS, now);
  if (t.n === 0) return undefined;
  const events = Math.max(t.n, BUDGET_WINDOW_MS / (intervalSeconds * 1000));
  const allowed = (1 - objective / 100) * events;
  return 1 - t.f / allowed;
}

/**
 * The budget left as an operator reads it: `93.06%`, or once overspent `exhausted (2.3x spent)` (how many budgets the
 * window's failures use), never a percentage below zero; `-` without samples.
 */
export function formatBudgetLeft(left: number | undefined, decimals = 2): string {
  if (left === undefined) return '-';
  if (left >= 0) return `${(left * 100).toFixed(decimals)}%`;
  const spent = 1 - left;
  return `exhausted (${spent >= 100 ? spent.toFixed(0) : spent.toFixed(1)}x spent)`;
}
