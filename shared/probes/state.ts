/**
 * A probe's state document in the bucket (`<env>/.state/probes/<name>.json`), bounded in size: the state machine,
 * the last 20 results, per-minute aggregates for 6 hours, per-hour aggregates for 90 days, the open incidents and
 * the SLO figures. `recordSample` is the pure step from (document, result) to the next document and what to publish;
 * the run writes it with compare-and-swap, re-reading and re-applying on a conflict, so no sample is ever lost.
 */
import { z } from 'zod';
import { Severity } from '../bus/events';
import {
  addToBuckets,
  burnAlert,
  budgetLeft,
  HOUR,
  HOUR_BUCKETS,
  MINUTE,
  MINUTE_BUCKETS,
  type BurnAlert,
  type Bucket,
} from './slo';
import {
  sloStep,
  step,
  type Machine,
  type OpenIncident,
  type ProbeResult,
  type Thresholds,
  type Transition,
} from './rules';

export const RECENT_RESULTS = 20;

/** Every key the probes use, in one place. */
export const probeKeys = {
  statePrefix: (env: string) => `${env}/.state/probes/`,
  state: (env: string, name: string) => `${env}/.state/probes/${name}.json`,
};

export const fingerprints = {
  probe: (env: string, name: string) => `probe/${env}/${name}`,
  slo: (env: string, name: string) => `slo/${env}/${name}`,
};

const Incident = z.object({ fingerprint: z.string(), severity: Severity, startsAt: z.string() });
const BucketSchema = z.object({ t: z.number(), n: z.number(), f: z.number(), m: z.number(), h: z.array(z.number()) });

export const ProbeStateSchema = z.object({
  version: z.literal(1),
  probe: z.string(),
  status: z.enum(['up', 'down', 'maintenance', 'unknown']),
  since: z.string(),
  consecutiveFailures: z.number().int().min(0),
  consecutiveSuccesses: z.number().int().min(0),
  failingSince: z.string().optional(),
  incident: Incident.optional(),
  sloIncident: Incident.optional(),
  lastRunAt: z.string().optional(),
  firstSampleAt: z.number().optional(),
  samples: z.number().int().min(0).default(0),
  recent: z.array(z.custom<ProbeResult>((v) => typeof v === 'object' && v !== null)),
  minutes: z.array(BucketSchema),
  hours: z.array(BucketSchema),
  burn: z.record(z.string(), z.number()).optional(),
  budgetLeft: z.number().optional(),
});
export type ProbeState = z.infer<typeof ProbeStateSchema>;

export function emptyState(probe: string, now: string): ProbeState {
  return {
    version: 1,
    probe,
    status: 'unknown',
    since: now,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    samples: 0,
    recent: [],
    minutes: [],
    hours: [],
  };
}

/** A stored document, or a fresh one when absent or unreadable (an unreadable one is reported by the caller). */
export function parseState(probe: string, value: unknown, now: string): { state: ProbeState; problem?: string } {
  if (value === undefined) return { state: emptyState(probe, now) };
  const parsed = ProbeStateSchema.safeParse(value);
  if (parsed.success && parsed.data.probe === probe) return { state: parsed.data };
  return { state: emptyState(probe, now), problem: `state of probe ${probe} unreadable, starting afresh` };
}

export interface SampleContext extends Thresholds {
  env: string;
  /** SLO availability objective, percent. */
  objective: number;
  intervalSeconds: number;
  /** The name of the maintenance window covering the sample, if any (and the probe honours maintenance). */
  maintenance?: string;
}

export interface SloChange {
  change: 'fire' | 'resolve';
  incident: OpenIncident;
  burn: BurnAlert;
  at: string;
}

export interface Recorded {
  state: ProbeState;
  transition?: Transition;
  slo?: SloChange;
}

/** The pure step: one result into the document. */
export function recordSample(state: ProbeState, result: ProbeResult, ctx: SampleContext): Recorded {
  const at = Date.parse(result.at);
  const machine: Machine = {
    status: state.status,
    since: state.since,
    consecutiveFailures: state.consecutiveFailures,
    consecutiveSuccesses: state.consecutiveSuccesses,
    failingSince: state.failingSince,
    incident: state.incident,
  };
  const stepped = step(machine, result, ctx, fingerprints.probe(ctx.env, result.probe), ctx.maintenance !== undefined);
  const facts = {
    at,
    ok: result.ok,
    availabilityFailure: result.availabilityFailure,
    maintenance: ctx.maintenance !== undefined,
    latencyMs: result.latencyMs,
  };
  const minutes: Bucket[] = addToBuckets(state.minutes, facts, MINUTE, MINUTE_BUCKETS);
  const hours: Bucket[] = addToBuckets(state.hours, facts, HOUR, HOUR_BUCKETS);
  const firstSampleAt = state.firstSampleAt === undefined ? at : Math.min(state.firstSampleAt, at);
  const agg = { minutes, hours, firstSampleAt };
  const burn = burnAlert(agg, at, ctx.objective, ctx.intervalSeconds);
  const slo =
    ctx.maintenance !== undefined
      ? { open: state.sloIncident }
      : sloStep(state.sloIncident, burn.level, fingerprints.slo(ctx.env, result.probe), result.at);
  const next: ProbeState = {
    ...state,
    status: stepped.machine.status,
    since: stepped.machine.since,
    consecutiveFailures: stepped.machine.consecutiveFailures,
    consecutiveSuccesses: stepped.machine.consecutiveSuccesses,
    failingSince: stepped.machine.failingSince,
    incident: stepped.machine.incident,
    sloIncident: slo.open,
    lastRunAt: !state.lastRunAt || state.lastRunAt < result.at ? result.at : state.lastRunAt,
    firstSampleAt,
    samples: state.samples + 1,
    recent: [...state.recent, { ...result, maintenance: ctx.maintenance }]
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
      .slice(-RECENT_RESULTS),
    minutes,
    hours,
    burn: burn.rates,
    budgetLeft: budgetLeft(agg, at, ctx.objective),
  };
  for (const key of ['failingSince', 'incident', 'sloIncident', 'budgetLeft'] as const)
    if (next[key] === undefined) delete next[key];
  const recorded: Recorded = { state: next, transition: stepped.transition };
  if ('change' in slo && slo.change) {
    recorded.slo = {
      change: slo.change,
      incident: slo.change === 'resolve' ? state.sloIncident! : slo.open!,
      burn,
      at: result.at,
    };
  }
  return recorded;
}
