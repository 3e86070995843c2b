/**
 * A probe's state (`<env>/.state/probes/<name>.json`), bounded in size: the state machine, the last 20 results,
 * per-minute aggregates for 6 hours, the hours not yet closed, the open incidents and the SLO figures; the closed hours
 * (90 days of per-hour aggregates) are in a history document written only when an hour closes (history.ts).
 * `recordSample` is the pure step from (whole state, result) to the next state and what to publish; `stepSample` runs
 * it on the hot document; the run writes with compare-and-swap, re-reading and re-applying on a conflict, so no sample
 * is ever lost.
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
import { decodeMinutes } from './compact';
import { PackedMinutes } from './packed-minutes';
import { BucketSchema, closedBefore, mergeClosed, pastFor, pastValid, PastSchema, summaryBuckets } from './history';
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

const Incident = z.object({
  fingerprint: z.string(),
  severity: Severity,
  startsAt: z.string(),
  availability: z.boolean().optional(),
});

/**
 * With `historyThrough` set, `hours` holds only the open hours (the closed ones are in the history document, see
 * history.ts); without it, the one document of before the split, all 90 days of hours, which still reads: its closed
 * hours move to the history at its next sample.
 *
 * Stored as version 3: the per-minute buckets in the compact form of compact.ts (a flat integer array) packed into
 * one string, checked by its own decoder rather than by zod object by object, and the last results each as its own
 * JSON text (kept so in memory too: a sample appends one and nothing reads the others but a person; `lastResult`
 * parses the newest). JSON reads and writes strings far faster than the numbers and objects they stand for, and the
 * hot document's parse and serialisation were the largest part of a sample's CPU. Version 2 (the integer array as a
 * JSON array, the results as objects) and version 1 (the minutes as bucket objects) still read, and are written back
 * as version 3 at the probe's next sample. In memory the minutes stay packed (PackedMinutes, packed-minutes.ts).
 *
 * The minutes' largest latencies (slo.ts: they bound the percentiles) are `minutesLargest` beside the minutes, one
 * per minute (version 3: packed as latency + 1, 0 where not known; version 2: a JSON array, -1 where not known); a
 * document without it (written before) reads with none known. The hours carry theirs as `x`.
 */
const fields = {
  probe: z.string(),
  status: z.enum(['up', 'down', 'maintenance', 'unknown']),
  since: z.string(),
  consecutiveFailures: z.number().int().min(0),
  consecutiveSuccesses: z.number().int().min(0),
  failingSince: z.string().optional(),
  /** The streaks of samples failing any condition, lesser ones too (rules.ts; absent in documents written before). */
  failingChecks: z.number().int().min(0).optional(),
  passingChecks: z.number().int().min(0).optional(),
  checksFailingSince: z.string().optional(),
  incident: Incident.optional(),
  sloIncident: Incident.optional(),
  lastRunAt: z.string().optional(),
  firstSampleAt: z.number().optional(),
  samples: z.number().int().min(0).default(0),
  hours: z.array(BucketSchema),
  /** The newest hour moved into the history document (hours up to it are there, not here). */
  historyThrough: z.number().optional(),
  past: PastSchema.optional(),
  burn: z.record(z.string(), z.number()).optional(),
  budgetLeft: z.number().optional(),
  /**
   * When the probe started afresh because its document was unreadable: the incidents it had open (its own and its
   * SLO's) were lost with it, so both are resolved, once, when the probe is next up with none open (see recordSample).
   */
  reset: z.string().optional(),
};

export const STATE_VERSION = 3;

/** The results of versions 1 and 2: objects. */
const resultObjects = z.array(z.custom<ProbeResult>((v) => typeof v === 'object' && v !== null));

/** Version 1, as written before the compact minutes (each minute a bucket object, starting on a whole minute). */
const StateV1Schema = z.object({
  version: z.literal(1),
  ...fields,
  recent: resultObjects,
  minutes: z.array(BucketSchema.refine((b) => b.t % MINUTE === 0, 'not on a whole minute')),
});

/** Version 2 as stored: the minutes (a JSON array) are checked and decoded by decodeMinutes. */
const StateV2Schema = z.object({
  version: z.literal(2),
  ...fields,
  recent: resultObjects,
  minutes: z.custom<unknown[]>((v) => Array.isArray(v), 'not an array'),
});

/** Version 3 as stored: the minutes packed in a string (unpacked, then checked by decodeMinutes), results as texts. */
const StateV3Schema = z.object({
  version: z.literal(3),
  ...fields,
  recent: z.array(z.string()),
  minutes: z.string(),
});

