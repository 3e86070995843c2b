/**
 * The compact form of the per-minute buckets in the stored probe state (version 2, see state.ts): one flat array of
 * small integers instead of 360 objects each with its histogram array. A minute usually holds one sample, so its
 * histogram has one non-zero count; kept sparse, such a minute is 7 integers (about 15 characters of JSON) instead of
 * an object of about 50. Parsing and writing the document was most of a probe's CPU and allocation in a run.
 *
 * Per bucket, in time order: the minutes since the previous bucket's start (the first: since the epoch), `n`, `f`,
 * `m`, the number of non-zero histogram counts, then each as (index, count), indexes increasing. Decoding checks
 * every rule a bucket the step writes obeys, so a damaged document is refused (and reported) rather than misread.
 */
import { LATENCY_BOUNDS_MS, MINUTE, type Bucket } from './slo';

/** Histogram indexes: one per bound, plus everything above the last. */
const HISTOGRAM_SIZE = LATENCY_BOUNDS_MS.length + 1;

/** The buckets (sorted, each starting on a whole minute) as the flat integer array. */
export function encodeMinutes(buckets: readonly Bucket[]): number[] {
  // sized first, then filled: a growing array would be copied several times over (it is some 2,500 integers)
  let size = 0;
  for (const b of buckets) {
    size += 5;
    for (let i = 0; i < b.h.length; i++) if (b.h[i] !== 0) size += 2;
  }
  const out = new Array<number>(size);
  let at = 0;
  let previous = 0;
  for (const b of buckets) {
    const minute = b.t / MINUTE;
    if (!Number.isInteger(minute) || minute <= previous) {
      throw new Error(`minute bucket at ${b.t} is not on a whole minute after the previous one`);
    }
    out[at] = minute - previous;
    out[at + 1] = b.n;
    out[at + 2] = b.f;
    out[at + 3] = b.m;
    const k = at + 4;
    at += 5;
    for (let i = 0; i < b.h.length; i++) {
      const c = b.h[i]!;
      if (c !== 0) {
        out[at++] = i;
        out[at++] = c;
      }
    }
    out[k] = (at - k - 1) / 2;
    previous = minute;
  }
  return out;
}

/**
 * Histograms of one non-zero count (a minute's one sample, or several in the same latency bucket) are shared, frozen
 * arrays: most of the 360 minutes hold one, and nothing changes a bucket's histogram in place (the step copies the
 * bucket it adds to), so each read allocates no histogram for them.
 */
const single = new Map<number, readonly number[]>();
function singleHistogram(index: number, c: number): number[] {
  const key = c * HISTOGRAM_SIZE + index;
  let h = single.get(key);
  if (!h) {
    const a = new Array<number>(index + 1).fill(0);
    a[index] = c;
    h = Object.freeze(a);
    if (c <= 60) single.set(key, h);
  }
  return h as number[];
}

/**
 * The buckets back from the flat array (version 2 stores it as a JSON array), histograms dense with trailing zeros
 * trimmed (as the step keeps them); a string saying what is wrong when the array breaks any rule: not counts (as
 * packInts says it), or any rule of a packed text (layoutOf: out of order, a histogram index out of range or
 * repeated, more failures or histogram counts than samples, more than `limit` buckets, a truncated bucket).
 */
export function decodeMinutes(value: unknown, limit: number): Bucket[] | string {
  if (!Array.isArray(value)) return 'not an array';
  let text: string;
  try {
    text = packInts(value as number[]);
  } catch (e) {
    return (e as Error).message;
  }
  const layout = layoutOf(text, limit);
  return typeof layout === 'string' ? layout : bucketsOf(text);
}

/** The bucket objects of a checked packed text (layoutOf accepted it). */
export function bucketsOf(text: string): Bucket[] {
  const c = new Cursor(text);
  const out: Bucket[] = [];
  let minute = 0;
  while (!c.done) {
    minute += c.next();
    const n = c.next();
    const f = c.next();
    const m = c.next();
    const k = c.next();
    let h: number[];
    if (k === 1) {
      const index = c.next();
      h = singleHistogram(index, c.next());
    } else {
      // the histogram at its exact length (its last index + 1), zeros between the counts
      h = [];
      for (let j = 0; j < k; j++) {
        const index = c.next();
        while (h.length < index) h.push(0);
        h.push(c.next());
      }
    }
    out.push({ t: minute * MINUTE, n, f, m, h });
  }
  return out;
}

/**
 * Version 3 keeps that integer array (and the minutes' largest latencies) as a string: each integer in base-64
 * digits of 5 bits, least significant first, the 6th bit set on every digit but the last (an integer below 32 is one
 * character). JSON reads and writes one string far faster than thousands of numbers (the hot document's parse and
 * serialisation were the largest part of a sample's CPU), and the digits (`A-Z a-z 0-9 - _`) need no escaping.
 */
const DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const DIGIT_CODES = Uint8Array.from(DIGITS, (c) => c.charCodeAt(0));
export const DIGIT_VALUE = (() => {
  const v = new Int8Array(128).fill(-1);
  for (let i = 0; i < DIGITS.length; i++) v[DIGITS.charCodeAt(i)] = i;
  return v;
})();

