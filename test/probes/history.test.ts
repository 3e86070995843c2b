/**
 * The probe state in two documents (shared/probes/history.ts): the hot one written at every sample, the hourly history
 * only when an hour closes. The split must not change a single figure: the pure steps are checked against the
 * one-document step (recordSample) sample by sample; then through real runs on the file store: an old one-document
 * state still reads and moves its closed hours out, and two runs that close the same hour at once lose nothing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTargets, type Targets } from '../support/probe-targets';
import { tempDir } from '../support/temp';
import { asVersion1, probeHistory } from '../support/status-history';
import { ProbeSchema } from '../../shared/probes/config';
import { planProbes, readState, summarize } from '../../shared/probes/plan';
import { runPlanned, runProbes } from '../../shared/probes/run';
import {
  emptyState,
  parseState,
  probeKeys,
  recordSample,
  stateDocument,
  stepSample,
  type ProbeState,
} from '../../shared/probes/state';
import { addLate, historyKey, needsHistory, withHistory } from '../../shared/probes/history';
import { HOUR, MINUTE, type Bucket } from '../../shared/probes/slo';
import type { ProbeResult } from '../../shared/probes/rules';
import { openStore } from '../../shared/storage/open';

const ctx = { env: 'prod', objective: 99.9, intervalSeconds: 60, failureThreshold: 3, successThreshold: 2 };
const T0 = Date.parse('2026-11-01T00:00:00Z');

function sample(at: number, ok: boolean, latencyMs = 40): ProbeResult {
  return {
    probe: 'api',
    kind: 'http',
    at: new Date(at).toISOString(),
    ok,
    availabilityFailure: !ok,
    failed: ok ? [] : [{ condition: '[STATUS] == 200', severity: 'critical', message: 'got 503' }],
    status: ok ? 200 : 503,
    latencyMs,
  };
}

describe('the split steps, against the one-document step', () => {
  it('every sample gives the same figures, and the whole state reads the same, while the hot document keeps two or three hours', () => {
    // 5 days, one sample a minute with failing stretches and gaps (the prober down), then one sample 90 minutes late
    const times: number[] = [];
    for (let m = 0; m < 5 * 24 * 60; m++) if (m % 600 < 540 || m % 7 === 0) times.push(T0 + m * MINUTE + 1_000);
    let one: ProbeState = emptyState('api', new Date(T0).toISOString());
    let hot: ProbeState = emptyState('api', new Date(T0).toISOString());
    let history: Bucket[] = [];
    let reads = 0;
    const step = (r: ProbeResult, late: boolean) => {
      const a = recordSample(one, r, ctx);
      const at = Date.parse(r.at);
      const needed = needsHistory(hot, at);
      if (needed) reads++;
      const b = stepSample(hot, r, ctx, needed ? history : undefined);
      if (b.history) history = b.history;
      if (b.late) history = addLate(history, [b.late]);
      one = a.state;
      // the hot document as a run stores and reads it back (version 2: the minutes compact)
      const stored = parseState('api', JSON.parse(JSON.stringify(stateDocument(b.state))), r.at);
      expect(stored.problem).toBeUndefined();
      expect(stored.state).toEqual(b.state);
      hot = stored.state;
      if (!late) {
        expect(b.state.burn, r.at).toEqual(a.state.burn);
        expect(b.state.budgetLeft, r.at).toEqual(a.state.budgetLeft);
      }
      expect(b.state.status).toBe(a.state.status);
      expect(b.transition).toEqual(a.transition);
      expect(b.slo?.change).toEqual(a.slo?.change);
      expect(hot.hours.length).toBeLessThanOrEqual(3);
    };
    times.forEach((t, i) => step(sample(t, !(i % 97 < 9 || (i > 4000 && i < 4060))), false));
    expect(one.sloIncident ?? one.incident).toBeDefined(); // the sequence does raise alerts: they matched
    step(sample(times.at(-1)! - 90 * MINUTE, false), true);
    const whole = withHistory(hot, history);
    const { past: _past, historyThrough: _through, ...rest } = whole;
    expect(rest).toEqual(one);
    // about once an hour, not at every sample
    expect(reads).toBeLessThan(5 * 24 * 2);
    // the hot document is the one document less its hours (bar two or three, and the closed hours' two sums)
    expect(JSON.stringify(hot).length).toBeLessThan(
      JSON.stringify({ ...one, hours: one.hours.slice(-3) }).length + 1_000,
    );
  });
});

let targets: Targets;
beforeAll(async () => {
  targets = await startTargets();
});
afterAll(async () => targets.close());

describe('through real runs on the file store', () => {
  it('an old one-document state (90 days of hours) still reads; its next sample moves the closed hours to the history', async () => {
    const root = tempDir('mt-probe-history-');
    const store = openStore(`file://${root}`);
    const now = new Date('2026-11-29T10:20:00Z');
    const old = { ...probeHistory({ name: 'api', now, hour: (t) => ({ n: 60, f: t % (24 * HOUR) === 0 ? 6 : 0 }) }) };
    expect(old.historyThrough).toBeUndefined(); // the one-document layout
    // as version 1 wrote it (the minutes as bucket objects)
    await store.writeJson(probeKeys.state('prod', 'api'), asVersion1(old), { ifGeneration: null });
    const config = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    // read as it was written
    const before = await readState(store, 'prod', 'api', now.toISOString());
    expect(before.problem).toBeUndefined();
    expect(before.state.hours).toEqual(old.hours);
    const at = new Date(now.getTime() + 60_000);
    const run = await runProbes(store, 'prod', [config], { all: true, now: () => at });
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    const hot = (await store.readJson(probeKeys.state('prod', 'api')))!.value as ProbeState;
    expect(hot.historyThrough).toBe(Date.parse('2026-11-29T08:00:00Z'));
    expect(hot.hours.map((b) => new Date(b.t).toISOString())).toEqual([
      '2026-11-29T09:00:00.000Z',
      '2026-11-29T10:00:00.000Z',
    ]);
    const history = (await store.readJson(historyKey('prod', 'api')))!.value as { hours: Bucket[] };
    expect(history.hours).toEqual(old.hours.filter((b) => b.t < Date.parse('2026-11-29T09:00:00Z')));
    // the whole state: the old hours, the new sample in the current one; the same uptime as one document would give
    const after = await readState(store, 'prod', 'api', at.toISOString());
    const n = (s: ProbeState) => s.hours.reduce((a, b) => a + b.n, 0);
    expect(n(after.state)).toBe(n(old) + 1);
    const oneDocument = recordSample(old, run.outcomes[0]!.result, {
      ...ctx,
      intervalSeconds: config.intervalSeconds,
    }).state;
    expect(summarize(config, after.state, at).uptime).toEqual(summarize(config, oneDocument, at).uptime);
    expect(hot.budgetLeft).toEqual(oneDocument.budgetLeft);
    expect(hot.burn).toEqual(oneDocument.burn);
  });

  it('an unreadable history starts afresh and the run says so, as an unreadable state does', async () => {
    const store = openStore(`file://${tempDir('mt-probe-history-bad-')}`);
    const now = new Date('2026-11-29T10:20:00Z');
    await store.writeJson(probeKeys.state('prod', 'api'), stateDocument(probeHistory({ name: 'api', now })), {
      ifGeneration: null,
    });
    const config = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    await runProbes(store, 'prod', [config], { all: true, now: () => new Date('2026-11-29T10:21:00Z') });
    const doc = await store.readJson(historyKey('prod', 'api'));
    await store.writeJson(historyKey('prod', 'api'), { not: 'a history' }, { ifGeneration: doc!.generation });
    // 11:05: the 09:00 hour closes, so the history is read
    const run = await runProbes(store, 'prod', [config], { all: true, now: () => new Date('2026-11-29T11:05:00Z') });
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    expect(run.outcomes[0]!.stateProblem).toBe('hourly history of probe api unreadable, starting afresh');
    const history = (await store.readJson(historyKey('prod', 'api')))!.value as { hours: Bucket[] };
    expect(history.hours.map((b) => new Date(b.t).toISOString())).toEqual(['2026-11-29T09:00:00.000Z']);
  });

  it('a history that is not JSON at all (cut short) starts afresh too, instead of failing every run', async () => {
    const root = tempDir('mt-probe-history-notjson-');
    const store = openStore(`file://${root}`);
    await store.writeJson(
      probeKeys.state('prod', 'api'),
      stateDocument(probeHistory({ name: 'api', now: new Date('2026-11-29T10:20:00Z') })),
      {
        ifGeneration: null,
      },
    );
    const config = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    await runProbes(store, 'prod', [config], { all: true, now: () => new Date('2026-11-29T10:21:00Z') });
    writeFileSync(join(root, historyKey('prod', 'api')), '{"version":1,"probe":"api","hours":[{"t":');
    const run = await runProbes(store, 'prod', [config], { all: true, now: () => new Date('2026-11-29T11:05:00Z') });
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    expect(run.outcomes[0]!.stateProblem).toBe('hourly history of probe api unreadable, starting afresh');
    const history = (await store.readJson(historyKey('prod', 'api')))!.value as { hours: Bucket[] };
    expect(history.hours.map((b) => new Date(b.t).toISOString())).toEqual(['2026-11-29T09:00:00.000Z']);
  });

  it('two runs that close the same hour at once: the history holds it once, and both samples are counted', async () => {
    const store = openStore(`file://${tempDir('mt-probe-history-race-')}`);
    const config = ProbeSchema.parse({ name: 'api', url: `${targets.url}/health` });
    // an hour of samples (07:00-07:59), then one at 08:05: the 07:00 hour is still open (the previous hour)
    const seeded: number[] = [];
    for (let m = 0; m < 60; m++) seeded.push(Date.parse('2026-11-29T07:00:30Z') + m * MINUTE);
    seeded.push(Date.parse('2026-11-29T08:05:30Z'));
    for (const t of seeded) await runProbes(store, 'prod', [config], { all: true, now: () => new Date(t) });
    let hot = (await store.readJson(probeKeys.state('prod', 'api')))!.value as ProbeState;
    expect(hot.hours.map((b) => [new Date(b.t).toISOString().slice(11, 16), b.n])).toEqual([
      ['07:00', 60],
      ['08:00', 1],
    ]);
    expect(await store.readJson(historyKey('prod', 'api'))).toBeUndefined();
    // at 09:00:30 the 07:00 hour closes: two runs planned from the same document both close it
    const at = () => new Date('2026-11-29T09:00:30Z');
    const plan1 = await planProbes(store, 'prod', [config], { all: true, now: at() });
    const plan2 = await planProbes(store, 'prod', [config], { all: true, now: at() });
    const [a, b] = await Promise.all([
      runPlanned(store, 'prod', plan1, { now: at }),
      runPlanned(store, 'prod', plan2, { now: at }),
    ]);
    expect([a, b].map((r) => r.outcomes[0]!.writeError)).toEqual([undefined, undefined]);
    hot = (await store.readJson(probeKeys.state('prod', 'api')))!.value as ProbeState;
    const history = (await store.readJson(historyKey('prod', 'api')))!.value as { hours: Bucket[] };
    expect(history.hours.map((h) => [new Date(h.t).toISOString().slice(11, 16), h.n])).toEqual([['07:00', 60]]);
    expect(hot.hours.map((h) => [new Date(h.t).toISOString().slice(11, 16), h.n])).toEqual([
      ['08:00', 1],
      ['09:00', 2],
    ]);
    const whole = (await readState(store, 'prod', 'api', at().toISOString())).state;
    expect(whole.samples).toBe(63);
    expect(whole.hours.reduce((s, h) => s + h.n, 0)).toBe(63);
  });
});