/** A probe's state in memory (the minutes packed, the results as JSON texts, whichever version was read). */
export type ProbeState = Omit<z.infer<typeof StateV1Schema>, 'version' | 'recent' | 'minutes'> & {
  version: typeof STATE_VERSION;
  /** The per-minute buckets as stored (packed-minutes.ts): a sample changes them on the text. */
  minutes: PackedMinutes;
  /** The last results, oldest first, each the JSON text of a ProbeResult (see lastResult). */
  recent: string[];
};

/** A recorded result from its text, or none when the text is damaged. */
function resultOf(text: string): ProbeResult | undefined {
  try {
    return JSON.parse(text) as ProbeResult;
  } catch {
    return undefined;
  }
}

/** The newest recorded result, or none (none yet, or its text damaged). */
export function lastResult(state: Pick<ProbeState, 'recent'>): ProbeResult | undefined {
  const text = state.recent.at(-1);
  return text === undefined ? undefined : resultOf(text);
}

/** The results appended in time order, the last RECENT_RESULTS kept. */
function withRecent(recent: readonly string[], result: ProbeResult): string[] {
  const text = JSON.stringify(result);
  const newest = recent.length > 0 ? resultOf(recent.at(-1)!) : undefined;
  if (!newest || newest.at <= result.at) return [...recent.slice(-(RECENT_RESULTS - 1)), text];
  // older than the newest (a concurrent run's sample landing second): put in its place by time
  return [...recent, text]
    .map((t) => ({ t, at: String(resultOf(t)?.at ?? '') }))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
    .slice(-RECENT_RESULTS)
    .map((e) => e.t);
}

export function emptyState(probe: string, now: string): ProbeState {
  return {
    version: STATE_VERSION,
    probe,
    status: 'unknown',
    since: now,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    samples: 0,
    recent: [],
    minutes: PackedMinutes.empty,
    hours: [],
  };
}

/** The document to store for a state (version 3: the minutes packed, their largest latencies beside them). */
export function stateDocument(state: ProbeState): Record<string, unknown> {
  const doc: Record<string, unknown> = { ...state, version: STATE_VERSION, minutes: state.minutes.ints };
  const largest = state.minutes.storedLargest();
  if (largest !== undefined) doc.minutesLargest = largest;
  return doc;
}

/**
 * The largest latencies stored beside the minutes back onto them (the decoded buckets are fresh objects: set in
 * place; below 0, not known); ignored unless one number per minute.
 */
function withLargest(minutes: Bucket[], largest: unknown): Bucket[] {
  if (!Array.isArray(largest) || largest.length !== minutes.length) return minutes;
  // each must pack as stored (latency + 1, compact.ts): anything larger is damaged, as a non-number is
  if (!largest.every((x) => typeof x === 'number' && Number.isFinite(x) && Math.round(x) < Number.MAX_SAFE_INTEGER))
    return minutes;
  for (let i = 0; i < minutes.length; i++) {
    const x = largest[i] as number;
    if (x >= 0 && minutes[i]!.h.length > 0) minutes[i]!.x = x;
  }
  return minutes;
}

/** The first problem zod found, with the field it is in (`since: expected string, received number`). */
function issue(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'invalid';
  return `${first.path.length > 0 ? first.path.join('.') : 'the document'}: ${first.message}`;
}

/** A stored document (version 1, 2 or 3) as a state, or why it cannot be read. */
export function decodeState(value: unknown): ProbeState | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const version = (value as { version?: unknown }).version;
  if (version !== 1 && version !== 2 && version !== 3)
    return version === undefined ? 'no version' : `version ${JSON.stringify(version)} is not one this release reads`;
  const texts = (results: ProbeResult[]) => results.map((r) => JSON.stringify(r));
  if (version === 1) {
    const parsed = StateV1Schema.safeParse(value);
    if (!parsed.success) return issue(parsed.error);
    const minutes = packed(parsed.data.minutes);
    if (typeof minutes === 'string') return `minutes: ${minutes}`;
    return { ...parsed.data, version: STATE_VERSION, recent: texts(parsed.data.recent), minutes };
  }
  if (version === 2) {
    const parsed = StateV2Schema.safeParse(value);
    if (!parsed.success) return issue(parsed.error);
    const minutes = decodeMinutes(parsed.data.minutes, MINUTE_BUCKETS);
    if (typeof minutes === 'string') return `minutes: ${minutes}`;
    const largest = (value as { minutesLargest?: unknown }).minutesLargest;
    // counts decodeMinutes accepts but that do not pack (1e300) are refused, not thrown
    const series = packed(withLargest(minutes, largest));
    if (typeof series === 'string') return `minutes: ${series}`;
    return { ...parsed.data, version: STATE_VERSION, recent: texts(parsed.data.recent), minutes: series };
  }
  const parsed = StateV3Schema.safeParse(value);
  if (!parsed.success) return issue(parsed.error);
  const minutes = PackedMinutes.read(
    parsed.data.minutes,
    (value as { minutesLargest?: unknown }).minutesLargest,
    MINUTE_BUCKETS,
  );
  if (typeof minutes === 'string') return `minutes: ${minutes}`;
  return { ...parsed.data, minutes };
}

