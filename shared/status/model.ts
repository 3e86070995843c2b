/**
 * The status page's model: `statusOf(state, now)`, one pure function from what the bucket holds (probe states,
 * backups, incidents, silences, maintenance windows) to what the page, its JSON and the badges show. Every figure
 * is computed here, once; the renderer only lays it out. Free text passes through the scrubber (scrub.ts) on its
 * way in, so nothing here can carry a secret, a URL or an internal host name.
 */
import type { BackupFacts } from '../backup';
import type { IncidentState } from '../alerts/lifecycle';
import { isActive, type Silence } from '../alerts/silences';
import { activeWindow, nextWindow, type MaintenanceWindow } from '../maintenance/window';
import { lastResult, type ProbeState } from '../probes/state';
import { statusAt } from '../probes/plan';
import { budgetLeft, foldLargest, HOUR, quantile, uptimeOver } from '../probes/slo';
import { scrubber } from './scrub';

export const DAY = 24 * HOUR;
/** Days in the uptime bar. */
export const BAR_DAYS = 90;
/** Days in the latency sparkline. */
export const LATENCY_DAYS = 30;
/** Backups in the size sparkline. */
export const SIZE_POINTS = 30;
/** Resolved incidents listed. */
export const RESOLVED_SHOWN = 10;

// ---- input: what the plan reads ----

export interface ProbeInput {
  name: string;
  kind: 'http' | 'postgres' | 'backup-freshness';
  intervalSeconds: number;
  /** Availability objective, percent (99.9). */
  objective: number;
  latencyObjectiveMs: number;
  /** The probe's `ignoreMaintenance` (its samples are never maintenance). */
  ignoreMaintenance?: boolean;
  /** Absent: the probe has never run. */
  state?: ProbeState;
  /** Its state document could not be read. */
  problem?: string;
}

export interface StatusState {
  env: string;
  title: string;
  refreshSeconds: number;
  internalHosts: readonly string[];
  /** Exact host names never shown (the database URLs' hosts). */
  hiddenHosts: readonly string[];
  probes: ProbeInput[];
  /** Every backup, newest first (absent: could not be read; `problems` says why). */
  backups?: BackupFacts[];
  /** The backup-freshness limits (hours, days). */
  backupMaxAgeHours: number;
  verifyMaxAgeDays: number;
  retention: { policy: string; minKeep: number };
  incidents: IncidentState[];
  silences: Silence[];
  maintenance: readonly MaintenanceWindow[];
  /** Parts that could not be read, one line each (already safe to show). */
  problems?: string[];
}

// ---- output: what the page shows ----

export type Level = 'operational' | 'degraded' | 'outage' | 'maintenance' | 'no-data';
export type ProbeStatus = 'up' | 'down' | 'maintenance' | 'unknown';
export type DayLevel = 'up' | 'degraded' | 'down' | 'maintenance' | 'none';

export interface DayCell {
  /** UTC date, YYYY-MM-DD. */
  date: string;
  level: DayLevel;
  /** Good samples over the samples the schedule should have taken (maintenance excluded), or null with none. */
  uptime: number | null;
  samples: number;
  failures: number;
  /** Samples the schedule should have taken but nobody did. */
  missed: number;
  /** Samples taken inside a maintenance window. */
  maintenance: number;
}

export interface LatencyPoint {
  date: string;
  /** p95 of the day (the upper bound of its histogram bucket, or the largest latency when lower), null without samples; above 10 s it is 10 s, and `over` says so. */
  p95Ms: number | null;
  over?: boolean;
}

export interface ProbeModel {
  name: string;
  kind: ProbeInput['kind'];
  status: ProbeStatus;
  since: string | null;
  lastRunAt: string | null;
  hasData: boolean;
  uptime: { '24h': number | null; '7d': number | null; '30d': number | null };
  objective: number;
  latencyObjectiveMs: number;
  /** p95 over 24 h. */
  p95Ms: number | null;
  /** Error budget left over 30 days, a fraction of the budget (below 0: overspent), or null without samples. */
  budgetLeft: number | null;
  days: DayCell[];
  latency: LatencyPoint[];
  last: { ok: boolean; at: string; httpStatus?: number; latencyMs?: number; problems: string[] } | null;
  /** Why its state could not be read, if it could not. */
  problem?: string;
}

