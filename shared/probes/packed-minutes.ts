/**
 * A probe's per-minute buckets kept in memory as stored (`PackedMinutes`): the packed text of compact.ts changed in
 * place by each sample, its window counts read from running sums, bucket objects made only for the reports.
 */
import { addToBuckets, latencyBucket, MINUTE, type Bucket, type SampleFacts } from './slo';
import {
  bucketsOf,
  countInts,
  Cursor,
  DIGIT_VALUE,
  EMPTY_LAYOUT,
  layoutOf,
  packInts,
  unpackInts,
  encodeMinutes,
  type Layout,
} from './compact';

/** One bucket's fields (the minutes since the previous bucket, n, f, m, then the histogram's (index, count) pairs). */
function packBucket(dt: number, n: number, f: number, m: number, pairs: readonly number[]): string {
  return packInts([dt, n, f, m, pairs.length / 2, ...pairs]);
}

/** Where the last integer of a checked packed text starts (texts of one integer per bucket). */
function lastIntStart(text: string): number {
  let i = text.length - 1;
  while (i > 0 && DIGIT_VALUE[text.charCodeAt(i - 1)]! >= 32) i--;
  return i;
}

/** Where the first integer of a checked packed text ends. */
function firstIntEnd(text: string): number {
  let i = 0;
  while (DIGIT_VALUE[text.charCodeAt(i)]! >= 32) i++;
  return i + 1;
}

/**
 * A probe's per-minute buckets kept as stored (version 3): the packed integers and, beside them, one packed largest
 * latency per bucket (latency + 1; 0 where not known). A sample changes the last bucket or adds one, and drops those
 * past the 6 hours: done on the text, by the first and last buckets' places, so a sample neither decodes nor encodes
 * the 360 buckets (that was a third of a sample's state work and most of its allocation). The window counts the burn
 * rates read are a scan of the text; the bucket objects are made only for the uptime reports (`buckets()`), once.
 * Immutable: `add` returns a new series.
 */
export class PackedMinutes {
  static readonly empty = new PackedMinutes('', '', EMPTY_LAYOUT);
  #buckets?: Bucket[];
  /** Each bucket's start (ms), then the running sums of n, f and m before it and through it (see counts). */
  #sums?: { t: Float64Array; n: Float64Array; f: Float64Array; m: Float64Array };

  private constructor(
    /** The packed integers (the document's `minutes`). */
    readonly ints: string,
    /** One packed integer per bucket: its largest latency + 1, 0 where not known. */
    readonly largestInts: string,
    private readonly layout: Layout,
  ) {}

  /**
   * A stored text, checked (layoutOf), with the stored largest latencies (a packed text with
   * one integer per bucket; anything else: none known), or what is wrong with the text.
   */
  static read(ints: string, largest: unknown, limit: number): PackedMinutes | string {
    const layout = layoutOf(ints, limit);
    if (typeof layout === 'string') return layout;
    const kept = typeof largest === 'string' && countInts(largest) === layout.size ? largest : 'A'.repeat(layout.size);
    return new PackedMinutes(ints, kept, layout);
  }

  /** Bucket objects (sorted, each on a whole minute, as the step keeps them) as a series. */
  static from(buckets: readonly Bucket[]): PackedMinutes {
    const ints = packInts(encodeMinutes(buckets));
    const largest = packInts(buckets.map((b) => (b.x === undefined ? 0 : Math.max(0, Math.round(b.x)) + 1)));
    const layout = layoutOf(ints, Infinity);
    if (typeof layout === 'string') throw new Error(`minute buckets do not encode: ${layout}`);
    return new PackedMinutes(ints, largest, layout);
  }

  get size(): number {
    return this.layout.size;
  }

  /** The largest latencies to store beside the minutes, or none when no bucket knows its largest. */
  storedLargest(): string | undefined {
    for (let i = 0; i < this.largestInts.length; i++)
      if (this.largestInts.charCodeAt(i) !== 65 /* A: 0 */) return this.largestInts;
    return undefined;
  }

  /** The buckets as objects (made once per series). */
  buckets(): readonly Bucket[] {
    if (!this.#buckets) {
      const minutes = bucketsOf(this.ints);
      const largest = unpackInts(this.largestInts) as number[];
      for (let i = 0; i < minutes.length; i++) {
        const x = largest[i]! - 1;
        if (x >= 0 && minutes[i]!.h.length > 0) minutes[i]!.x = x;
      }
      this.#buckets = minutes;
    }
    return this.#buckets;
  }

