/** The pure rules: thresholds and transitions, the SLO maths on synthetic histories, the bounded state document. */
import { describe, it, expect } from 'vitest';
import { recordSample, emptyState, lastResult, type ProbeState } from '../../shared/probes/state';
import {
  addToBuckets,
  burnAlert,
  budgetLeft,
  formatBudgetLeft,
  quantile,
  uptimeOver,
  MINUTE,
  HOUR,
  MINUTE_BUCKETS,
  HOUR_BUCKETS,
  type Bucket,
} from '../../shared/probes/slo';
import type { ProbeResult } from '../../shared/probes/rules';
import { alertEvents } from '../../shared/probes/report';
import { ProbeSchema } from '../../shared/probes/config';

const T0 = Date.parse('2026-11-29T00:00:00Z');
const result = (i: number, ok: boolean, severity: 'critical' | 'warning' = 'critical'): ProbeResult => ({
  probe: 'api',
  kind: 'http',
  at: new Date(T0 + i * MINUTE).toISOString(),
  ok,
  severity: ok ? undefined : severity,
  availabilityFailure: !ok && severity === 'critical',
  status: ok ? 200 : 503,
  latencyMs: 40,
  failed: ok ? [] : [{ condition: '[STATUS] == 200', severity, message: '[STATUS] == 200: got 503' }],
});
const ctx = { env: 'prod', objective: 99.9, intervalSeconds: 60, failureThreshold: 3, successThreshold: 2 };

/** Feeds a pattern (`F` failed, `.` ok, `W` failed at warning, `M` ok in maintenance, `X` failed in maintenance) and returns what happened at each sample. */
function feed(pattern: string, context = ctx): { state: ProbeState; log: string[] } {
  let state = emptyState('api', new Date(T0).toISOString());
  const log: string[] = [];
  [...pattern].forEach((ch, i) => {
    const r = result(i, ch === '.' || ch === 'M', ch === 'W' ? 'warning' : 'critical');
    const recorded = recordSample(state, r, {
      ...context,
      maintenance: ch === 'M' || ch === 'X' ? 'monthly' : undefined,
    });
    state = recorded.state;
    const t = recorded.transition;
    log.push(
      t
        ? `${i}:${t.kind}${t.kind === 'fire' ? `:${t.incident.severity}${t.escalated ? ':escalated' : ''}` : ''}`
        : `${i}:${state.status}`,
    );
  });
  return { state, log };
}
const transitions = (log: string[]) => log.filter((l) => /fire|resolve/.test(l));