export interface BackupModel {
  /** The newest complete backup (not a restore's safety backup). */
  newest: { id: string; at: string; ageMs: number; bytes: number; rows?: number; fresh: boolean } | null;
  maxAgeHours: number;
  sizes: Array<{ at: string; bytes: number }>;
  verify: { backupId: string; at: string; ok: boolean; problems: number; ageMs: number; fresh: boolean } | null;
  drill: { backupId: string; at: string; ok: boolean } | null;
  retention: {
    policy: string;
    minKeep: number;
    complete: number;
    safety: number;
    legacy: number;
    incomplete: number;
    corrupt: number;
    bytes: number;
    oldest: string | null;
  };
}

export interface IncidentModel {
  title: string;
  severity: string;
  startsAt: string;
  endsAt?: string;
  durationMs: number;
  /** Why nobody was told (a maintenance window or a silence). */
  muted?: string;
}

export interface StatusModel {
  title: string;
  env: string;
  generatedAt: string;
  refreshSeconds: number;
  overall: { level: Level; text: string };
  probes: ProbeModel[];
  /** null: the backups could not be read. */
  backups: BackupModel | null;
  incidents: { firing: IncidentModel[]; resolved: IncidentModel[] };
  silences: Array<{ matchers: string[]; reason: string; until: string }>;
  maintenance: {
    active: { name: string; until: string } | null;
    next: { name: string; start: string; end: string } | null;
  };
  problems: string[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const orNull = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? null : v);
const SEVERITY_ORDER: Record<string, number> = { critical: 0, warning: 1, info: 2 };

/** The 90 day cells and 30 latency points of one probe, from its hour buckets (UTC days; today is the last). */
function history(p: ProbeInput, now: number): { days: DayCell[]; latency: LatencyPoint[] } {
  const today = Math.floor(now / DAY) * DAY;
  const first = today - (BAR_DAYS - 1) * DAY;
  const sums = Array.from({ length: BAR_DAYS }, () => ({
    n: 0,
    f: 0,
    m: 0,
    h: [] as number[],
    x: 0 as number | undefined,
  }));
  for (const b of p.state?.hours ?? []) {
    const i = Math.floor((b.t - first) / DAY);
    if (i < 0 || i >= BAR_DAYS) continue;
    const s = sums[i]!;
    s.n += b.n;
    s.f += b.f;
    s.m += b.m;
    for (let k = 0; k < b.h.length; k++) s.h[k] = (s.h[k] ?? 0) + b.h[k]!;
    s.x = foldLargest(s.x, b);
  }
  const firstSample = p.state?.firstSampleAt;
  const interval = p.intervalSeconds * 1000;
  const days = sums.map((s, i): DayCell => {
    const start = first + i * DAY;
    const date = iso(start).slice(0, 10);
    // the schedule's samples (first + k x interval) in [start, end), or for today those due an interval ago or more
    // (the sample due last may still be in flight: not yet missing)
    const from = firstSample === undefined ? Infinity : Math.max(start, firstSample);
    const to = Math.min(start + DAY, now + 1 - interval);
    const scheduled =
      to > from ? Math.ceil((to - firstSample!) / interval) - Math.ceil((from - firstSample!) / interval) : 0;
    const expected = Math.max(s.n + s.m, scheduled);
    const counted = expected - s.m;
    const uptime = counted > 0 && s.n > 0 ? (s.n - s.f) / counted : null;
    const missed = Math.max(0, counted - s.n);
    let level: DayLevel;
    if (s.n === 0) level = s.m > 0 ? 'maintenance' : 'none';
    else if (uptime! * 100 >= p.objective) level = 'up';
    else if (uptime! >= 0.95) level = 'degraded';
    else level = 'down';
    return { date, level, uptime, samples: s.n, failures: s.f, missed: s.n > 0 ? missed : 0, maintenance: s.m };
  });
  const latency = sums.slice(BAR_DAYS - LATENCY_DAYS).map((s, i): LatencyPoint => {
    const q = quantile(s.h, 0.95, s.x);
    const date = days[BAR_DAYS - LATENCY_DAYS + i]!.date;
    if (q === undefined) return { date, p95Ms: null };
    return q > 10_000 ? { date, p95Ms: 10_000, over: true } : { date, p95Ms: q };
  });
  return { days, latency };
}

function probeModel(
  p: ProbeInput,
  now: number,
  scrub: (t: string | undefined) => string,
  windows: readonly MaintenanceWindow[],
): ProbeModel {
  const state = p.state;
  const hasData = Boolean(state && state.samples > 0);
  const agg = { minutes: state?.minutes ?? [], hours: state?.hours ?? [], firstSampleAt: state?.firstSampleAt };
  const over = (ms: number) => uptimeOver(agg, ms, now, p.intervalSeconds);
  const day = over(DAY);
  const last = state && lastResult(state);
  const { days, latency } = history(p, now);
  const model: ProbeModel = {
    name: p.name,
    kind: p.kind,
    // a state last written in a window that has ended since: unknown until a sample decides (statusAt, as uptime)
    ...(hasData
      ? statusAt(state!, windows, new Date(now), p.ignoreMaintenance)
      : { status: 'unknown' as const, since: null }),
    lastRunAt: state?.lastRunAt ?? null,
    hasData,
    uptime: hasData
      ? { '24h': orNull(day.uptime), '7d': orNull(over(7 * DAY).uptime), '30d': orNull(over(30 * DAY).uptime) }
      : { '24h': null, '7d': null, '30d': null },
    objective: p.objective,
    latencyObjectiveMs: p.latencyObjectiveMs,
    p95Ms: day.p95 === undefined ? null : Math.min(day.p95, 10_000),
    budgetLeft: hasData ? orNull(budgetLeft(agg, now, p.objective, p.intervalSeconds)) : null,
    days,
    latency,
    last: last
      ? {
          ok: last.ok,
          at: last.at,
          ...(last.status !== undefined ? { httpStatus: last.status } : {}),
          ...(last.latencyMs !== undefined ? { latencyMs: Math.round(last.latencyMs) } : {}),
          // each failure's message already names its condition, and the probe's own error is its first failure
          // ('probe'): each said once
          problems: [
            ...new Set(
              [...(last.error ? [last.error] : []), ...last.failed.slice(0, 5).map((f) => f.message)].map((t) =>
                scrub(t),
              ),
            ),
          ].filter(Boolean),
        }
      : null,
  };
  if (p.problem) model.problem = scrub(p.problem);
  return model;
}

function backupModel(state: StatusState, now: number): BackupModel | null {
  if (!state.backups) return null;
  const all = state.backups;
  const real = all.filter((b) => b.kind === 'complete' && !b.safety);
  const newest = real[0];
  const verified = all.filter((b) => b.verify).sort((a, b) => b.verify!.at.localeCompare(a.verify!.at));
  const lastVerify = verified[0];
  const lastDrill = verified.find((b) => b.verify!.drill);
  const count = (pred: (b: BackupFacts) => boolean) => all.filter(pred).length;
  const kept = all.filter((b) => b.kind === 'complete' || b.kind === 'legacy');
  return {
    newest: newest
      ? {
          id: newest.id,
          at: newest.time,
          ageMs: now - Date.parse(newest.time),
          bytes: newest.bytes,
          ...(newest.rows !== undefined ? { rows: newest.rows } : {}),
          fresh: now - Date.parse(newest.time) < state.backupMaxAgeHours * HOUR,
        }
      : null,
    maxAgeHours: state.backupMaxAgeHours,
    sizes: real
      .slice(0, SIZE_POINTS)
      .reverse()
      .map((b) => ({ at: b.time, bytes: b.bytes })),
    verify: lastVerify
      ? {
          backupId: lastVerify.id,
          at: lastVerify.verify!.at,
          ok: lastVerify.verify!.ok,
          problems: lastVerify.verify!.problems,
          ageMs: now - Date.parse(lastVerify.verify!.at),
          fresh: now - Date.parse(lastVerify.verify!.at) < state.verifyMaxAgeDays * DAY,
        }
      : null,
    drill: lastDrill ? { backupId: lastDrill.id, at: lastDrill.verify!.at, ok: lastDrill.verify!.drill!.ok } : null,
    retention: {
      policy: state.retention.policy,
      minKeep: state.retention.minKeep,
      complete: real.length,
      safety: count((b) => b.kind === 'complete' && b.safety),
      legacy: count((b) => b.kind === 'legacy'),
      incomplete: count((b) => b.kind === 'incomplete'),
      corrupt: count((b) => b.kind === 'corrupt'),
      bytes: all.reduce((a, b) => a + b.bytes, 0),
      oldest: kept.length > 0 ? kept.reduce((o, b) => (b.time < o ? b.time : o), kept[0]!.time) : null,
    },
  };
}

function overall(
  probes: ProbeModel[],
  backups: BackupModel | null,
  firing: IncidentModel[],
  inWindow: boolean,
): StatusModel['overall'] {
  const withData = probes.filter((p) => p.hasData);
  if (withData.length === 0 && !backups?.newest)
    return { level: 'no-data', text: 'No data yet: no probe has run and no backup has been taken.' };
  const down = withData.filter((p) => p.status === 'down');
  if (down.length > 0 && down.length === withData.length)
    return { level: 'outage', text: `Major outage: every service is down (${down.map((p) => p.name).join(', ')}).` };
  if (down.length > 0)
    return {
      level: 'outage',
      text: `Partial outage: ${down.map((p) => p.name).join(', ')} ${down.length === 1 ? 'is' : 'are'} down.`,
    };
  if (inWindow || withData.some((p) => p.status === 'maintenance'))
    return { level: 'maintenance', text: 'Scheduled maintenance in progress.' };
  const problems: string[] = [];
  if (backups && !backups.newest) problems.push('no backup has been taken yet');
  else if (backups?.newest && !backups.newest.fresh)
    problems.push(`the newest backup is older than ${backups.maxAgeHours} h`);
  if (backups?.verify && !backups.verify.ok) problems.push('the last backup verify failed');
  if (firing.length > 0) problems.push(`${firing.length} alert${firing.length === 1 ? ' is' : 's are'} firing`);
  if (problems.length > 0) return { level: 'degraded', text: `Degraded: ${problems.join('; ')}.` };
  return { level: 'operational', text: 'All systems operational.' };
}

/** The status page's model at `now`. Pure: same state, same time, same model. */
export function statusOf(state: StatusState, now: Date): StatusModel {
  const t = now.getTime();
  const scrub = scrubber({ internalHosts: state.internalHosts, hiddenHosts: state.hiddenHosts });
  const probes = state.probes.map((p) => probeModel(p, t, scrub, state.maintenance));
  const backups = backupModel(state, t);
  const incident = (i: IncidentState): IncidentModel => {
    const end = i.status === 'resolved' && i.endsAt ? Date.parse(i.endsAt) : t;
    return {
      title: scrub(i.alert?.title ?? i.fingerprint) || 'alert',
      severity: i.alert?.severity ?? 'critical',
      startsAt: i.startsAt,
      ...(i.status === 'resolved' && i.endsAt ? { endsAt: i.endsAt } : {}),
      durationMs: Math.max(0, end - Date.parse(i.startsAt)),
      ...(i.status === 'firing' && i.mutedBy ? { muted: scrub(i.mutedBy) } : {}),
    };
  };
  const firing = state.incidents
    .filter((i) => i.status === 'firing')
    .map(incident)
    .sort(
      (a, b) =>
        (SEVERITY_ORDER[a.severity] ?? 3) - (SEVERITY_ORDER[b.severity] ?? 3) || a.startsAt.localeCompare(b.startsAt),
    );
  const resolved = state.incidents
    // a resolve with no firing before it (every successful backup's, on a clean record) is no incident
    .filter((i) => i.status === 'resolved' && i.endsAt && !i.neverFired)
    .sort((a, b) => b.endsAt!.localeCompare(a.endsAt!))
    .slice(0, RESOLVED_SHOWN)
    .map(incident);
  const active = activeWindow(state.maintenance, now);
  const next = nextWindow(state.maintenance, now);
  return {
    title: state.title,
    env: state.env,
    generatedAt: now.toISOString(),
    refreshSeconds: state.refreshSeconds,
    overall: overall(probes, backups, firing, active !== undefined),
    probes,
    backups,
    incidents: { firing, resolved },
    silences: state.silences
      .filter((s) => isActive(s, now))
      .sort((a, b) => a.expiresAt.localeCompare(b.expiresAt))
      .map((s) => ({ matchers: s.matchers.map((m) => scrub(m)), reason: scrub(s.reason), until: s.expiresAt })),
    maintenance: {
      active: active ? { name: scrub(active.name), until: active.end.toISOString() } : null,
      next: next ? { name: scrub(next.name), start: next.start.toISOString(), end: next.end.toISOString() } : null,
    },
    problems: (state.problems ?? []).map((p) => scrub(p)),
  };
}
