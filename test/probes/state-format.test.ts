/**
 * The stored probe state, version 3 (shared/probes/state.ts, compact.ts): the per-minute buckets as one flat integer
 * array packed into a string, the last results as JSON texts. Version 1 and version 2 documents written by the code of
 * before (the fixtures) still read, to the same state and the same figures, and are written back as version 3; the
 * compact and packed forms give back exactly what they were made from; a damaged document is refused and a run says
 * so, as before.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTargets, type Targets } from '../support/probe-targets';
import { tempDir } from '../support/temp';
import { ProbeSchema } from '../../shared/probes/config';
import { readState, summarize } from '../../shared/probes/plan';
import { runProbes } from '../../shared/probes/run';
import { alertEvents } from '../../shared/probes/report';
import { decodeMinutes, encodeMinutes, packInts, unpackInts } from '../../shared/probes/compact';
import { PackedMinutes } from '../../shared/probes/packed-minutes';
import {
  parseState,
  probeKeys,
  stateDocument,
  stepSample,
  STATE_VERSION,
  type ProbeState,
} from '../../shared/probes/state';
import { LATENCY_BOUNDS_MS, MINUTE, MINUTE_BUCKETS, type Bucket } from '../../shared/probes/slo';
import type { ProbeResult } from '../../shared/probes/rules';
import { openStore } from '../../shared/storage/open';

/** A hot document as the code of before this format wrote it: 5 hours of samples, a gap, maintenance, failures. */
const v1 = JSON.parse(readFileSync(new URL('../fixtures/probe-state-v1.json', import.meta.url), 'utf8')) as {
  version: 1;
  minutes: Bucket[];
} & Omit<ProbeState, 'version'>;
/** Its hourly history, written beside it. */
const history = (
  JSON.parse(readFileSync(new URL('../fixtures/probe-history-v1.json', import.meta.url), 'utf8')) as { hours: Bucket[] }
).hours;
const ctx = { env: 'prod', objective: 99.9, intervalSeconds: 60, failureThreshold: 3, successThreshold: 2 };
const config = ProbeSchema.parse({ name: 'api', url: 'http://127.0.0.1:9/health' });

/** A hot document as version 2 wrote it (the code of before this format), stepped three samples past the v1 one. */
const v2 = JSON.parse(readFileSync(new URL('../fixtures/probe-state-v2.json', import.meta.url), 'utf8')) as Record<
  string,
  unknown
>;

/** Through JSON, as the store writes and reads it. */
const stored = (s: ProbeState) => JSON.parse(JSON.stringify(stateDocument(s))) as Record<string, unknown>;
/** The same state as version 2 stored it (the integer array as a JSON array, the results as objects). */
const storedV2 = (s: ProbeState): Record<string, unknown> => ({
  ...stored(s),
  version: 2,
  minutes: encodeMinutes(s.minutes.buckets()),
  recent: s.recent.map((t) => JSON.parse(t) as unknown),
});
/** The largest latencies of a state's last `n` minutes. */
const largestOfLast = (s: ProbeState, n: number) =>
  s.minutes
    .buckets()
    .slice(-n)
    .map((b) => b.x);
/** Version 1's state as it reads now: the same, with its results as texts. */
const v1State = {
  ...v1,
  version: STATE_VERSION,
  minutes: PackedMinutes.from(v1.minutes),
  recent: v1.recent.map((r) => JSON.stringify(r)),
} as ProbeState;