describe('thresholds and transitions (failureThreshold 3, successThreshold 2)', () => {
  it.each<[string, string, string[]]>([
    ['all good: nothing published', '.....', []],
    ['two failures: below the threshold, nothing', '..FF..', []],
    ['three failures fire once, however long it stays down', '.FFFFFFF', ['3:fire:critical']],
    ['then two good samples resolve', '.FFF..', ['3:fire:critical', '5:resolve']],
    ['one good sample is not enough to resolve', '.FFF.F.F', ['3:fire:critical']],
    ['flapping never fires', 'F.F.F.F.FF.FF.', []],
    ['flapping while down never resolves', 'FFF.F.F.F.F', ['2:fire:critical']],
    ['a second incident after recovery fires again', 'FFF..FFF', ['2:fire:critical', '4:resolve', '7:fire:critical']],
    [
      'warnings, then availability failing failureThreshold times in a row, escalate the same incident',
      'WWWWFFF',
      ['2:fire:warning', '6:fire:critical:escalated'],
    ],
    // a tester's page: a certificate warning going on, then one 503 paged critical ("3 consecutive failed probes")
    ['a single availability failure amid a warning incident pages no one', 'WWWFWWW', ['2:fire:warning']],
    [
      'escalated by an outage, resolved when availability is back, though the warning goes on; the warning fires again on its own after it',
      'WWWFFFWWWWW',
      ['2:fire:warning', '5:fire:critical:escalated', '7:resolve', '10:fire:warning'],
    ],
    [
      'an outage that ends while a warning goes on: resolved (it stayed down for good before)',
      'FFFWWWWW',
      ['2:fire:critical', '4:resolve', '7:fire:warning'],
    ],
    [
      'a warning incident resolves after successThreshold samples passing every condition',
      'WWW.W..',
      ['2:fire:warning', '6:resolve'],
    ],
    ['failures inside maintenance move no streak and raise nothing', 'XXXXXX', []],
    ['maintenance between failures: the streak continues after it', 'FFXXF', ['4:fire:critical']],
  ])('%s: %s', (_name, pattern, expected) => {
    expect(transitions(feed(pattern).log)).toEqual(expected);
  });

  it('the state goes unknown -> up -> down -> maintenance -> down -> up, with since set on each change', () => {
    const { log } = feed('.FFFXF..');
    expect(log).toEqual(['0:up', '1:up', '2:up', '3:fire:critical', '4:maintenance', '5:down', '6:down', '7:resolve']);
  });

  it.each<[string, string, string[]]>([
    // W: a failed warning condition on a critical probe (the target answers: not an availability failure)
    ['lesser failures fire at their severity while the probe stays up', 'WWW..', ['up', 'up', 'up', 'up', 'up']],
    [
      'an incident of availability: down until availability is back, lesser failures or not',
      'FFFW.W.',
      ['unknown', 'unknown', 'down', 'down', 'up', 'up', 'up'],
    ],
    ['one availability failure amid a warning incident: still up', 'WWWF', ['up', 'up', 'up', 'up']],
    [
      'a warning incident escalated by failureThreshold availability failures goes down',
      'WWWFFF',
      ['up', 'up', 'up', 'up', 'up', 'down'],
    ],
    // after a window: unknown until the samples decide
    [
      'failures after a window: unknown below the threshold, then down',
      'XXFFF',
      ['maintenance', 'maintenance', 'unknown', 'unknown', 'down'],
    ],
    ['a good sample after a window: up', 'XX.', ['maintenance', 'maintenance', 'up']],
    [
      'an incident open across a window: unknown on a good sample, up at the resolve',
      'FFFXX..',
      ['unknown', 'unknown', 'down', 'maintenance', 'maintenance', 'unknown', 'up'],
    ],
    [
      'an incident open across a window: down at once on a failure',
      'FFFX.F',
      ['unknown', 'unknown', 'down', 'maintenance', 'unknown', 'down'],
    ],
  ])('status: %s (%s)', (_name, pattern, expected) => {
    let state = emptyState('api', new Date(T0).toISOString());
    const statuses = [...pattern].map((ch, i) => {
      const r = result(i, ch === '.' || ch === 'M', ch === 'W' ? 'warning' : 'critical');
      state = recordSample(state, r, { ...ctx, maintenance: ch === 'M' || ch === 'X' ? 'monthly' : undefined }).state;
      return state.status;
    });
    expect(statuses).toEqual(expected);
  });

  it('the incident starts with the first failure of the streak; the resolve ends it', () => {
    let state = emptyState('api', new Date(T0).toISOString());
    const events: string[] = [];
    [...'.FFF..'].forEach((ch, i) => {
      const r = recordSample(state, result(i, ch === '.'), ctx);
      state = r.state;
      if (r.transition?.kind === 'fire')
        events.push(`fire ${r.transition.incident.fingerprint} from ${r.transition.incident.startsAt}`);
      if (r.transition?.kind === 'resolve') events.push(`resolve at ${r.transition.endsAt}`);
    });
    expect(events).toEqual([
      'fire probe/prod/api from 2026-11-29T00:01:00.000Z',
      'resolve at 2026-11-29T00:05:00.000Z',
    ]);
  });

  it('a seeded random history never publishes two fires in a row without a resolve between (escalation aside), nor a resolve without a fire', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let run = 0; run < 50; run++) {
      const pattern = Array.from({ length: 200 }, () => (random() < 0.4 ? 'F' : random() < 0.05 ? 'M' : '.')).join('');
      let open = false;
      for (const t of transitions(feed(pattern).log)) {
        if (t.includes('resolve')) {
          expect(open, pattern).toBe(true);
          open = false;
        } else {
          expect(open, pattern).toBe(false);
          open = true;
        }
      }
    }
  });

  it('the document stays bounded: 20 recent results, 6 h of minutes, 90 days of hours', () => {
    let state = emptyState('api', new Date(T0).toISOString());
    for (let i = 0; i < 2000; i++)
      state = recordSample(
        state,
        { ...result(i, i % 7 !== 0), at: new Date(T0 + i * 3 * HOUR).toISOString() },
        ctx,
      ).state;
    expect(state.recent).toHaveLength(20);
    expect(state.minutes.size).toBeLessThanOrEqual(MINUTE_BUCKETS);
    expect(state.hours.length).toBeLessThanOrEqual(HOUR_BUCKETS);
    expect(state.hours[0]!.t).toBeGreaterThanOrEqual(T0 + 1999 * 3 * HOUR - 90 * 24 * HOUR);
    expect(JSON.stringify(state).length).toBeLessThan(200_000);
  });

  it('the recent results stay in time order when a sample lands late (a concurrent run), the newest 20 kept', () => {
    let state = emptyState('api', new Date(T0).toISOString());
    const at = (i: number) => new Date(T0 + i * 60_000).toISOString();
    for (const i of [0, 1, 2, 4, 5]) state = recordSample(state, { ...result(i, true), at: at(i) }, ctx).state;
    state = recordSample(state, { ...result(3, false), at: at(3) }, ctx).state; // taken before 4 and 5, landed after
    const seen = () => state.recent.map((t) => (JSON.parse(t) as { at: string }).at);
    expect(seen()).toEqual([0, 1, 2, 3, 4, 5].map(at));
    expect(lastResult(state)?.at).toBe(at(5));
    for (let i = 6; i < 30; i++) state = recordSample(state, { ...result(i, true), at: at(i) }, ctx).state;
    // kept: minutes 10-29; a late second sample of minute 15 goes in beside it, and minute 10 makes room
    state = recordSample(state, { ...result(15, false), at: at(15) }, ctx).state;
    const kept = [11, 12, 13, 14, 15, 15, ...Array.from({ length: 14 }, (_, k) => 16 + k)].map(at);
    expect(seen()).toEqual(kept);
    state = recordSample(state, { ...result(1, false), at: at(1) }, ctx).state; // older than every kept one: dropped
    expect(seen()).toEqual(kept);
  });
});

