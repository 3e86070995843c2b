/**
 * The pure rules of probing: a probe's result -> a sample (availability failure or not, its severity), and the
 * state machine that turns samples into at most one firing alert per incident and its matching resolved alert.
 *
 * - `failureThreshold` consecutive failed samples move a probe to `down` and fire; `successThreshold` consecutive
 *   good samples afterwards move it `up` and resolve. Nothing is published per failed sample, and a flapping target
 *   (never enough in a row either way) neither fires nor resolves.
 * - A firing incident whose failures grow more severe (warning -> critical) fires again at the new severity (the
 *   same fingerprint: the same incident, escalated).
 * - The status says whether the target is available: `down` only on failures that count against availability (a
 *   condition at or above the probe's own severity). An incident of lesser failures (a certificate's warning) fires
 *   at its severity while the probe stays `up`.
 * - Samples inside a maintenance window (unless the probe ignores maintenance) put the probe in `maintenance`;
 *   they move no streak and raise nothing. The first sample after the window leaves `maintenance` for `unknown`
 *   until the samples decide: a good one makes it `up` (with an incident open, the resolve does), a failure that
 *   counts against availability `down` (at the threshold, or at once while an incident is open).
 * - The SLO burn-rate alert is its own incident (`slo/<env>/<name>`), firing while the burn-rate rules hold.
 */
import type { Severity } from '../bus/events';
import type { ConditionResult } from './evaluate';

export type ProbeStatus = 'up' | 'down' | 'maintenance' | 'unknown';

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export interface FailedCondition {
  condition: string;
  severity: Severity;
  message: string;
}

/** One probe's result, as the probers return it and the state keeps it (the last 20). */
export interface ProbeResult {
  probe: string;
  kind: 'http' | 'postgres' | 'backup-freshness';
  at: string;
  ok: boolean;
  /** The most severe failed condition's severity. */
  severity?: Severity;
  /** Counts against availability: a failed condition at or above the probe's own severity. */
  availabilityFailure: boolean;
  status?: number;
  latencyMs?: number;
  timings?: { dnsMs?: number; connectMs?: number; tlsMs?: number; ttfbMs?: number; totalMs: number };
  failed: FailedCondition[];
  /** Why the probe could not run at all (connection refused, timeout), when it could not. */
  error?: string;
  redirects?: string[];
  /** A short body excerpt, secrets masked. */
  excerpt?: string;
  details?: Record<string, unknown>;
  maintenance?: string;
}

/** Folds condition results into the result's verdict. */
export function verdict(
  results: ReadonlyArray<ConditionResult & { severity: Severity }>,
  probeSeverity: Severity,
): Pick<ProbeResult, 'ok' | 'severity' | 'availabilityFailure' | 'failed'> {
  const failed = results
    .filter((r) => !r.ok)
    .map((r) => ({
      condition: r.condition,
      severity: r.severity,
      message: r.message ?? `${r.condition}: got ${r.got}`,
    }));
  if (failed.length === 0) return { ok: true, availabilityFailure: false, failed };
  const severity = failed.reduce<Severity>(
    (worst, f) => (SEVERITY_RANK[f.severity] > SEVERITY_RANK[worst] ? f.severity : worst),
    'info',
  );
  return {
    ok: false,
    severity,
    availabilityFailure: failed.some((f) => SEVERITY_RANK[f.severity] >= SEVERITY_RANK[probeSeverity]),
    failed,
  };
}

export interface OpenIncident {
  fingerprint: string;
  severity: Severity;
  startsAt: string;
}

export interface Machine {
  status: ProbeStatus;
  since: string;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  /** When the current streak of failures began. */
  failingSince?: string;
  incident?: OpenIncident;
}

export interface Thresholds {
  failureThreshold: number;
  successThreshold: number;
}

export type Transition =
  | { kind: 'fire'; incident: OpenIncident; result: ProbeResult; escalated: boolean }
  | { kind: 'resolve'; incident: OpenIncident; result: ProbeResult; endsAt: string };

/** One sample through the state machine: the next machine state and at most one transition. */
export function step(
  machine: Machine,
  result: ProbeResult,
  thresholds: Thresholds,
  fingerprint: string,
  inMaintenance: boolean,
): { machine: Machine; transition?: Transition } {
  const next: Machine = { ...machine };
  const moveTo = (status: ProbeStatus) => {
    if (next.status !== status) {
      next.status = status;
      next.since = result.at;
    }
  };
  if (inMaintenance) {
    moveTo('maintenance');
    return { machine: next };
  }
  if (next.status === 'maintenance') moveTo('unknown');
  if (result.ok) {
    next.consecutiveSuccesses++;
    next.consecutiveFailures = 0;
    next.failingSince = undefined;
  } else {
    if (next.consecutiveFailures === 0) next.failingSince = result.at;
    next.consecutiveFailures++;
    next.consecutiveSuccesses = 0;
  }
  if (next.incident) {
    if (result.ok && next.consecutiveSuccesses >= thresholds.successThreshold) {
      const incident = next.incident;
      next.incident = undefined;
      moveTo('up');
      return { machine: next, transition: { kind: 'resolve', incident, result, endsAt: result.at } };
    }
    if (!result.ok && result.severity && SEVERITY_RANK[result.severity] > SEVERITY_RANK[next.incident.severity]) {
      next.incident = { ...next.incident, severity: result.severity };
      if (result.availabilityFailure) moveTo('down');
      return { machine: next, transition: { kind: 'fire', incident: next.incident, result, escalated: true } };
    }
    // while the incident is open: failures that count against availability make it down; anything else (a good
    // sample short of the threshold, a lesser failure) leaves the status as it was
    if (result.availabilityFailure) moveTo('down');
    return { machine: next };
  }
  if (!result.ok && next.consecutiveFailures >= thresholds.failureThreshold) {
    // the incident starts with the first failure of the streak, not when the threshold was crossed
    const incident: OpenIncident = {
      fingerprint,
      severity: result.severity ?? 'critical',
      startsAt: next.failingSince ?? result.at,
    };
    next.incident = incident;
    // lesser failures fire at their severity, but the target answers: up
    moveTo(result.availabilityFailure ? 'down' : 'up');
    return { machine: next, transition: { kind: 'fire', incident, result, escalated: false } };
  }
  // no incident: a good sample means up; failures below the threshold leave the state as it was
  if (result.ok) moveTo('up');
  return { machine: next };
}

/** The SLO burn-rate incident: opens when the level rises above none (or escalates), resolves when it falls to none. */
export function sloStep(
  open: OpenIncident | undefined,
  level: 'critical' | 'warning' | 'none',
  fingerprint: string,
  at: string,
): { open?: OpenIncident; change?: 'fire' | 'resolve' } {
  if (level === 'none') return open ? { open: undefined, change: 'resolve' } : { open: undefined };
  if (!open) return { open: { fingerprint, severity: level, startsAt: at }, change: 'fire' };
  if (SEVERITY_RANK[level] > SEVERITY_RANK[open.severity])
    return { open: { ...open, severity: level }, change: 'fire' };
  return { open };
}