describe('version 1, as the code of before wrote it', () => {
  it('reads to the same state (minutes, hours, sums, counters), and its figures are unchanged', () => {
    expect(v1.version).toBe(1);
    expect(v1.minutes.length).toBeGreaterThan(200);
    const { state, problem } = parseState('api', v1, v1.lastRunAt!);
    expect(problem).toBeUndefined();
    expect(state).toEqual(v1State);
    expect(state.minutes.buckets()).toEqual(v1.minutes);
    const at = new Date(Date.parse(v1.lastRunAt!) + 30_000);
    expect(summarize(config, state, at)).toEqual(summarize(config, v1State, at));
    expect(summarize(config, state, at).last).toEqual(v1.recent.at(-1));
  });

  it('is written back as version 3, about a third of the size, which reads to the same state', () => {
    const { state } = parseState('api', v1, v1.lastRunAt!);
    const doc = stored(state);
    expect(doc.version).toBe(3);
    expect(doc.minutes).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(unpackInts(doc.minutes as string)).toEqual(encodeMinutes(state.minutes.buckets()));
    expect((doc.recent as unknown[]).every((r) => typeof r === 'string')).toBe(true);
    expect(JSON.stringify(doc).length).toBeLessThan(JSON.stringify(v1).length / 3);
    const again = parseState('api', doc, v1.lastRunAt!);
    expect(again.problem).toBeUndefined();
    expect(again.state).toEqual(state);
  });

  it('the next sample steps the same from version 1 as from its version 3 copy', () => {
    const at = Date.parse(v1.lastRunAt!) + MINUTE;
    const result: ProbeResult = {
      probe: 'api',
      kind: 'http',
      at: new Date(at).toISOString(),
      ok: false,
      availabilityFailure: true,
      status: 503,
      latencyMs: 700,
      failed: [{ condition: '[STATUS] == 200', severity: 'critical', message: '[STATUS] == 200: got 503' }],
    };
    const fromV1 = stepSample(parseState('api', v1, result.at).state, result, ctx, history);
    const fromV3 = stepSample(
      parseState('api', stored(parseState('api', v1, '').state), '').state,
      result,
      ctx,
      history,
    );
    expect(fromV3).toEqual(fromV1);
    expect(fromV1.history).toBeDefined(); // the sample closes the 09:00 hour: the history's part is stepped too
    expect(fromV1.state.minutes.buckets().at(-1)).toMatchObject({ t: Math.floor(at / MINUTE) * MINUTE, n: 1, f: 1 });
  });
});

describe('version 2, as the code of before wrote it', () => {
  it('reads (its largest latencies too), is written back as version 3, and reads back to the same state and figures', () => {
    expect(v2.version).toBe(2);
    expect(Array.isArray(v2.minutes) && Array.isArray(v2.minutesLargest)).toBe(true);
    const { state, problem } = parseState('api', v2, v2.lastRunAt as string);
    expect(problem).toBeUndefined();
    expect(state.samples).toBe(v1.samples + 3);
    expect(largestOfLast(state, 3)).toEqual([40, 373, 706]);
    expect(state.recent.map((t) => JSON.parse(t) as unknown)).toEqual(v2.recent);
    const doc = stored(state);
    expect(doc.version).toBe(3);
    expect(JSON.stringify(doc).length).toBeLessThan(JSON.stringify(v2).length);
    const again = parseState('api', doc, '');
    expect(again.problem).toBeUndefined();
    expect(again.state).toEqual(state);
    const at = new Date(Date.parse(v2.lastRunAt as string) + 30_000);
    expect(summarize(config, again.state, at)).toEqual(summarize(config, state, at));
    expect(summarize(config, again.state, at).last).toEqual((v2.recent as unknown[]).at(-1));
  });
});

describe('the packed integers (version 3)', () => {
  it('give back exactly the integers they were made from (seeded random, small and large, zero)', () => {
    let seed = 11;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 200; round++) {
      const ints = Array.from({ length: Math.floor(random() * 300) }, () =>
        random() < 0.8 ? Math.floor(random() * 40) : Math.floor(random() * 2 ** (1 + Math.floor(random() * 52))),
      );
      const packed = packInts(ints);
      expect(packed).toMatch(/^[A-Za-z0-9_-]*$/);
      expect(unpackInts(JSON.parse(JSON.stringify(packed)) as string)).toEqual(ints);
    }
    expect(packInts([0, 31, 32, 1023, 1024])).toBe('AfgB_fggB'); // A, f, (0 + more) B, (31 + more) f, (0 + more) (0 + more) B
    expect(unpackInts('')).toEqual([]);
  });

  it.each([
    ['a character outside the digits', 'AB*C', 'character 2 is not a digit'],
    ['the last integer cut', 'ABg', 'the last integer is cut'],
    ['an integer past 2^53', 'g'.repeat(12) + 'B', 'integer at character 10 too large'],
  ])('a damaged string (%s) is refused, and the state reads as unreadable', (_, minutes, why) => {
    expect(unpackInts(minutes)).toBe(why);
    const doc = { ...stored(parseState('api', v1, '').state), minutes };
    const { state, problem } = parseState('api', doc, '2026-11-29T11:00:00Z');
    expect(problem).toBe(
      `state of probe api unreadable (minutes: ${why}), starting afresh; any incident it had open is resolved when it is next up`,
    );
    expect(state.samples).toBe(0);
  });

  it('refuses what is not a count', () => {
    expect(() => packInts([1, -1])).toThrow(/not a count/);
    expect(() => packInts([0.5])).toThrow(/not a count/);
  });
});