/**
 * Non-negative safe integers as the packed string, built in one buffer (thousands of one-character concatenations
 * would each allocate); indexed loops, as the arrays are often holey (encodeMinutes sizes its array first).
 */
export function packInts(values: readonly number[]): string {
  let length = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i]!;
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`cannot pack ${v}: not a count`);
    length++;
    while (v >= 32) {
      v = (v - (v % 32)) / 32;
      length++;
    }
  }
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i]!;
    while (v >= 32) {
      const r = v % 32;
      out[at++] = DIGIT_CODES[32 + r]!;
      v = (v - r) / 32;
    }
    out[at++] = DIGIT_CODES[v]!;
  }
  return out.toString('latin1', 0, length);
}

/** The integers back from the packed string, or what is wrong with it (a character outside the digits, a cut integer). */
export function unpackInts(text: string): number[] | string {
  const count = countInts(text);
  if (typeof count === 'string') return count;
  const c = new Cursor(text);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = c.next();
  return out;
}

/**
 * How many integers a packed text holds, or what is wrong with its characters (the same words as unpackInts); no
 * integer is made.
 */
export function countInts(text: string): number | string {
  let scale = 1;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const d = c < 128 ? DIGIT_VALUE[c]! : -1;
    if (d < 0) return `character ${i} is not a digit`;
    if (d >= 32) {
      scale *= 32;
      if (scale > 2 ** 53) return `integer at character ${i} too large`;
    } else {
      // the 11th digit (scale 2^50) may add at most 7: 2^53 and above are not safe integers (packInts refuses them)
      if (scale === 2 ** 50 && d >= 8) return `integer at character ${i} too large`;
      scale = 1;
      count++;
    }
  }
  return scale !== 1 ? 'the last integer is cut' : count;
}

/** Reads a checked packed text one integer at a time, allocating nothing. */
export class Cursor {
  constructor(
    readonly text: string,
    public at = 0,
  ) {}
  get done(): boolean {
    return this.at >= this.text.length;
  }
  next(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const d = DIGIT_VALUE[this.text.charCodeAt(this.at++)]!;
      value += (d & 31) * scale;
      if (d < 32) return value;
      scale *= 32;
    }
  }
  /** Past one bucket's histogram entries (`k` pairs). */
  skipPairs(k: number): void {
    for (let j = 0; j < 2 * k; j++) while (DIGIT_VALUE[this.text.charCodeAt(this.at++)]! >= 32);
  }
}

/** Where a packed minutes text's first and last buckets are: what adding a sample needs to know. */
export interface Layout {
  size: number;
  /** The first bucket's minute (since the epoch) and where the bucket after it starts. */
  firstMinute: number;
  firstEnd: number;
  /** The last bucket's minute and where it starts. */
  lastMinute: number;
  lastStart: number;
}

/**
 * The largest count or minute a stored text may hold: far past any real one (a sample a second for 30,000 years; the
 * year 2,000,000), and far enough below 2^53 that adding samples to it never makes an integer packInts refuses (a
 * damaged document would otherwise fail every write of its probe, run after run).
 */
const LARGEST_COUNT = 2 ** 40;

export const EMPTY_LAYOUT: Layout = { size: 0, firstMinute: 0, firstEnd: 0, lastMinute: 0, lastStart: 0 };

/**
 * The layout of a packed minutes text, or what is wrong with it: the one place the rules a bucket the step writes
 * obeys are checked (version 2's arrays are packed and checked here too, see decodeMinutes); only numbers are made.
 */
export function layoutOf(text: string, limit: number): Layout | string {
  // integers left in the text, counted down as the cursor moves (a bucket's fields must all be there)
  let left = countInts(text);
  if (typeof left === 'string') return left;
  const c = new Cursor(text);
  const at: Layout = { ...EMPTY_LAYOUT };
  let minute = 0;
  while (!c.done) {
    const b = at.size;
    if (b >= limit) return `more than ${limit} buckets`;
    if (left < 5) return `bucket ${b} truncated`;
    const start = c.at;
    const dt = c.next();
    const n = c.next();
    const f = c.next();
    const m = c.next();
    const k = c.next();
    left -= 5;
    if (dt === 0) return `bucket ${b}: not after the previous one`;
    if (n > LARGEST_COUNT || m > LARGEST_COUNT) return `bucket ${b}: a count past ${LARGEST_COUNT}`;
    if (minute + dt > LARGEST_COUNT) return `bucket ${b}: a minute past ${LARGEST_COUNT}`;
    if (f > n) return `bucket ${b}: more failures than samples`;
    if (k > HISTOGRAM_SIZE || 2 * k > left) return `bucket ${b}: histogram truncated`;
    let sum = 0;
    let previous = -1;
    for (let j = 0; j < k; j++) {
      const index = c.next();
      const count = c.next();
      if (count === 0 || index <= previous || index >= HISTOGRAM_SIZE) return `bucket ${b}: bad histogram entry`;
      sum += count;
      previous = index;
    }
    left -= 2 * k;
    if (sum > n) return `bucket ${b}: more latencies than samples`;
    minute += dt;
    if (b === 0) {
      at.firstMinute = minute;
      at.firstEnd = c.at;
    }
    at.lastMinute = minute;
    at.lastStart = start;
    at.size++;
  }
  return at;
}
