/**
 * Synthetic probe state documents with long histories (per-hour aggregates as shared/probes/state.ts keeps them),
 * for the status page's tests and benchmark: 90 days of a probe's life in a few milliseconds instead of replaying
 * 130,000 samples. Each document is validated with the probes' own decoder; write one with `stateDocument`.
 */
import { decodeState, stateDocument, STATE_VERSION, type ProbeState } from '../../shared/probes/state';
import { HOUR, latencyBucket } from '../../shared/probes/slo';
import { PackedMinutes } from '../../shared/probes/packed-minutes';
import type { ProbeResult } from '../../shared/probes/rules';
import type { ObjectStore } from '../../shared/storage/types';
import { probeKeys } from '../../shared/probes/state';
import { keys } from '../../shared/backup/layout';
import { alertKeys } from '../../shared/alerts/layout';
import { addSilence } from '../../shared/alerts/silences';
import { writeSyntheticBackup } from './synthetic-backup';

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
    // the current hour holds only the samples taken so far (at :30 past each interval)
    const every = (o.intervalSeconds ?? 60) * 1000;
    const share = t + HOUR > now ? (now < t + 30_000 ? 0 : Math.floor((now - t - 30_000) / every) + 1) / perHour : 1;
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
  const last: ProbeResult = {
    probe: o.name,
    kind: 'http',
    at,
    ok: true,
    availabilityFailure: false,
    status: 200,
    latencyMs: 40,
    failed: [],
    ...o.last,
  };
  const samples = hours.reduce((a, b) => a + b.n + b.m, 0);
  const state: ProbeState = {
    version: STATE_VERSION,
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
    recent: samples > 0 ? [JSON.stringify(last)] : [],
    minutes: PackedMinutes.empty,
    hours,
  };
  if (state.firstSampleAt === undefined) delete state.firstSampleAt;
  const checked = decodeState(JSON.parse(JSON.stringify(stateDocument(state))));
  if (typeof checked === 'string') throw new Error(`synthetic state of ${o.name} invalid: ${checked}`);
  return checked;
}

/**
 * A bucket as the status page finds it after 90 days: `api-health` up all along, `api-health-full` down for the last
 * 20 minutes (and a bad day 10 days ago) with its incident firing, `worker` in maintenance, `backup-freshness` never
 * run; two backups, the newest verified with a drill; a silence. The operator file that names these probes is
 * `statusProbesConfig`.
 */
export async function seedStatusBucket(store: ObjectStore, env: string, now: Date): Promise<void> {
  const T = now.getTime();
  const DAY = 24 * HOUR;
  const since = new Date(T - 20 * 60_000).toISOString();
  const states = [
    probeHistory({ name: 'api-health', now, hour: () => ({ n: 60, latencyMs: 40 }) }),
    probeHistory({
      name: 'api-health-full',
      now,
      hour: (t) =>
        t >= T - 20 * 60_000 - HOUR
          ? { n: 60, f: 20, latencyMs: 900 }
          : Math.floor((T - t) / DAY) === 10
            ? { n: 60, f: 3, latencyMs: 250 }
            : { n: 60, latencyMs: 120 },
      status: 'down',
      since,
      last: {
        ok: false,
        availabilityFailure: true,
        status: 200,
        latencyMs: 870,
        severity: 'critical',
        failed: [{ condition: '[BODY].status == healthy', severity: 'critical', message: 'got degraded' }],
      },
      incident: { fingerprint: `probe/${env}/api-health-full`, severity: 'critical', startsAt: since },
    }),
    probeHistory({
      name: 'worker',
      now,
      days: 30,
      status: 'maintenance',
      since: new Date(T - 30 * 60_000).toISOString(),
      hour: (t) => (T - t < HOUR ? { n: 0, m: 60 } : { n: 60, latencyMs: 20 }),
    }),
  ];
  for (const s of states)
    await store.writeJson(probeKeys.state(env, s.probe), stateDocument(s), { ifGeneration: null });
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  await writeSyntheticBackup(store, env, stamp(T - 27 * HOUR), { suffix: 'aaaa' });
  const newest = await writeSyntheticBackup(store, env, stamp(T - 3 * HOUR), { suffix: 'bbbb' });
  await store.writeJson(
    keys.verify(env, newest),
    {
      backupId: newest,
      ok: true,
      at: new Date(T - HOUR).toISOString(),
      problems: [],
      restoreDrill: { ok: true, database: 'scratch', details: [] },
    },
    { ifGeneration: null },
  );
  const fp = `probe/${env}/api-health-full`;
  const alert = {
    fingerprint: fp,
    status: 'firing' as const,
    severity: 'critical' as const,
    title: 'api-health-full is down',
    summary: '',
    labels: {},
    source: 'probe',
    links: [],
    startsAt: since,
    env,
    details: {},
  };
  await store.writeJson(
    alertKeys.incident(env, fp),
    {
      fingerprint: fp,
      status: 'firing',
      startsAt: since,
      alert,
      notified: true,
      seq: 1,
      transitions: [],
      messages: {},
    },
    { ifGeneration: null },
  );
  const old = `probe/${env}/api-health`;
  await store.writeJson(
    alertKeys.incident(env, old),
    {
      fingerprint: old,
      status: 'resolved',
      startsAt: new Date(T - 3 * DAY).toISOString(),
      endsAt: new Date(T - 3 * DAY + 42 * 60_000).toISOString(),
      alert: { ...alert, fingerprint: old, status: 'resolved', title: 'api-health is down' },
      notified: false,
      seq: 2,
      transitions: [],
      messages: {},
    },
    { ifGeneration: null },
  );
  await addSilence(
    store,
    env,
    {
      matchers: ['probe=worker'],
      reason: 'worker migration',
      author: 'ops',
      expiresAt: new Date(T + 2 * HOUR).toISOString(),
    },
    new Date(T - 60_000),
  );
}

/** The operator file of the seeded bucket: its probes (never probed: the schedule is moved to once a year) and the status section. */
export function statusProbesConfig(status: Record<string, unknown>): Record<string, unknown> {
  return {
    probes: [
      { name: 'api-health', url: 'http://127.0.0.1:9/health' },
      { name: 'api-health-full', url: 'http://127.0.0.1:9/health/full' },
      { name: 'worker', url: 'http://127.0.0.1:9/worker' },
      { name: 'backup-freshness', kind: 'backup-freshness' },
    ],
    schedules: { probe: { cron: '0 0 1 1 *' }, 'mt-ops-alerts-sweep': { cron: '0 0 1 1 *' } },
    // the window `worker`'s state was written in, open whenever the page is read (a state last written in a window
    // that has ended shows unknown)
    maintenance: [{ name: 'worker-patching', cron: '* * * * *', durationMinutes: 1, timeZone: 'UTC' }],
    status,
  };
}

/** A state as version 1 stored it (the minutes as bucket objects, the results as objects), for the read-back paths. */
export function asVersion1(state: ProbeState): Record<string, unknown> {
  return {
    ...state,
    version: 1,
    minutes: state.minutes.buckets(),
    recent: state.recent.map((text) => JSON.parse(text) as unknown),
  };
}