describe('the compact minutes', () => {
  it('give back exactly the buckets they were made from (seeded random: gaps, several samples, maintenance, no latency)', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 50; round++) {
      const buckets: Bucket[] = [];
      let t = Math.floor(Date.parse('2026-11-29T06:00:00Z') / MINUTE) * MINUTE;
      const count = Math.floor(random() * (MINUTE_BUCKETS + 1));
      for (let i = 0; i < count; i++) {
        t += (random() < 0.9 ? 1 : 2 + Math.floor(random() * 30)) * MINUTE;
        const h: number[] = [];
        let latencies = 0;
        const n = Math.floor(random() * 7);
        for (let s = 0; s < n; s++) {
          if (random() < 0.1) continue; // a sample without a latency (a connection refused)
          const k = Math.floor(random() * (LATENCY_BOUNDS_MS.length + 1));
          while (h.length <= k) h.push(0);
          h[k]!++;
          latencies++;
        }
        expect(latencies).toBeLessThanOrEqual(n);
        buckets.push({ t, n, f: Math.floor(random() * (n + 1)), m: random() < 0.1 ? 1 : 0, h });
      }
      const encoded = JSON.parse(JSON.stringify(encodeMinutes(buckets)));
      expect(decodeMinutes(encoded, MINUTE_BUCKETS)).toEqual(buckets);
    }
  });

  it('one good sample a minute: 7 integers a minute', () => {
    const buckets = [0, 1, 2].map((k) => ({ t: (29_000_000 + k) * MINUTE, n: 1, f: 0, m: 0, h: [0, 0, 0, 1] }));
    expect(encodeMinutes(buckets)).toEqual([29_000_000, 1, 0, 0, 1, 3, 1, 1, 1, 0, 0, 1, 3, 1, 1, 1, 0, 0, 1, 3, 1]);
  });

  const good = [29_000_000, 1, 0, 0, 1, 3, 1, 1, 2, 1, 0, 2, 0, 1, 4, 1];
  it.each([
    ['a string', 'abc'],
    ['truncated', good.slice(0, -1)],
    ['a bucket cut short', good.slice(0, 9)],
    ['not an integer', [...good.slice(0, -1), 0.5]],
    ['negative', [29_000_000, 1, -1, 0, 0]],
    ['out of order (no minute between)', [29_000_000, 1, 0, 0, 0, 0, 1, 0, 0, 0]],
    ['more failures than samples', [29_000_000, 1, 2, 0, 0]],
    ['a histogram index past the last bound', [29_000_000, 1, 0, 0, 1, LATENCY_BOUNDS_MS.length + 1, 1]],
    ['histogram indexes not increasing', [29_000_000, 2, 0, 0, 2, 4, 1, 3, 1]],
    ['a zero count', [29_000_000, 2, 0, 0, 2, 3, 0, 4, 1]],
    ['more latencies than samples', [29_000_000, 1, 0, 0, 1, 3, 2]],
    ['more buckets than 6 hours', Array.from({ length: MINUTE_BUCKETS + 1 }, () => [1, 1, 0, 0, 0]).flat()],
  ])('a damaged minutes array (%s) is refused, and the state reads as unreadable (version 2 and 3)', (_, minutes) => {
    const state0 = parseState('api', v1, '').state;
    const docs: Record<string, unknown>[] = [{ ...storedV2(state0), minutes }];
    // the same integers packed, where they can be (counts only): version 3 checks them the same way
    if (Array.isArray(minutes) && minutes.every((x) => Number.isSafeInteger(x) && x >= 0))
      docs.push({ ...stored(state0), minutes: packInts(minutes) });
    for (const doc of docs) {
      const { state, problem } = parseState('api', doc, '2026-11-29T11:00:00Z');
      expect(problem).toMatch(/^state of probe api unreadable \(minutes/);
      expect(state.samples).toBe(0);
    }
  });

  it('the state of another probe, or no version, is refused too', () => {
    const doc = stored(parseState('api', v1, '').state);
    expect(parseState('web', doc, '').problem).toBe(
      'state of probe web unreadable (it is the state of "api"), starting afresh; any incident it had open is resolved when it is next up',
    );
    // the field and what is wrong with it, not the field's name alone
    expect(parseState('api', { ...doc, since: 5 }, '').problem).toMatch(
      /^state of probe api unreadable \(since: .*expected string.*\), starting afresh/,
    );
    expect(parseState('api', [doc], '').problem).toMatch(/unreadable \(not a JSON object\)/);
    expect(parseState('api', { ...doc, version: undefined }, '').problem).toMatch(/unreadable \(no version\)/);
    expect(parseState('api', { ...doc, version: 4 }, '').problem).toBe(
      'state of probe api unreadable (version 4 is not one this release reads), starting afresh; any incident it had open is resolved when it is next up',
    );
  });
});

