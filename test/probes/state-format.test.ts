/**
 * The stored probe state, version 2 (shared/probes/state.ts, compact.ts): the per-minute buckets as one flat integer
 * array. A version 1 document written by the code of before (the fixture) still reads, to the same state and the same
 * figures, and is written back as version 2; the compact form gives back exactly the buckets it was made from; a
 * damaged document is refused and a run says so, as before.
 */
import { readFileSync } from 'node:fs';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTargets, type Targets } from '../support/probe-targets';
import { tempDir } from '../support/temp';
import { ProbeSchema } from '../../shared/probes/config';
import { summarize } from '../../shared/probes/plan';
import { runProbes } from '../../shared/probes/run';
import { decodeMinutes, encodeMinutes } from '../../shared/probes/compact';
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

/** Through JSON, as the store writes and reads it. */
const stored = (s: ProbeState) => JSON.parse(JSON.stringify(stateDocument(s))) as Record<string, unknown>;

describe('version 1, as the code of before wrote it', () => {
  it('reads to the same state (minutes, hours, sums, counters), and its figures are unchanged', () => {
    expect(v1.version).toBe(1);
    expect(v1.minutes.length).toBeGreaterThan(200);
    const { state, problem } = parseState('api', v1, v1.lastRunAt!);
    expect(problem).toBeUndefined();
    expect(state).toEqual({ ...v1, version: STATE_VERSION });
    const at = new Date(Date.parse(v1.lastRunAt!) + 30_000);
    expect(summarize(config, state, at)).toEqual(summarize(config, { ...v1, version: STATE_VERSION }, at));
  });

  it('is written back as version 2, about a third of the size, which reads to the same state', () => {
    const { state } = parseState('api', v1, v1.lastRunAt!);
    const doc = stored(state);
    expect(doc.version).toBe(2);
    expect(Array.isArray(doc.minutes) && (doc.minutes as unknown[]).every((x) => Number.isInteger(x))).toBe(true);
    expect(JSON.stringify(doc).length).toBeLessThan(JSON.stringify(v1).length / 2);
    const again = parseState('api', doc, v1.lastRunAt!);
    expect(again.problem).toBeUndefined();
    expect(again.state).toEqual(state);
  });

  it('the next sample steps the same from version 1 as from its version 2 copy', () => {
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
    const fromV2 = stepSample(
      parseState('api', stored(parseState('api', v1, '').state), '').state,
      result,
      ctx,
      history,
    );
    expect(fromV2).toEqual(fromV1);
    expect(fromV1.history).toBeDefined(); // the sample closes the 09:00 hour: the history's part is stepped too
    expect(fromV1.state.minutes.at(-1)).toMatchObject({ t: Math.floor(at / MINUTE) * MINUTE, n: 1, f: 1 });
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
  ])('a damaged minutes array (%s) is refused, and the state reads as unreadable', (_, minutes) => {
    const doc = { ...stored(parseState('api', v1, '').state), minutes };
    const { state, problem } = parseState('api', doc, '2026-11-29T11:00:00Z');
    expect(problem).toMatch(/^state of probe api unreadable \(minutes/);
    expect(state.samples).toBe(0);
  });

  it('the state of another probe, or no version, is refused too', () => {
    const doc = stored(parseState('api', v1, '').state);
    expect(parseState('web', doc, '').problem).toBe(
      'state of probe web unreadable (it is the state of "api"), starting afresh',
    );
    expect(parseState('api', { ...doc, version: 3 }, '').problem).toBe(
      'state of probe api unreadable (version), starting afresh',
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
    expect(state.minutes.slice(-3).map((b) => b.x)).toEqual([3000, 3000, 3000]);
    const doc = stored(state);
    expect(doc.version).toBe(2);
    expect((doc.minutesLargest as number[]).slice(-4)).toEqual([-1, 3000, 3000, 3000]); // -1: kept from version 1
    expect(parseState('api', doc, '').state).toEqual(state);
  });

  it('a version 2 document without them (or with them damaged) still reads, none known: the bucket bounds as before', () => {
    const state = stepped();
    const { minutesLargest: _, ...before } = stored(state);
    for (const doc of [before, { ...before, minutesLargest: [1, 2] }, { ...before, minutesLargest: 'x' }]) {
      const read = parseState('api', doc, '');
      expect(read.problem).toBeUndefined();
      expect(read.state.minutes).toEqual(state.minutes.map(({ x: _x, ...b }) => b));
    }
  });
});

let targets: Targets;
beforeAll(async () => {
  targets = await startTargets();
});
afterAll(async () => targets.close());

describe('through a real run on the file store', () => {
  it('a version 1 document is read and written back as version 2 with the new sample', async () => {
    const store = openStore(`file://${tempDir('mt-probe-v1-')}`);
    await store.writeJson(probeKeys.state('prod', 'api'), v1, { ifGeneration: null });
    const probe = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    const at = new Date(Date.parse(v1.lastRunAt!) + MINUTE);
    const run = await runProbes(store, 'prod', [probe], { all: true, now: () => at });
    expect(run.outcomes[0]!.stateProblem).toBeUndefined();
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    const doc = (await store.readJson(probeKeys.state('prod', 'api')))!.value as Record<string, unknown>;
    expect(doc.version).toBe(2);
    const { state, problem } = parseState('api', doc, at.toISOString());
    expect(problem).toBeUndefined();
    expect(state.samples).toBe(v1.samples + 1);
    expect(state.minutes.slice(0, -1)).toEqual(
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
    const seen = state.recent.map((r) => r.latencyMs!);
    expect(seen).toHaveLength(3);
    expect(Math.min(...seen)).toBeGreaterThan(300);
    // before, the bound of the bucket they fell in (500 ms unless the machine is very slow) was shown
    const summary = summarize(probe, state, new Date(t0 + 3 * MINUTE));
    expect(summary.uptime['1h'].p95).toBe(Math.floor(Math.max(...seen)));
    expect(summary.uptime['24h'].p95).toBe(Math.floor(Math.max(...seen)));
  });

  it('a damaged document: the run says so in one line and starts the probe afresh, as before', async () => {
    const store = openStore(`file://${tempDir('mt-probe-damaged-')}`);
    const doc = { ...stored(parseState('api', v1, '').state), minutes: [29_000_000, 1, 5, 0, 0] };
    await store.writeJson(probeKeys.state('prod', 'api'), doc, { ifGeneration: null });
    const probe = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    const run = await runProbes(store, 'prod', [probe], { all: true });
    expect(run.outcomes[0]!.stateProblem).toBe(
      'state of probe api unreadable (minutes: bucket 0: more failures than samples), starting afresh',
    );
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    const after = parseState('api', (await store.readJson(probeKeys.state('prod', 'api')))!.value, '');
    expect(after.problem).toBeUndefined();
    expect(after.state.samples).toBe(1);
  });
});