/** A history: `minutes` samples one a minute ending at `now`, the failing ones chosen by `fails(i)` (i = minutes before now). */
function history(
  minutes: number,
  now: number,
  fails: (ago: number) => boolean,
  maintenance: (ago: number) => boolean = () => false,
) {
  let m: Bucket[] = [];
  let h: Bucket[] = [];
  for (let ago = minutes - 1; ago >= 0; ago--) {
    const f = fails(ago);
    const s = {
      at: now - ago * MINUTE,
      ok: !f,
      availabilityFailure: f,
      maintenance: maintenance(ago),
      latencyMs: f ? 900 : 40,
    };
    m = addToBuckets(m, s, MINUTE, MINUTE_BUCKETS);
    h = addToBuckets(h, s, HOUR, HOUR_BUCKETS);
  }
  return { minutes: m, hours: h, firstSampleAt: now - (minutes - 1) * MINUTE };
}

describe('SLO maths on synthetic histories (objective 99.9%)', () => {
  const now = Date.parse('2026-11-29T12:00:30Z');

  it.each<[string, ReturnType<typeof history>, 'critical' | 'warning' | 'none', RegExp?]>([
    ['all good for 4 days', history(4 * 1440, now, () => false), 'none'],
    [
      'down for the last 10 minutes: fast burn over 1 h and 5 min pages',
      history(4 * 1440, now, (ago) => ago < 10),
      'critical',
      /over 1h and .* over 5m \(> 14\.4\)/,
    ],
    [
      'down for 10 minutes, an hour ago, now fine: the 5-minute window stops the page (the 3 d / 6 h pair still warns)',
      history(4 * 1440, now, (ago) => ago >= 60 && ago < 70),
      'warning',
      /over 3d/,
    ],
    [
      '2% errors for 6 hours (burn 20 over 6 h): pages through the 6 h / 30 min pair',
      history(4 * 1440, now, (ago) => ago < 360 && ago % 50 === 25),
      'critical',
      /over 6h and .* over 30m \(> 6\)/,
    ],
    [
      '0.2% errors for 3 days (burn 2): a warning through 3 d / 6 h',
      history(4 * 1440, now, (ago) => ago < 3 * 1440 && ago % 500 === 250),
      'warning',
      /over 3d and .* over 6h \(> 1\)/,
    ],
    ['0.05% errors (burn 0.5): within budget', history(4 * 1440, now, (ago) => ago % 2000 === 1000), 'none'],
  ])('%s', (_name, agg, level, reason) => {
    const alert = burnAlert(agg, now, 99.9);
    expect(alert.level).toBe(level);
    if (reason) expect(alert.reason).toMatch(reason);
  });

  it.each<[string, ReturnType<typeof history>, number, number | undefined, number | undefined, number?]>([
    // [name, history, window, uptime, unknown, read at (default: at the last sample)]
    ['all good for 2 days: 100% over 24 h', history(2 * 1440, now, () => false), 24 * HOUR, 1, 0],
    // the 24 h window is whole hour buckets: 12:00:30 back to 13:00 yesterday, 1381 samples, 24 of them failed (minutes 0, 60, ... 1380 ago)
    [
      'one failure an hour in the last 24 h',
      history(2 * 1440, now, (ago) => ago % 60 === 0),
      24 * HOUR,
      1 - 24 / 1381,
      0,
    ],
    [
      'only one hour of samples, asked for 24 h: counted from the first sample',
      history(60, now, () => false),
      24 * HOUR,
      1,
      0,
    ],
    // samples at :30 up to 12:59:30, read at 13:00:10: the window (14:00 yesterday to now) holds 1380 samples, every one
    // the schedule took in it (14:00:30 ... 12:59:30); the status page reads at any time, not just after a sample
    [
      'all good, read between two samples: still 100% over 24 h',
      history(2 * 1440, now + 59 * MINUTE, () => false),
      24 * HOUR,
      1,
      0,
      now + 59 * MINUTE + 40_000,
    ],
  ])('uptime: %s', (_name, agg, window, uptime, unknown, at = now) => {
    const u = uptimeOver(agg, window, at, 60);
    expect(u.uptime).toBeCloseTo(uptime!, 6);
    expect(u.unknown).toBeCloseTo(unknown!, 6);
  });

  it('time with no samples counts as unknown, never as up', () => {
    const agg = history(120, now, () => false);
    // drop the samples of the last 30 minutes' buckets: the prober was down
    const gap = { ...agg, minutes: agg.minutes.filter((b) => b.t < now - 30 * MINUTE), hours: agg.hours };
    const u = uptimeOver(gap, HOUR, now, 60);
    expect(u.uptime!).toBeCloseTo(30 / 60, 1);
    expect(u.unknown!).toBeCloseTo(30 / 60, 1);
  });

  it('an intermittent failure (one sample in 20 minutes, never 3 in a row) opens the SLO incident once and resolves it once, an hour after it stops', () => {
    let state = emptyState('api', new Date(T0).toISOString());
    const changes: string[] = [];
    const probeTransitions: string[] = [];
    // 3 hours failing one sample in 20, then 2 hours good (60 s interval)
    for (let i = 0; i < 300; i++) {
      const recorded = recordSample(state, result(i, !(i < 180 && i > 0 && i % 20 === 0)), ctx);
      state = recorded.state;
      if (recorded.transition) probeTransitions.push(recorded.transition.kind);
      if (recorded.slo) changes.push(`${i}:${recorded.slo.change}:${recorded.slo.incident.severity}`);
    }
    expect(probeTransitions).toEqual([]); // never failureThreshold in a row
    // fires once the hour holds failureThreshold (3) failed samples (minute 60: a burn of 50x); the last failure is at
    // minute 160, out of the last hour at 220: resolved then, not at each clean 5-minute window in between
    expect(changes).toEqual(['60:fire:critical', '221:resolve:critical']);
  });

  // the workbook's remedy for a service with little traffic: a rule needs failureThreshold failed samples in its long
  // window (at 60 samples an hour, one failed sample is a burn of 16.7x over the hour and 200x over 5 minutes)
  it.each<[string, (ago: number) => boolean, number, 'critical' | 'warning' | 'none']>([
    ['one failed sample, just now, failureThreshold 3: no page', (ago) => ago === 0, 3, 'none'],
    ['the same with failureThreshold 1: the fast rule pages', (ago) => ago === 0, 1, 'critical'],
    [
      'two failed samples in the hour, one just now, failureThreshold 3: no page',
      (ago) => ago === 0 || ago === 40,
      3,
      'none',
    ],
    [
      'three failed samples in the hour, one just now, failureThreshold 3: pages',
      (ago) => ago === 0 || ago === 20 || ago === 40,
      3,
      'critical',
    ],
    ['down for the last 3 minutes, failureThreshold 3: pages', (ago) => ago < 3, 3, 'critical'],
    [
      'six failures over 3 days, one in the last 6 hours (burn 1.4 and 2.8): too few for failureThreshold 7',
      (ago) => ago % 720 === 100,
      7,
      'none',
    ],
    ['the same, failureThreshold 3: warns', (ago) => ago % 720 === 100, 3, 'warning'],
  ])('a burn rule needs failureThreshold failed samples in its long window: %s', (_name, fails, threshold, level) => {
    expect(burnAlert(history(4 * 1440, now, fails), now, 99.9, 60, threshold).level).toBe(level);
  });

  it("a new probe's first failures burn no budget alert: the long window must be half covered first", () => {
    expect(
      burnAlert(
        history(10, now, () => true),
        now,
        99.9,
      ).level,
    ).toBe('none');
    expect(
      burnAlert(
        history(31, now, (ago) => ago < 10),
        now,
        99.9,
      ).level,
    ).toBe('critical'); // 31 of 60 samples in the last hour
  });

  it('maintenance samples are excluded from uptime and from the error budget', () => {
    const agg = history(
      1440,
      now,
      (ago) => ago < 120,
      (ago) => ago < 120,
    );
    expect(uptimeOver(agg, 24 * HOUR, now, 60)).toMatchObject({ uptime: 1, maintenance: 120, failures: 0 });
    expect(budgetLeft(agg, now, 99.9, 60)).toBe(1);
    expect(burnAlert(agg, now, 99.9).level).toBe('none');
  });

  // SRE workbook: remaining = 1 - bad / allowed, allowed = (1 - objective) x the events of the whole 30-day window; a
  // probe's events are its schedule (43,200 at 60 s), or the samples taken when more were
  it.each<[string, number, number, (ago: number) => boolean, number, number]>([
    ['no errors', 10_000, 60, () => false, 99, 1],
    ['half the budget (216 of 432 allowed at 99%)', 10_000, 60, (ago) => ago < 2160 && ago % 10 === 0, 99, 0.5],
    ['the whole budget', 10_000, 60, (ago) => ago < 4320 && ago % 10 === 0, 99, 0],
    ['overspent twice over', 10_000, 60, (ago) => ago < 8640 && ago % 10 === 0, 99, -1],
    ['a new probe, 3 failures in 4 samples at 99.9% (was -749)', 4, 60, (ago) => ago < 3, 99.9, 1 - 3 / 43.2],
    ['more samples than the schedule takes (hourly, 10,000 taken): those', 10_000, 3600, (ago) => ago < 50, 99, 0.5],
  ])('error budget left over 30 days: %s', (_name, samples, interval, fails, objective, left) => {
    const agg = history(samples, now, fails);
    expect(budgetLeft(agg, now, objective, interval)).toBeCloseTo(left, 6);
  });

  it.each<[number | undefined, string]>([
    [undefined, '-'],
    [1, '100.00%'],
    [1 - 3 / 43.2, '93.06%'],
    [0, '0.00%'],
    [-0.31, 'exhausted (1.3x spent)'],
    [-1, 'exhausted (2.0x spent)'],
    [-749, 'exhausted (750x spent)'],
  ])('the budget left %s is shown as %s', (left, shown) => expect(formatBudgetLeft(left)).toBe(shown));

  it.each<[string, number[], number, number | undefined]>([
    ['empty', [], 0.95, undefined],
    ['all in the 50 ms bucket', [0, 0, 0, 10], 0.95, 50],
    ['p95 in the tail', [0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0, 10], 0.95, 1000],
    ['p50 before the tail', [0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0, 10], 0.5, 50],
    ['beyond the last bound', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5], 0.99, Infinity],
  ])('quantile: %s', (_name, h, q, expected) => expect(quantile(h, q)).toBe(expected));

  // A percentile from a bucketed histogram is at most the largest latency observed: a hanging target probed with
  // timeoutMs 3000 has every sample at about 3001 ms, in the bucket up to 5000 ms, and was shown as 'p95 5000 ms'.
  const at = (index: number, count: number) => Object.assign(new Array<number>(index + 1).fill(0), { [index]: count });
  it.each<[string, number[], number, number | undefined, number | undefined]>([
    ['a hanging target (timeout 3000 ms): the largest, not the 5000 ms bound', at(13, 20), 0.95, 3001, 3001],
    ["the largest below its bucket's bound", [0, 0, 0, 10], 0.95, 42, 42],
    ["a quantile below the largest one's bucket: its own bound", [0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0, 10], 0.5, 900, 50],
    ['p95 in the tail: the largest', [0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0, 10], 0.95, 870, 870],
    ['the largest on the bound', [0, 0, 0, 10], 0.95, 50, 50],
    ['beyond the last bound, the largest known', at(15, 5), 0.99, 12_345, 12_345],
    ['the largest not known (kept from before): the bound', at(13, 20), 0.95, undefined, 5000],
    ['beyond the last bound, the largest not known', at(15, 5), 0.99, undefined, Infinity],
    ['empty', [], 0.95, 3001, undefined],
  ])('quantile bounded by the largest: %s', (_name, h, q, largest, expected) =>
    expect(quantile(h, q, largest)).toBe(expected),
  );

  it('p95 over buckets of a hanging target probed with a 3000 ms timeout is the largest sample, in every window', () => {
    let minutes: Bucket[] = [];
    let hours: Bucket[] = [];
    for (let i = 0; i < 120; i++) {
      const sample = { at: T0 + i * MINUTE, ok: false, availabilityFailure: true, maintenance: false };
      const latencyMs = i === 7 ? 3003 : 3000 + (i % 2);
      minutes = addToBuckets(minutes, { ...sample, latencyMs }, MINUTE, MINUTE_BUCKETS);
      hours = addToBuckets(hours, { ...sample, latencyMs }, HOUR, HOUR_BUCKETS);
    }
    const agg = { minutes, hours, firstSampleAt: T0 };
    const now = T0 + 120 * MINUTE;
    expect(uptimeOver(agg, HOUR, now, 60)).toMatchObject({ p50: 3001, p95: 3001, p99: 3001 });
    expect(uptimeOver(agg, 24 * HOUR, now, 60)).toMatchObject({ p50: 3003, p95: 3003 });
    // an hour kept from before the largest was recorded: its largest is not known, so the bound it was
    const old = { ...hours[0]!, x: undefined };
    expect(uptimeOver({ ...agg, hours: [old, hours[1]!] }, 24 * HOUR, now, 60).p95).toBe(5000);
  });
});