describe("the minutes' largest latencies (they bound the percentiles)", () => {
  const slowSample = (at: number, latencyMs: number): ProbeResult => ({
    probe: 'api',
    kind: 'http',
    at: new Date(at).toISOString(),
    ok: false,
    availabilityFailure: true,
    status: 0,
    latencyMs,
    failed: [{ condition: '[CONNECTED] == true', severity: 'critical', message: 'timed out after 3000 ms' }],
  });
  const stepped = () => {
    const at = Date.parse(v1.lastRunAt!) + MINUTE;
    let state = parseState('api', v1, '').state;
    for (let i = 0; i < 3; i++)
      state = stepSample(state, slowSample(at + i * MINUTE, 3000.4 + i / 4), ctx, history).state;
    return state;
  };

  it('are stored beside the compact minutes and read back', () => {
    const state = stepped();
    expect(largestOfLast(state, 3)).toEqual([3000, 3000, 3000]);
    const doc = stored(state);
    expect(doc.version).toBe(3);
    // packed as latency + 1: 0 where not known (kept from version 1)
    expect((unpackInts(doc.minutesLargest as string) as number[]).slice(-4)).toEqual([0, 3001, 3001, 3001]);
    expect(parseState('api', doc, '').state).toEqual(state);
    const v2doc = { ...storedV2(state), minutesLargest: state.minutes.buckets().map((b) => b.x ?? -1) };
    expect(parseState('api', v2doc, '').state).toEqual(state);
  });

  it('a document without them (or with them damaged) still reads, none known: the bucket bounds as before', () => {
    const state = stepped();
    const { minutesLargest: _, ...before } = stored(state);
    const { minutesLargest: _v2, ...beforeV2 } = storedV2(state);
    for (const doc of [
      before,
      { ...before, minutesLargest: 'AB' },
      { ...before, minutesLargest: '*' },
      beforeV2,
      { ...beforeV2, minutesLargest: [1, 2] },
      { ...beforeV2, minutesLargest: 'x' },
    ]) {
      const read = parseState('api', doc, '');
      expect(read.problem).toBeUndefined();
      expect(read.state.minutes.buckets()).toEqual(state.minutes.buckets().map(({ x: _x, ...b }) => b));
    }
  });
});

let targets: Targets;
beforeAll(async () => {
  targets = await startTargets();
});
afterAll(async () => targets.close());

