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

const count = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * The buckets back from the flat array, histograms dense with trailing zeros trimmed (as the step keeps them); a
 * string saying what is wrong when the array breaks any rule (not integers, out of order, a histogram index out of
 * range or repeated, more failures or histogram counts than samples, more than `limit` buckets, a truncated bucket).
 */
export function decodeMinutes(value: unknown, limit: number): Bucket[] | string {
  if (!Array.isArray(value)) return 'not an array';
  const a = value as unknown[];
  const out: Bucket[] = [];
  let minute = 0;
  let i = 0;
  while (i < a.length) {
    if (out.length >= limit) return `more than ${limit} buckets`;
    if (i + 5 > a.length) return `bucket ${out.length} truncated`;
    const dt = a[i]!;
    const n = a[i + 1]!;
    const f = a[i + 2]!;
    const m = a[i + 3]!;
    const k = a[i + 4]!;
    if (!count(dt) || !count(n) || !count(f) || !count(m) || !count(k)) return `bucket ${out.length}: not counts`;
    if (dt === 0) return `bucket ${out.length}: not after the previous one`;
    if (f > n) return `bucket ${out.length}: more failures than samples`;
    if (k > HISTOGRAM_SIZE || i + 5 + 2 * k > a.length) return `bucket ${out.length}: histogram truncated`;
    minute += dt;
    i += 5;
    if (k === 1) {
      const index = a[i];
      const c = a[i + 1];
      if (!count(index) || !count(c) || c === 0 || index >= HISTOGRAM_SIZE) {
        return `bucket ${out.length}: bad histogram entry`;
      }
      if (c > n) return `bucket ${out.length}: more latencies than samples`;
      out.push({ t: minute * MINUTE, n, f, m, h: singleHistogram(index, c) });
      i += 2;
      continue;
    }
    // the histogram at its exact length (its last index + 1), zeros between the counts
    const last = k > 0 ? a[i + 2 * (k - 1)] : -1;
    if (k > 0 && (!count(last) || last >= HISTOGRAM_SIZE)) return `bucket ${out.length}: bad histogram entry`;
    const h = new Array<number>((last as number) + 1).fill(0);
    let sum = 0;
    let previous = -1;
    for (let j = 0; j < k; j++, i += 2) {
      const index = a[i]!;
      const c = a[i + 1]!;
      if (!count(index) || !count(c) || c === 0 || index <= previous || index >= h.length) {
        return `bucket ${out.length}: bad histogram entry`;
      }
      h[index] = c;
      sum += c;
      previous = index;
    }
    if (sum > n) return `bucket ${out.length}: more latencies than samples`;
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
const DIGIT_VALUE = (() => {
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
  // made at the most it can hold (one integer a character), cut to what it holds at the end: no growing
  const out = new Array<number>(text.length);
  let n = 0;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const d = c < 128 ? DIGIT_VALUE[c]! : -1;
    if (d < 0) return `character ${i} is not a digit`;
    value += (d & 31) * scale;
    if (d >= 32) {
      scale *= 32;
      if (scale > 2 ** 53) return `integer at character ${i} too large`;
    } else {
      out[n++] = value;
      value = 0;
      scale = 1;
    }
  }
  out.length = n;
  if (scale !== 1) return 'the last integer is cut';
  return out;
}