describe('addToBuckets', () => {
  /** The plain definition: copy everything, add, keep the newest `limit` within the span. */
  function reference(
    buckets: readonly Bucket[],
    s: { at: number; ok: boolean; availabilityFailure: boolean; maintenance: boolean; latencyMs?: number },
    size: number,
    limit: number,
  ): Bucket[] {
    const t = Math.floor(s.at / size) * size;
    const out = buckets.map((b) => ({ ...b, h: [...b.h] }));
    let b = out.find((x) => x.t === t);
    if (!b) {
      b = { t, n: 0, f: 0, m: 0, h: [] };
      out.push(b);
      out.sort((x, y) => x.t - y.t);
    }
    if (s.maintenance) b.m++;
    else {
      b.n++;
      if (s.availabilityFailure) b.f++;
      if (s.latencyMs !== undefined) {
        const i = [5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000].findIndex(
          (x) => s.latencyMs! <= x,
        );
        const k = i === -1 ? 15 : i;
        while (b.h.length <= k) b.h.push(0);
        b.h[k]!++;
        b.x = Math.max(b.x ?? 0, Math.floor(s.latencyMs)); // the largest latency, whole ms
      }
    }
    return out.filter((x) => x.t >= t - (limit - 1) * size).slice(-limit);
  }

  it('matches the plain definition over 3,000 samples (mostly in order, some late, some far apart), never changing its input', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let ours: Bucket[] = [];
    let plain: Bucket[] = [];
    let at = T0;
    for (let i = 0; i < 3000; i++) {
      at += rnd() < 0.02 ? 40 * MINUTE : rnd() * 50_000;
      const when = rnd() < 0.1 ? at - rnd() * 30 * MINUTE : at; // a late sample now and then
      const s = {
        at: when,
        ok: rnd() > 0.1,
        availabilityFailure: rnd() < 0.1,
        maintenance: rnd() < 0.05,
        latencyMs: rnd() < 0.9 ? rnd() * 3000 : undefined,
      };
      const before = JSON.stringify(ours);
      const next = addToBuckets(ours, s, MINUTE, 30);
      expect(JSON.stringify(ours)).toBe(before);
      ours = next;
      plain = reference(plain, s, MINUTE, 30);
      expect(ours).toEqual(plain);
    }
  });
});

describe('the alert a transition publishes (report.ts)', () => {
  const config = ProbeSchema.parse({ name: 'api', url: 'https://api.example/health' });
  const fire = (r: ProbeResult) =>
    alertEvents(
      'prod',
      config,
      {
        name: 'api',
        result: r,
        transition: {
          kind: 'fire',
          incident: { fingerprint: 'probe/prod/api', severity: r.severity!, startsAt: r.at },
          result: r,
          escalated: false,
        },
      },
      r.at,
    )[0] as { title: string; severity: string };

  it('a failure that counts against availability: the probe is down', () => {
    expect(fire(result(3, false))).toMatchObject({ title: 'api is down', severity: 'critical' });
  });

  it('a lesser failure (the target answers): the check it fails, not down', () => {
    const r: ProbeResult = {
      ...result(3, false, 'warning'),
      failed: [
        {
          condition: '[CERTIFICATE_EXPIRATION] > 21d',
          severity: 'warning',
          message: '[CERTIFICATE_EXPIRATION] > 21d: got 15d',
        },
      ],
    };
    expect(fire(r)).toMatchObject({
      title: 'api fails a warning check: [CERTIFICATE_EXPIRATION] > 21d',
      severity: 'warning',
    });
  });
});
