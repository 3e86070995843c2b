/**
 * The pure rules of probing: a probe's result -> a sample (availability failure or not, its severity), and the
 * state machine that turns samples into at most one firing alert per incident and its matching resolved alert.
 *
 * - `failureThreshold` consecutive samples failing availability (a condition at or above the probe's own severity)
 *   move a probe to `down` and fire; `successThreshold` consecutive samples not failing it afterwards move it `up`
 *   and resolve. Nothing is published per failed sample, and a flapping target (never enough in a row either way)
 *   neither fires nor resolves.
 * - Lesser failures (a certificate's warning: the target answers) fire an incident at their severity after
 *   `failureThreshold` samples in a row failing some condition, while the probe stays `up`, and resolve after
 *   `successThreshold` samples passing every condition. Such an incident whose failures grow more severe fires again
 *   at the new severity (the same fingerprint: the same incident, escalated), and becomes one of availability only
 *   when availability fails `failureThreshold` times in a row (a single 503 amid a certificate warning pages no one).
 *   One of availability resolves when availability is back, even while lesser failures go on (they fire again on
 *   their own, `failureThreshold` samples later).
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
  /**
   * False for an incident of lesser failures (conditions below the probe's own severity: the target answers); absent
   * or true for one of failures that count against availability (incidents stored before the distinction: these).
   */
  availability?: boolean;
}

export interface Machine {
  status: ProbeStatus;
  since: string;
  /** Consecutive samples failing availability (a condition at or above the probe's severity), and not. */
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  /** When the current streak of availability failures began. */
  failingSince?: string;
  /** Consecutive samples failing any condition (lesser ones too), and passing every one (absent: 0). */
  failingChecks?: number;
  passingChecks?: number;
  /** When the current streak of samples failing any condition began. */
  checksFailingSince?: string;
  incident?: OpenIncident;
}

export interface Thresholds {
  failureThreshold: number;
  successThreshold: number;
}

export type Transition =
  | { kind: 'fire'; incident: OpenIncident; result: ProbeResult; escalated: boolean }
  | { kind: 'resolve'; incident: OpenIncident; result: ProbeResult; endsAt: string };

/**
 * One sample through the state machine: the next machine state and at most one transition. Two streaks are kept: of
 * availability failures, which move the probe `down` and fire at its severity (`failureThreshold` in a row) and
 * resolve after `successThreshold` samples that do not fail availability; and of failures of any condition, which fire
 * an incident of lesser failures (the target answers: the probe stays `up`) and resolve after `successThreshold`
 * samples passing every condition. One incident per probe (one fingerprint): one of lesser failures becomes one of
 * availability (escalated) once the availability streak reaches the threshold, never on a single failure; one of
 * availability resolves when availability is back, even while lesser failures go on, which then fire again on their
 * own after `failureThreshold` more samples (so the new incident starts after the resolve).
 */
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
  if (result.availabilityFailure) {
    if (next.consecutiveFailures === 0) next.failingSince = result.at;
    next.consecutiveFailures++;
    next.consecutiveSuccesses = 0;
  } else {
    next.consecutiveSuccesses++;
    next.consecutiveFailures = 0;
    next.failingSince = undefined;
  }
  if (!result.ok) {
    if (!next.failingChecks) next.checksFailingSince = result.at;
    next.failingChecks = (next.failingChecks ?? 0) + 1;
    next.passingChecks = 0;
  } else {
    next.passingChecks = (next.passingChecks ?? 0) + 1;
    next.failingChecks = 0;
    next.checksFailingSince = undefined;
  }
  const worse = (than: Severity) =>
    result.severity !== undefined && SEVERITY_RANK[result.severity] > SEVERITY_RANK[than];
  const resolve = (incident: OpenIncident) => {
    next.incident = undefined;
    // lesser failures still going on fire again on their own, from here: a new streak
    next.failingChecks = 0;
    next.checksFailingSince = undefined;
    moveTo('up');
    return { machine: next, transition: { kind: 'resolve', incident, result, endsAt: result.at } as Transition };
  };
  const open = next.incident;
  if (open && open.availability !== false) {
    if (next.consecutiveSuccesses >= thresholds.successThreshold) return resolve(open);
    if (result.availabilityFailure && worse(open.severity)) {
      next.incident = { ...open, severity: result.severity! };
      moveTo('down');
      return { machine: next, transition: { kind: 'fire', incident: next.incident, result, escalated: true } };
    }
    // while it is open: failures of availability make it down; anything else leaves the status as it was
    if (result.availabilityFailure) moveTo('down');
    return { machine: next };
  }
  if (open) {
    // an incident of lesser failures
    if (next.consecutiveFailures >= thresholds.failureThreshold) {
      next.incident = {
        ...open,
        severity: worse(open.severity) ? result.severity! : open.severity,
        availability: true,
      };
      moveTo('down');
      return { machine: next, transition: { kind: 'fire', incident: next.incident, result, escalated: true } };
    }
    if ((next.passingChecks ?? 0) >= thresholds.successThreshold) return resolve(open);
    if (!result.ok && !result.availabilityFailure && worse(open.severity)) {
      next.incident = { ...open, severity: result.severity! };
      moveTo('up');
      return { machine: next, transition: { kind: 'fire', incident: next.incident, result, escalated: true } };
    }
    if (!result.availabilityFailure) moveTo('up');
    return { machine: next };
  }
  if (next.consecutiveFailures >= thresholds.failureThreshold) {
    // the incident starts with the first failure of the streak, not when the threshold was crossed
    const incident: OpenIncident = {
      fingerprint,
      severity: result.severity ?? 'critical',
      startsAt: next.failingSince ?? result.at,
    };
    next.incident = incident;
    moveTo('down');
    return { machine: next, transition: { kind: 'fire', incident, result, escalated: false } };
  }
  if (!result.ok && !result.availabilityFailure && (next.failingChecks ?? 0) >= thresholds.failureThreshold) {
    // lesser failures fire at their severity, but the target answers: up
    const incident: OpenIncident = {
      fingerprint,
      severity: result.severity ?? 'warning',
      startsAt: next.checksFailingSince ?? result.at,
      availability: false,
    };
    next.incident = incident;
    moveTo('up');
    return { machine: next, transition: { kind: 'fire', incident, result, escalated: false } };
  }
  // no incident: a sample the target answered well enough means up; availability failures below the threshold leave
  // the status as it was
  if (!result.availabilityFailure) moveTo('up');
  return { machine: next };
}

/**
 * The SLO burn-rate incident: opens when the level rises above none (or escalates), resolves when it falls to none
 * and the last hour no longer burns above 14.4 (`holding`: a clean 5-minute window alone, a handful of samples, does
 * not resolve it, or an intermittent failure would page and resolve at each failed sample).
 */
export function sloStep(
  open: OpenIncident | undefined,
  level: 'critical' | 'warning' | 'none',
  fingerprint: string,
  at: string,
  holding = false,
): { open?: OpenIncident; change?: 'fire' | 'resolve' } {
  if (level === 'none') {
    if (open && holding) return { open };
    return open ? { open: undefined, change: 'resolve' } : { open: undefined };
  }
  if (!open) return { open: { fingerprint, severity: level, startsAt: at }, change: 'fire' };
  if (SEVERITY_RANK[level] > SEVERITY_RANK[open.severity])
    return { open: { ...open, severity: level }, change: 'fire' };
  return { open };
}