  /**
   * Samples, failures and maintenance samples of the buckets that start within [from, to) (ms). A sample's burn rates
   * read four windows: the series is scanned once, into running sums, and each window is two binary searches.
   */
  counts(from: number, to: number): { n: number; f: number; m: number } {
    const sums = (this.#sums ??= this.runningSums());
    const lo = firstAtOrAfter(sums.t, from);
    const hi = firstAtOrAfter(sums.t, to);
    if (hi <= lo) return { n: 0, f: 0, m: 0 };
    return { n: sums.n[hi]! - sums.n[lo]!, f: sums.f[hi]! - sums.f[lo]!, m: sums.m[hi]! - sums.m[lo]! };
  }

  private runningSums() {
    const size = this.layout.size;
    const sums = {
      t: new Float64Array(size),
      n: new Float64Array(size + 1),
      f: new Float64Array(size + 1),
      m: new Float64Array(size + 1),
    };
    const c = new Cursor(this.ints);
    let minute = 0;
    for (let i = 0; i < size; i++) {
      minute += c.next();
      sums.t[i] = minute * MINUTE;
      sums.n[i + 1] = sums.n[i]! + c.next();
      sums.f[i + 1] = sums.f[i]! + c.next();
      sums.m[i + 1] = sums.m[i]! + c.next();
      c.skipPairs(c.next());
    }
    return sums;
  }

  /**
   * One sample added (the same result as addToBuckets on the buckets, with `limit` buckets kept): into the last
   * bucket or a new one after it, on the text; a late sample (before the last bucket's minute) through the objects.
   */
  add(sample: SampleFacts, limit: number): PackedMinutes {
    const minute = Math.floor(sample.at / MINUTE);
    const at = this.layout;
    if (at.size > 0 && minute < at.lastMinute)
      return PackedMinutes.from(addToBuckets(this.buckets(), sample, MINUTE, limit));
    let ints: string;
    let largestInts: string;
    const next: Layout = { ...at };
    if (at.size > 0 && minute === at.lastMinute) {
      const c = new Cursor(this.ints, at.lastStart);
      const dt = c.next();
      let n = c.next();
      let f = c.next();
      let m = c.next();
      const k = c.next();
      const pairs = new Array<number>(2 * k);
      for (let j = 0; j < 2 * k; j++) pairs[j] = c.next();
      const lastLargest = lastIntStart(this.largestInts);
      let largest = new Cursor(this.largestInts, lastLargest).next();
      ({ n, f, m, largest } = addSampleTo(n, f, m, pairs, largest, sample));
      ints = this.ints.slice(0, at.lastStart) + packBucket(dt, n, f, m, pairs);
      largestInts = this.largestInts.slice(0, lastLargest) + packInts([largest]);
      if (at.size === 1) next.firstEnd = ints.length;
    } else {
      const pairs: number[] = [];
      const added = addSampleTo(0, 0, 0, pairs, 0, sample);
      const record = packBucket(at.size > 0 ? minute - at.lastMinute : minute, added.n, added.f, added.m, pairs);
      ints = this.ints + record;
      largestInts = this.largestInts + packInts([added.largest]);
      next.lastStart = this.ints.length;
      next.lastMinute = minute;
      if (at.size === 0) {
        next.firstMinute = minute;
        next.firstEnd = ints.length;
      }
      next.size++;
    }
    // the buckets past the retained span (and beyond the count) leave from the front; the new first bucket's
    // minutes-since-the-previous become its minute since the epoch
    const oldest = minute - (limit - 1);
    while (next.size > 1 && (next.firstMinute < oldest || next.size > limit)) {
      const c = new Cursor(ints, next.firstEnd);
      const firstMinute = next.firstMinute + c.next();
      const head = packInts([firstMinute]);
      // the last bucket's place: the text up to the new first bucket's fields is now `head`
      next.lastStart = next.lastStart === next.firstEnd ? 0 : next.lastStart - c.at + head.length;
      ints = head + ints.slice(c.at);
      const d = new Cursor(ints, head.length);
      for (let j = 0; j < 3; j++) d.next();
      d.skipPairs(d.next());
      next.firstMinute = firstMinute;
      next.firstEnd = d.at;
      next.size--;
      largestInts = largestInts.slice(firstIntEnd(largestInts));
    }
    return new PackedMinutes(ints, largestInts, next);
  }
}

/**
 * One sample into a bucket's fields (its histogram as (index, count) pairs, changed in place), as addToBuckets does
 * it: a maintenance sample is only counted as one; the first latency sets the largest (stored + 1), a bucket with
 * latencies but no largest known (0) stays unknown.
 */
function addSampleTo(
  n: number,
  f: number,
  m: number,
  pairs: number[],
  largest: number,
  sample: SampleFacts,
): { n: number; f: number; m: number; largest: number } {
  if (sample.maintenance) return { n, f, m: m + 1, largest };
  n++;
  if (sample.availabilityFailure) f++;
  if (sample.latencyMs !== undefined) {
    const whole = Math.max(0, Math.floor(sample.latencyMs)) + 1;
    if (pairs.length === 0) largest = whole;
    else if (largest > 0) largest = Math.max(largest, whole);
    const k = latencyBucket(sample.latencyMs);
    let j = 0;
    while (j < pairs.length && pairs[j]! < k) j += 2;
    if (j < pairs.length && pairs[j] === k) pairs[j + 1]!++;
    else pairs.splice(j, 0, k, 1);
  }
  return { n, f, m, largest };
}

/** The index of the first of the sorted times at or after `t` (their length when none is). */
function firstAtOrAfter(times: Float64Array, t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
