/**
 * The per-minute buckets kept packed (compact.ts's PackedMinutes): a sample added on the text must give exactly what
 * addToBuckets gives on the bucket objects (the rule it replaces on the hot path), its window counts what the objects'
 * counts give, and the text must read back to the same series.
 */
import { describe, it, expect } from 'vitest';
import { decodeMinutes, encodeMinutes, packInts, unpackInts } from '../../shared/probes/compact';
import { PackedMinutes } from '../../shared/probes/packed-minutes';
import { addToBuckets, MINUTE, MINUTE_BUCKETS, type Bucket, type SampleFacts } from '../../shared/probes/slo';
import { decodeState, emptyState, stateDocument } from '../../shared/probes/state';

/** Sums of the bucket objects starting within [from, to), as slo.ts counts them. */
const countsOf = (buckets: readonly Bucket[], from: number, to: number) => {
  const sum = { n: 0, f: 0, m: 0 };
  for (const b of buckets)
    if (b.t >= from && b.t < to) {
      sum.n += b.n;
      sum.f += b.f;
      sum.m += b.m;
    }
  return sum;
};

describe('the packed minutes', () => {
  it('a sample added on the text is what addToBuckets makes of the objects (seeded random: late, gaps, maintenance)', () => {
    let seed = 11;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    let late = 0;
    let dropped = 0;
    for (let round = 0; round < 40; round++) {
      let objects: Bucket[] = [];
      let packed = PackedMinutes.empty;
      let at = Date.parse('2026-11-29T06:00:00Z') + Math.floor(random() * MINUTE);
      const samples = 50 + Math.floor(random() * 800);
      for (let i = 0; i < samples; i++) {
        const r = random();
        if (r < 0.6) at += 60_000 + Math.floor((random() - 0.5) * 4_000);
        else if (r < 0.8)
          at += Math.floor(random() * 20_000); // several in one minute
        else if (r < 0.9) at += Math.floor(random() * 7 * 3_600_000); // the prober down for up to 7 hours
        const when = r >= 0.9 && r < 0.93 ? at - Math.floor(random() * 400) * MINUTE : at; // a late sample
        if (when < at && objects.length > 0 && Math.floor(when / MINUTE) * MINUTE < objects.at(-1)!.t) late++;
        const facts: SampleFacts = {
          at: when,
          ok: true,
          availabilityFailure: random() < 0.2,
          maintenance: random() < 0.1,
          latencyMs: random() < 0.1 ? undefined : random() < 0.05 ? 12_000 * random() : 300 * random(),
        };
        const before = objects.length;
        objects = addToBuckets(objects, facts, MINUTE, MINUTE_BUCKETS);
        if (objects.length < before) dropped++;
        packed = packed.add(facts, MINUTE_BUCKETS);
        if (i % 7 === 0 || i === samples - 1) {
          expect(packed.buckets()).toEqual(objects);
          expect(packed.size).toBe(objects.length);
          const back = PackedMinutes.read(packed.ints, packed.storedLargest(), MINUTE_BUCKETS);
          expect(typeof back === 'string' ? back : back.buckets()).toEqual(objects);
          const to = objects.at(-1)!.t + MINUTE;
          for (const span of [5, 30, 60, 360, 1]) {
            const from = to - span * MINUTE - Math.floor(random() * 3) * MINUTE;
            expect(packed.counts(from, to)).toEqual(countsOf(objects, from, to));
          }
        }
      }
    }
    // the cases the rule has were all met
    expect(late).toBeGreaterThan(20);
    expect(dropped).toBeGreaterThan(100);
  });

  it('the largest latencies: the first latency sets it, one kept from before without it stays unknown', () => {
    const t = 29_000_000 * MINUTE;
    const facts = (latencyMs?: number): SampleFacts => ({
      at: t + 5_000,
      ok: true,
      availabilityFailure: false,
      maintenance: false,
      latencyMs,
    });
    const known = PackedMinutes.empty.add(facts(40.7), MINUTE_BUCKETS).add(facts(12), MINUTE_BUCKETS);
    expect(known.buckets()).toEqual([{ t, n: 2, f: 0, m: 0, h: [0, 0, 1, 1], x: 40 }]);
    const unknown = PackedMinutes.from([{ t, n: 1, f: 0, m: 0, h: [0, 0, 0, 1] }]);
    expect(unknown.storedLargest()).toBeUndefined();
    expect(unknown.add(facts(900), MINUTE_BUCKETS).buckets()).toEqual([
      { t, n: 2, f: 0, m: 0, h: [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1] },
    ]);
  });

  it('a stored text is checked as it is read: what is wrong is said, in the words of decodeMinutes', () => {
    const good = PackedMinutes.empty.add(
      { at: 29_000_000 * MINUTE, ok: true, availabilityFailure: false, maintenance: false, latencyMs: 3 },
      MINUTE_BUCKETS,
    );
    expect(PackedMinutes.read(good.ints, undefined, MINUTE_BUCKETS)).toBeInstanceOf(PackedMinutes);
    expect(PackedMinutes.read(good.ints.slice(0, -1), undefined, MINUTE_BUCKETS)).toBe('bucket 0: histogram truncated');
    expect(PackedMinutes.read(good.ints + '*', undefined, MINUTE_BUCKETS)).toBe(
      `character ${good.ints.length} is not a digit`,
    );
    expect(PackedMinutes.read(packInts([29_000_000, 1]), undefined, MINUTE_BUCKETS)).toBe('bucket 0 truncated');
    expect(PackedMinutes.read(good.ints, undefined, 0)).toBe('more than 0 buckets');
  });

  it('an integer of 2^53 or more (which packInts refuses) is refused as it is read, so no sample on it throws', () => {
    const m0 = 29_000_000;
    const max = '_'.repeat(10) + 'H'; // 2^53 - 1, the largest that packs
    const over = 'g'.repeat(10) + 'I'; // 2^53: 11 digits, as 2^53 .. 2^55 - 1 are
    expect(max).toBe(packInts([2 ** 53 - 1]));
    expect(unpackInts(max)).toEqual([2 ** 53 - 1]);
    expect(unpackInts(over)).toBe('integer at character 10 too large');
    const text = packInts([m0]) + over + packInts([0, 0, 0]);
    expect(PackedMinutes.read(text, undefined, MINUTE_BUCKETS)).toBe('integer at character 15 too large');
    // such largest latencies are damaged: none known, and a sample in that minute adds as on a fresh bucket
    const one = packInts([m0, 1, 0, 0, 1, 0, 1]);
    const read = PackedMinutes.read(one, over, MINUTE_BUCKETS) as PackedMinutes;
    expect(read.storedLargest()).toBeUndefined();
    const sample = { at: m0 * MINUTE + 1, ok: true, availabilityFailure: false, maintenance: false, latencyMs: 7 };
    expect(read.add(sample, MINUTE_BUCKETS).buckets()).toEqual([{ t: m0 * MINUTE, n: 2, f: 0, m: 0, h: [1, 1] }]);
  });

  it('a count or a minute past 2^40 is refused as it is read: adding a sample to it could not be packed', () => {
    const m0 = 29_000_000;
    const sample = { at: m0 * MINUTE + 1, ok: true, availabilityFailure: false, maintenance: false };
    expect(PackedMinutes.read(packInts([m0, 2 ** 53 - 1, 0, 0, 0]), undefined, MINUTE_BUCKETS)).toBe(
      `bucket 0: a count past ${2 ** 40}`,
    );
    expect(PackedMinutes.read(packInts([m0, 0, 0, 2 ** 40 + 1, 0]), undefined, MINUTE_BUCKETS)).toBe(
      `bucket 0: a count past ${2 ** 40}`,
    );
    expect(PackedMinutes.read(packInts([m0, 1, 0, 0, 0, 2 ** 40, 1, 0, 0, 0]), undefined, MINUTE_BUCKETS)).toBe(
      `bucket 1: a minute past ${2 ** 40}`,
    );
    // at the bound, it reads and takes samples
    const atBound = PackedMinutes.read(packInts([m0, 2 ** 40, 0, 0, 0]), undefined, MINUTE_BUCKETS) as PackedMinutes;
    expect(atBound.add(sample, MINUTE_BUCKETS).buckets()).toEqual([
      { t: m0 * MINUTE, n: 2 ** 40 + 1, f: 0, m: 0, h: [] },
    ]);
  });

  it('a version 2 document with numbers too large to pack reads (largest ignored) or is refused, never throws', () => {
    const m0 = 29_000_000;
    const doc = { ...stateDocument(emptyState('api', 'x')), version: 2, recent: [], minutes: [m0, 1, 0, 0, 1, 0, 1] };
    for (const x of [1e300, 2 ** 53])
      expect((decodeState({ ...doc, minutesLargest: [x] }) as { minutes: PackedMinutes }).minutes.buckets()).toEqual([
        { t: m0 * MINUTE, n: 1, f: 0, m: 0, h: [1] },
      ]);
    expect(decodeState({ ...doc, minutes: [m0, 1e300, 0, 0, 0] })).toBe('minutes: cannot pack 1e+300: not a count');
  });

  /**
   * The packed series against the objects: equal, equal read back, and a sample in the last minute, the next one and
   * 360 minutes after the first adds equally on the series as it is and as read back (the first and last buckets'
   * places after every add and drop); counts of windows starting and ending on bucket starts.
   */
  const check = (packed: PackedMinutes, objects: Bucket[]) => {
    const limit = MINUTE_BUCKETS;
    expect(packed.buckets()).toEqual(objects);
    const back = PackedMinutes.read(packed.ints, packed.storedLargest(), limit) as PackedMinutes;
    expect(back.buckets()).toEqual(objects);
    const [first, last] = [objects[0]!.t, objects.at(-1)!.t];
    for (const at of [last + 59_999, last + MINUTE, first + 360 * MINUTE]) {
      const facts: SampleFacts = { at, ok: true, availabilityFailure: true, maintenance: false, latencyMs: 60 };
      const want = addToBuckets(objects, facts, MINUTE, limit);
      expect(packed.add(facts, limit).buckets()).toEqual(want);
      expect(back.add(facts, limit).buckets()).toEqual(want);
    }
    for (const [from, to] of [
      [first, last],
      [first, last + 1],
      [last, last + 1],
      [first + MINUTE, last],
      [last, last],
    ])
      expect(packed.counts(from!, to!)).toEqual(countsOf(objects, from!, to!));
  };

  it('the window edges: 359, 360, 361 minutes after the first, exactly 360 buckets, a late sample older than the window, a gap down to one bucket', () => {
    const m0 = 29_000_000 * MINUTE;
    let objects: Bucket[] = [];
    let packed = PackedMinutes.empty;
    const add = (at: number, latencyMs?: number, maintenance = false, checked = true) => {
      const facts = { at, ok: true, availabilityFailure: at % 3 === 0, maintenance, latencyMs };
      objects = addToBuckets(objects, facts, MINUTE, MINUTE_BUCKETS);
      packed = packed.add(facts, MINUTE_BUCKETS);
      if (checked) check(packed, objects);
    };
    add(m0, 3);
    add(m0 + 59_999, 2_000_000); // the same minute, a latency above every bound
    add(m0 + MINUTE);
    for (let k = 2; k < 360; k++) if (k % 60 === 0 || k > 355) add(m0 + k * MINUTE, k);
    expect(packed.size).toBe(11);
    for (let k = 2; k < 360; k++) if (k % 60 !== 0 && k <= 355) add(m0 + k * MINUTE + 1, 1, k % 7 === 0, k % 50 === 0);
    expect(packed.size).toBe(360); // minutes 0 .. 359: all kept
    add(m0 + 360 * MINUTE, 9); // 360 minutes after the first: it leaves
    expect(objects[0]!.t).toBe(m0 + MINUTE);
    add(m0 + 360 * MINUTE + 30_000, 4);
    add(m0 - 5 * MINUTE, 7); // late, older than the whole window
    add(m0 + 100 * MINUTE + 1, 11); // late, inside it
    add(m0 + 362 * MINUTE); // 361 minutes after the first
    add(m0 + 20 * 24 * 60 * MINUTE, 5); // a gap of days: down to one bucket
    expect(packed.size).toBe(1);
    add(m0 + 20 * 24 * 60 * MINUTE + 1, 500);
    add(m0 + (20 * 24 * 60 + 1) * MINUTE);
    add(m0 + (20 * 24 * 60 + 360) * MINUTE); // the first leaves, the last is the only one
    expect(packed.size).toBe(2);
  });

  it('read back from the stored document between samples (its largest latencies damaged, or for minutes without latencies), as the objects stored and read', () => {
    let seed = 5;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const m0 = 29_000_000 * MINUTE;
    for (const damage of ['none', 'count', 'digit', 'absent', 'latency-less']) {
      let objects: Bucket[] = [];
      let state = emptyState('api', 'x');
      let at = m0;
      for (let i = 0; i < 300; i++) {
        at += random() < 0.7 ? MINUTE : random() < 0.5 ? Math.floor(random() * 30_000) : 200 * MINUTE;
        const when = random() < 0.05 ? at - Math.floor(random() * 300) * MINUTE : at;
        const facts: SampleFacts = {
          at: when,
          ok: true,
          availabilityFailure: random() < 0.3,
          maintenance: random() < 0.1,
          latencyMs: random() < 0.3 ? undefined : 400 * random(),
        };
        objects = addToBuckets(objects, facts, MINUTE, MINUTE_BUCKETS);
        state = { ...state, minutes: state.minutes.add(facts, MINUTE_BUCKETS) };
        if (i % 3 !== 0) continue;
        const doc = JSON.parse(JSON.stringify(stateDocument(state))) as Record<string, unknown>;
        expect(doc.minutes).toBe(packInts(encodeMinutes(objects)));
        // the objects as the code before this change stored and read them (latency + 1, 0 where not known)
        const largest = objects.map((b) => (b.x === undefined ? 0 : b.x + 1));
        objects = decodeMinutes(unpackInts(doc.minutes as string), MINUTE_BUCKETS) as Bucket[];
        if (damage === 'none' || damage === 'latency-less')
          objects.forEach((b, j) => largest[j]! > 0 && b.h.length > 0 && (b.x = largest[j]! - 1));
        if (damage === 'absent') delete doc.minutesLargest;
        if (damage === 'count') doc.minutesLargest = packInts(largest.slice(1));
        if (damage === 'digit') doc.minutesLargest = packInts(largest).slice(0, -1) + '*';
        if (damage === 'latency-less')
          doc.minutesLargest = packInts(
            objects.map((b, j) => (b.h.length ? largest[j]! : 1 + Math.floor(random() * 900))),
          );
        const read = decodeState(doc);
        if (typeof read === 'string') throw new Error(read);
        expect(read.minutes.buckets()).toEqual(objects);
        state = read;
      }
      check(state.minutes, objects);
    }
  });
});
