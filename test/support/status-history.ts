/**
 * Synthetic probe state documents with long histories (per-hour aggregates as shared/probes/state.ts keeps them),
 * for the status page's tests and benchmark: 90 days of a probe's life in a few milliseconds instead of replaying
 * 130,000 samples. Each document is validated with the probes' own schema.
 */
import { ProbeStateSchema, type ProbeState } from '../../shared/probes/state';
import { HOUR, latencyBucket } from '../../shared/probes/slo';
import type { ProbeResult } from '../../shared/probes/rules';

export interface HourFacts {
  /** Samples counted (maintenance excluded). */
  n: number;
  f?: number;
  /** Samples in a maintenance window. */
  m?: number;
  /** Latency of every counted sample (ms). */
  latencyMs?: number;
}

export interface HistoryOptions {
  name: string;
  now: Date;
  /** How many days back the first sample is (default 90). */
  days?: number;
  intervalSeconds?: number;
  /** Facts of the hour starting at `t` (default: every sample good at 40 ms). */
  hour?: (t: number) => HourFacts;
  status?: ProbeState['status'];
  since?: string;
  last?: Partial<ProbeResult>;
  incident?: ProbeState['incident'];
}

export function probeHistory(o: HistoryOptions): ProbeState {
  const now = o.now.getTime();
  const perHour = 3600 / (o.intervalSeconds ?? 60);
  const first = Math.floor((now - (o.days ?? 90) * 24 * HOUR) / HOUR) * HOUR + HOUR;
  const hours: ProbeState['hours'] = [];
  for (let t = first; t <= now; t += HOUR) {
    const facts = o.hour?.(t) ?? { n: perHour, latencyMs: 40 };
    // the current hour holds only the samples taken so far
    const share = t + HOUR > now ? (now - t) / HOUR : 1;
    const n = Math.round(facts.n * share);
    const f = Math.min(n, Math.round((facts.f ?? 0) * share));
    const m = Math.round((facts.m ?? 0) * share);
    const h: number[] = [];
    if (n > 0) {
      const i = latencyBucket(facts.latencyMs ?? 40);
      while (h.length <= i) h.push(0);
      h[i] = n;
    }
    if (n + m > 0) hours.push({ t, n, f, m, h });
  }
  const at = new Date(now - 30_000).toISOString();
  const last: ProbeResult = { probe: o.name, kind: 'http', at, ok: true, availabilityFailure: false, status: 200, latencyMs: 40, failed: [], ...o.last };
  const samples = hours.reduce((a, b) => a + b.n + b.m, 0);
  return ProbeStateSchema.parse({
    version: 1,
    probe: o.name,
    status: o.status ?? 'up',
    since: o.since ?? new Date(first).toISOString(),
    consecutiveFailures: last.ok ? 0 : 3,
    consecutiveSuccesses: last.ok ? 10 : 0,
    ...(o.incident ? { incident: o.incident } : {}),
    lastRunAt: at,
    // samples are taken at :30 past each minute (interval 60)
    firstSampleAt: hours.length > 0 ? first + 30_000 : undefined,
    samples,
    recent: samples > 0 ? [last] : [],
    minutes: [],
    hours,
  });
}