/**
 * Bucket objects (version 1's, or version 2's decoded) as the packed series, or why they do not pack (out of order,
 * more failures than samples, numbers that are not safe integers).
 */
function packed(buckets: Bucket[]): PackedMinutes | string {
  try {
    return PackedMinutes.from(buckets);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** What is said of a state document that cannot be read: the probe starts afresh. */
export const unreadableState = (probe: string, why: string) =>
  `state of probe ${probe} unreadable (${why}), starting afresh; any incident it had open is resolved when it is next up`;

/** The fresh state of a probe whose document was unreadable, and what is said of it (see `reset`). */
export function afresh(probe: string, now: string, why: string): { state: ProbeState; problem: string } {
  return { state: { ...emptyState(probe, now), reset: now }, problem: unreadableState(probe, why) };
}

/** A stored document as `probe`'s state, or why it is not (it does not decode, or it is another probe's). */
export function decodeStateOf(probe: string, value: unknown): ProbeState | string {
  const state = decodeState(value);
  if (typeof state === 'string' || state.probe === probe) return state;
  return `it is the state of ${JSON.stringify(state.probe)}`;
}

/** A stored document, or a fresh one when absent or unreadable (an unreadable one is reported by the caller). */
export function parseState(probe: string, value: unknown, now: string): { state: ProbeState; problem?: string } {
  if (value === undefined) return { state: emptyState(probe, now) };
  const state = decodeStateOf(probe, value);
  return typeof state === 'string' ? afresh(probe, now, state) : { state };
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
    failingChecks: state.failingChecks,
    passingChecks: state.passingChecks,
    checksFailingSince: state.checksFailingSince,
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
  const minutes = state.minutes.add(facts, MINUTE_BUCKETS);
  const hours: Bucket[] = addToBuckets(state.hours, facts, HOUR, HOUR_BUCKETS);
  const firstSampleAt = state.firstSampleAt === undefined ? at : Math.min(state.firstSampleAt, at);
  const agg = { minutes, hours, firstSampleAt };
  const burn = burnAlert(agg, at, ctx.objective, ctx.intervalSeconds, ctx.failureThreshold);
  const slo =
    ctx.maintenance !== undefined
      ? { open: state.sloIncident }
      : sloStep(state.sloIncident, burn.level, fingerprints.slo(ctx.env, result.probe), result.at, burn.holding);
  // the optional fields are added only when set: deleting them afterwards (as before) turned every state into a
  // dictionary-mode object, several times its size, held across the write's awaits
  const {
    failingSince: _failing,
    failingChecks: _failingChecks,
    passingChecks: _passingChecks,
    checksFailingSince: _checksSince,
    incident: _incident,
    sloIncident: _sloIncident,
    budgetLeft: _budget,
    reset: _reset,
    ...kept
  } = state;
  const next: ProbeState = {
    ...kept,
    status: stepped.machine.status,
    since: stepped.machine.since,
    consecutiveFailures: stepped.machine.consecutiveFailures,
    consecutiveSuccesses: stepped.machine.consecutiveSuccesses,
    lastRunAt: !state.lastRunAt || state.lastRunAt < result.at ? result.at : state.lastRunAt,
    firstSampleAt,
    samples: state.samples + 1,
    recent: withRecent(state.recent, { ...result, maintenance: ctx.maintenance }),
    minutes,
    hours,
    burn: burn.rates,
  };
  if (stepped.machine.failingSince !== undefined) next.failingSince = stepped.machine.failingSince;
  if (stepped.machine.failingChecks !== undefined) next.failingChecks = stepped.machine.failingChecks;
  if (stepped.machine.passingChecks !== undefined) next.passingChecks = stepped.machine.passingChecks;
  if (stepped.machine.checksFailingSince !== undefined) next.checksFailingSince = stepped.machine.checksFailingSince;
  if (stepped.machine.incident !== undefined) next.incident = stepped.machine.incident;
  if (slo.open !== undefined) next.sloIncident = slo.open;
  // see `reset`: kept until the probe is up with no incident open
  const resolveLost = state.reset !== undefined && next.status === 'up' && !next.incident;
  if (state.reset !== undefined && !resolveLost) next.reset = state.reset;
  const left = budgetLeft(agg, at, ctx.objective, ctx.intervalSeconds);
  if (left !== undefined) next.budgetLeft = left;
  const recorded: Recorded = { state: next, transition: stepped.transition };
  if ('change' in slo && slo.change) {
    recorded.slo = {
      change: slo.change,
      incident: slo.change === 'resolve' ? state.sloIncident! : slo.open!,
      burn,
      at: result.at,
    };
  }
  if (resolveLost) {
    // started afresh from an unreadable document: whatever incidents it had open are resolved now that the probe is
    // up (the fan-out ignores a resolve of an incident it has not seen open); at the critical severity, so that
    // every receiver a firing could have reached gets it
    const lost = (fingerprint: string): OpenIncident => ({ fingerprint, severity: 'critical', startsAt: state.reset! });
    recorded.transition ??= {
      kind: 'resolve',
      incident: lost(fingerprints.probe(ctx.env, result.probe)),
      result,
      endsAt: result.at,
    };
    if (!next.sloIncident && !recorded.slo)
      recorded.slo = {
        change: 'resolve',
        incident: lost(fingerprints.slo(ctx.env, result.probe)),
        burn,
        at: result.at,
      };
  }
  return recorded;
}

export interface Step extends Recorded {
  /** The hot document to write. */
  state: ProbeState;
  /** The history with this step's closed hours merged in, to write first (absent: no hour closed). */
  history?: Bucket[];
  /** This sample's bucket when its hour was already closed (more than an hour late): added to the history after. */
  late?: Bucket;
}

/**
 * One sample into the hot document (see history.ts): the hours it closes leave for the history, and recordSample runs
 * on the open hours led by the closed hours' summary buckets. `history` is the history document's hours, read when
 * needsHistory says so (otherwise the hot document's `past` serves).
 */
export function stepSample(
  state: ProbeState,
  result: ProbeResult,
  ctx: SampleContext,
  history: readonly Bucket[] | undefined,
): Step {
  const at = Date.parse(result.at);
  const last = state.lastRunAt ? Date.parse(state.lastRunAt) : at;
  const cutoff = closedBefore(Math.max(at, last));
  const closed = state.hours.filter((b) => b.t < cutoff);
  if (closed.length > 0 && !history) throw new Error(`closing hours of probe ${state.probe} needs its history read`);
  const open = closed.length > 0 ? state.hours.filter((b) => b.t >= cutoff) : state.hours;
  const merged = closed.length > 0 ? mergeClosed(history ?? [], closed) : undefined;
  let through = state.historyThrough;
  for (const b of closed) through = through === undefined ? b.t : Math.max(through, b.t);
  const late = through !== undefined && Math.floor(at / HOUR) * HOUR <= through;
  // the closed hours' sums: from the history when it was read (only its hours up to `through`: one merged by a run
  // whose hot write then failed is still open here), else the hot document's own while its windows still apply
  const known = merged ?? history;
  let past =
    known && through !== undefined
      ? pastFor(
          known.filter((b) => b.t <= through!),
          at,
        )
      : pastValid(state.past, at)
        ? state.past
        : undefined;
  if (late) past = undefined; // a late sample is counted without the history (its figures for this once), which then changes
  const lead = past ? summaryBuckets(past) : [];
  const recorded = recordSample({ ...state, hours: [...lead, ...open] }, result, ctx);
  let hours = recorded.state.hours.filter((b) => !lead.includes(b));
  let lateBucket: Bucket | undefined;
  if (late) {
    const hour = Math.floor(at / HOUR) * HOUR;
    lateBucket = hours.find((b) => b.t === hour);
    hours = hours.filter((b) => b.t !== hour);
  }
  const { historyThrough: _through, past: _past, ...kept } = recorded.state;
  const next: ProbeState = { ...kept, hours };
  if (through !== undefined) next.historyThrough = through;
  if (past !== undefined) next.past = past;
  const step: Step = { ...recorded, state: next };
  if (merged) step.history = merged;
  if (lateBucket) step.late = lateBucket;
  return step;
}