describe('through a real run on the file store', () => {
  it('a version 1 document is read and written back as version 3 with the new sample', async () => {
    const store = openStore(`file://${tempDir('mt-probe-v1-')}`);
    await store.writeJson(probeKeys.state('prod', 'api'), v1, { ifGeneration: null });
    const probe = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    const at = new Date(Date.parse(v1.lastRunAt!) + MINUTE);
    const run = await runProbes(store, 'prod', [probe], { all: true, now: () => at });
    expect(run.outcomes[0]!.stateProblem).toBeUndefined();
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    const doc = (await store.readJson(probeKeys.state('prod', 'api')))!.value as Record<string, unknown>;
    expect(doc.version).toBe(3);
    const { state, problem } = parseState('api', doc, at.toISOString());
    expect(problem).toBeUndefined();
    expect(state.samples).toBe(v1.samples + 1);
    expect(state.minutes.buckets().slice(0, -1)).toEqual(
      v1.minutes.filter((b) => b.t > Math.floor(at.getTime() / MINUTE) * MINUTE - MINUTE_BUCKETS * MINUTE),
    );
  });

  it('a hanging target probed with a 300 ms timeout: p95 is the largest latency seen, not the 500 ms bucket bound', async () => {
    const store = openStore(`file://${tempDir('mt-probe-hang-')}`);
    const probe = ProbeSchema.parse({ name: 'hang', url: `${targets.url}/hang`, timeoutMs: 300 });
    const t0 = Date.parse('2026-11-30T10:00:10Z');
    for (let i = 0; i < 3; i++) {
      const run = await runProbes(store, 'prod', [probe], { all: true, now: () => new Date(t0 + i * MINUTE) });
      expect(run.outcomes[0]!.writeError).toBeUndefined();
    }
    const { state, problem } = parseState('hang', (await store.readJson(probeKeys.state('prod', 'hang')))!.value, '');
    expect(problem).toBeUndefined();
    const seen = state.recent.map((r) => (JSON.parse(r) as ProbeResult).latencyMs!);
    expect(seen).toHaveLength(3);
    expect(Math.min(...seen)).toBeGreaterThan(300);
    // before, the bound of the bucket they fell in (500 ms unless the machine is very slow) was shown
    const summary = summarize(probe, state, new Date(t0 + 3 * MINUTE));
    expect(summary.uptime['1h'].p95).toBe(Math.floor(Math.max(...seen)));
    expect(summary.uptime['24h'].p95).toBe(Math.floor(Math.max(...seen)));
  });

  it('a damaged document: the run says so in one line and starts the probe afresh, as before', async () => {
    const store = openStore(`file://${tempDir('mt-probe-damaged-')}`);
    const doc = { ...stored(parseState('api', v1, '').state), minutes: packInts([29_000_000, 1, 5, 0, 0]) };
    await store.writeJson(probeKeys.state('prod', 'api'), doc, { ifGeneration: null });
    const probe = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    const run = await runProbes(store, 'prod', [probe], { all: true });
    expect(run.outcomes[0]!.stateProblem).toBe(
      'state of probe api unreadable (minutes: bucket 0: more failures than samples), starting afresh; any incident it had open is resolved when it is next up',
    );
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    const after = parseState('api', (await store.readJson(probeKeys.state('prod', 'api')))!.value, '');
    expect(after.problem).toBeUndefined();
    expect(after.state.samples).toBe(1);
  });

  it('a document damaged while its incident was open: once the probe is up again, that incident and its SLO one are resolved (they were lost with it)', async () => {
    const root = tempDir('mt-probe-lost-incident-');
    const store = openStore(`file://${root}`);
    const t0 = Date.parse('2026-11-29T10:00:00Z');
    const down = ProbeSchema.parse({ name: 'api', url: `${targets.url}/unhealthy` });
    const up = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    let minute = 0;
    const once = (probe: typeof up) =>
      runProbes(store, 'prod', [probe], { all: true, now: () => new Date(t0 + minute++ * MINUTE) });
    const events = async (probe: typeof up) => {
      const run = await once(probe);
      expect(run.outcomes[0]!.writeError).toBeUndefined();
      return alertEvents('prod', probe, run.outcomes[0]!, new Date().toISOString()).map(
        (e) => `${(e as { status: string }).status} ${(e as { fingerprint: string }).fingerprint}`,
      );
    };
    const fired: string[] = [];
    for (let i = 0; i < 3; i++) fired.push(...(await events(down)));
    expect(fired).toContain('firing probe/prod/api');
    writeFileSync(join(root, probeKeys.state('prod', 'api')), 'garbage!!!');
    // afresh: the first good sample makes it up (no incident is open in the new state), which resolves the lost ones
    const first = await events(up);
    expect(first).toEqual(['resolved probe/prod/api', 'resolved slo/prod/api']);
    const after = parseState('api', (await store.readJson(probeKeys.state('prod', 'api')))!.value, '');
    expect(after.state.reset).toBeUndefined();
    // once only
    expect(await events(up)).toEqual([]);
    // still failing after the damage: nothing is resolved while it is down; it fires again, and resolves as usual
    writeFileSync(join(root, probeKeys.state('prod', 'api')), 'garbage!!!');
    const again: string[] = [];
    for (let i = 0; i < 3; i++) again.push(...(await events(down)));
    expect(again).toEqual(['firing probe/prod/api']);
    const recovered = [...(await events(up)), ...(await events(up))];
    expect(recovered).toEqual(['resolved probe/prod/api', 'resolved slo/prod/api']);
  });

  it('a document that is not JSON at all (cut short): starts afresh and is replaced, as a damaged one (it failed every run)', async () => {
    const root = tempDir('mt-probe-notjson-');
    const store = openStore(`file://${root}`);
    const file = join(root, probeKeys.state('prod', 'api'));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, '{"version": 3, "probe": "a');
    // the reports read it too (mt-ops uptime, the status page): fresh, saying why, never a failure
    const read = await readState(store, 'prod', 'api', new Date().toISOString());
    expect(read.problem).toBe(
      'state of probe api unreadable (not JSON), starting afresh; any incident it had open is resolved when it is next up',
    );
    const probe = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    const run = await runProbes(store, 'prod', [probe], { all: true });
    expect(run.outcomes[0]!.stateProblem).toBe(
      'state of probe api unreadable (not JSON), starting afresh; any incident it had open is resolved when it is next up',
    );
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    expect(run.outcomes[0]!.result.ok).toBe(true);
    const after = parseState('api', (await store.readJson(probeKeys.state('prod', 'api')))!.value, '');
    expect(after.problem).toBeUndefined();
    expect(after.state.samples).toBe(1);
  });
});
