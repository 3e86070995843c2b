/**
 * One probe run: every due probe concurrently (bounded), each within its timeout and the whole run within its
 * deadline, then each result recorded into its state document with compare-and-swap: on a conflict (another run
 * wrote first) the document is re-read and the sample re-applied, so two concurrent runs never lose a sample and
 * only the run whose write lands reports a transition.
 */
import { performance } from 'node:perf_hooks';
import type { ObjectStore } from '../storage/types';
import { errorMessage } from '../errors';
import { activeWindow, type MaintenanceWindow } from '../maintenance/window';
import {
  decodeRead,
  isDue,
  readProbe,
  selectProbes,
  type PlannedProbe,
  type PlanOptions,
  type ReadProbe,
  type UptimeSummary,
} from './plan';
import { pool } from '../pool';
import { runProbe } from './probe';
import { PROBE_CONCURRENCY, resolveProbe, type ProbeConfig, type ResolvedProbe } from './config';
import { probeKeys, type SloChange } from './state';
import { record, type RecordContext } from './record';
import { stateCacheOf, type CachedState } from './state-cache';
import type { ProbeResult, ProbeStatus, Transition } from './rules';

/**
 * The schedule's period (functions/probe runs every minute). A probe whose interval is no longer is due at every
 * scheduled run, so its request starts at once, beside the read of its state, instead of after it; in the rare run
 * where the state then says it is not due after all (a second delivery of the same tick, seconds after the first),
 * the answer is dropped unrecorded. Probes with a longer interval are probed only once their state says they are due.
 */
export const SCHEDULE_SECONDS = 60;

export interface RunOptions {
  /** At most this many probes at once (default 50; the operator file's `probes.concurrency`). */
  concurrency?: number;
  /** The run ends by then (ms from its start; default 55 000, within the minute schedule): later probes are skipped. */
  deadlineMs?: number;
  maintenance?: readonly MaintenanceWindow[];
  now?: () => Date;
  /** Attempts at the compare-and-swap write before giving up on one sample (default 8). */
  casAttempts?: number;
  /** Keep each probe's uptime and SLO summary in its outcome (the CLI prints them); off, nothing of the state is kept. */
  summaries?: boolean;
  /**
   * Plan each probe from the state this process wrote last, when it has it (state-cache.ts; default on). Off, every
   * plan reads its document, and nothing is kept after the run.
   */
  stateCache?: boolean;
}

export interface ProbeOutcome {
  name: string;
  result: ProbeResult;
  /** The probe's status once this sample is recorded (absent when it could not be). */
  status?: ProbeStatus;
  /** Uptime and SLO figures after this sample (with `summaries`). */
  summary?: UptimeSummary;
  transition?: Transition;
  slo?: SloChange;
  /** The state could not be written: the sample is lost, and said so. */
  writeError?: string;
  /** The state document could not be read: the probe started afresh. */
  stateProblem?: string;
  /**
   * Skipped, no sample of the target: the run's deadline came first (before the probe could start, or before its
   * timeout, which the deadline cut short), or its state could not be read to say whether it was due.
   */
  skipped?: boolean;
  /** Not run: its configuration is wrong (a `${VAR}` not set); no sample recorded, no alert. */
  configError?: string;
}

export interface ProbeRunResult {
  env: string;
  startedAt: string;
  durationMs: number;
  outcomes: ProbeOutcome[];
  /** Probes not due this run. */
  notDue: string[];
  passed: number;
  /** Failed, warnings apart (isWarning). */
  failed: number;
  /** Failed only conditions below the probe's own severity (isWarning): neither passed nor failed. */
  warnings: number;
  /** No sample of the target: the run's deadline came first, or the state could not say whether it was due. */
  skipped: number;
  /** Results whose state could not be written or read (writeError), passed or failed. */
  notRecorded: number;
}

/**
 * A result that failed only conditions below the probe's own severity (a certificate's warning on a critical probe):
 * the target answered, its state stays as the samples say (up), and it does not count against availability. Shown as
 * WARN by mt-ops probe and counted apart from the failures (there, in the run's log line and in the probe function's
 * result); it does not fail the command (its alert, at its own severity, still fires at the threshold). Not a result
 * with no sample (skipped, misconfigured), nor one the probe could not get (an error counts against availability).
 */
export const isWarning = (o: ProbeOutcome): boolean =>
  !o.skipped && !o.configError && !o.result.ok && !o.result.availabilityFailure && o.result.failed.length > 0;

/**
 * The scheduled run: each selected probe is planned (its state read, due or not) just before it runs, inside the
 * bounded pool, and nothing of its state is kept once its sample is written: memory is bounded by the concurrency,
 * whatever the number of probes.
 */
export async function runProbes(
  store: ObjectStore,
  env: string,
  probes: readonly ProbeConfig[],
  options: RunOptions & Pick<PlanOptions, 'only' | 'all' | 'slackSeconds' | 'environment'> = {},
): Promise<ProbeRunResult> {
  const now = options.now ?? (() => new Date());
  const selected = selectProbes(probes, options.only);
  const planOptions = { all: options.all, slackSeconds: options.slackSeconds, environment: options.environment };
  const cache = options.stateCache === false ? undefined : stateCacheOf(store);
  return execute(
    store,
    env,
    selected,
    // the probe already resolved to start its request early is the plan's (not resolved a second time); a state this
    // process wrote last is planned from its copy (state-cache.ts), any other is read
    (config, resolved) => {
      const cached = cache?.get(probeKeys.state(env, config.name));
      if (!cached) return readProbe(store, env, config, { ...planOptions, now: now() }, resolved);
      return Promise.resolve(fromCache(config, resolved, cached, now(), planOptions));
    },
    // a scheduled run records only the samples still due once written (see RecordContext.dueOnConflict)
    {
      ...options,
      ...(cache ? { cache } : {}),
      ...(options.all ? {} : { dueOnConflict: { slackSeconds: options.slackSeconds } }),
    },
    (config) =>
      options.all || config.intervalSeconds <= SCHEDULE_SECONDS ? resolveProbe(config, options.environment) : undefined,
  );
}

/** A probe's plan from the state this process wrote last (the write checks it is still the document's). */
function fromCache(
  config: ProbeConfig,
  resolved: ResolvedProbe | undefined,
  cached: CachedState,
  now: Date,
  options: Pick<PlanOptions, 'all' | 'slackSeconds' | 'environment'>,
): PlannedProbe {
  return {
    probe: resolved ?? resolveProbe(config, options.environment),
    state: cached.state,
    generation: cached.generation,
    due: isDue(config, cached.state.lastRunAt, now, options),
  };
}

/** Runs probes planned beforehand (planProbes), from the state they read then: a write that meets a newer document re-reads it. */
export async function runPlanned(
  store: ObjectStore,
  env: string,
  planned: readonly PlannedProbe[],
  options: RunOptions = {},
): Promise<ProbeRunResult> {
  return execute(store, env, planned, async (p) => p, options);
}

/** What every probe of a run shares: one object for the run, rather than closures over it for each probe. */
interface Run extends RecordContext {
  now: () => Date;
  /** performance.now() when the run must end. */
  deadline: number;
  /** The run's time limit (ms from its start). */
  limitMs: number;
  maintenance: readonly MaintenanceWindow[];
}

async function execute<T>(
  store: ObjectStore,
  env: string,
  items: readonly T[],
  plan: (item: T, resolved: ResolvedProbe | undefined) => Promise<PlannedProbe | ReadProbe>,
  options: RunOptions & Pick<RecordContext, 'cache' | 'dueOnConflict'>,
  /** The probe to start at once, while its state is read (see SCHEDULE_SECONDS), or none: probe once it is due. */
  early: (item: T) => ResolvedProbe | undefined = () => undefined,
): Promise<ProbeRunResult> {
  const now = options.now ?? (() => new Date());
  const started = performance.now();
  const startedAt = now().toISOString();
  const limitMs = options.deadlineMs ?? 55_000;
  const run: Run = {
    store,
    env,
    now,
    deadline: started + limitMs,
    limitMs,
    maintenance: options.maintenance ?? [],
    attempts: options.casAttempts ?? 8,
    summarizeAt: options.summaries ? now : undefined,
    ...(options.cache ? { cache: options.cache } : {}),
    ...(options.dueOnConflict ? { dueOnConflict: options.dueOnConflict } : {}),
  };
  // the run ends by its deadline (and a grace for the last writes) even when the bucket stops answering: a probe still
  // reading or recording then is said not recorded, its write left to finish or fail on its own (compare-and-swap
  // keeps it safe), and no further probe is started
  const settled: Array<ProbeOutcome | string | undefined> = new Array(items.length);
  // each target's answer as soon as it comes: a probe whose state the bucket did not read or write in time still
  // shows it (unfinished), not recorded
  const answers: Array<ProbeResult | undefined> = new Array(items.length);
  // the platform's timer (it never holds the process open); once it fires the pool starts no further probe
  const expired = AbortSignal.timeout(Math.max(0, Math.ceil(run.deadline + WRITE_GRACE_MS - performance.now())));
  await Promise.race([
    pool(
      items,
      options.concurrency ?? PROBE_CONCURRENCY.default,
      async (item, i) => {
        settled[i] = await probeItem(run, item, plan, early, (result) => (answers[i] = result));
      },
      expired,
    ),
    new Promise((resolve) => expired.addEventListener('abort', resolve, { once: true })),
  ]);
  // a probe not due yields its name
  const all = items.map((item, i) => settled[i] ?? unfinished(run, identify(item), answers[i]));
  const outcomes = all.filter((o): o is ProbeOutcome => typeof o !== 'string');
  const notDue = all.filter((o): o is string => typeof o === 'string');
  return {
    env,
    startedAt,
    durationMs: Math.round(performance.now() - started),
    outcomes,
    notDue,
    passed: outcomes.filter((o) => !o.skipped && o.result.ok).length,
    failed: outcomes.filter((o) => !o.skipped && !o.result.ok && !isWarning(o)).length,
    warnings: outcomes.filter(isWarning).length,
    skipped: outcomes.filter((o) => o.skipped).length,
    notRecorded: outcomes.filter((o) => o.writeError).length,
  };
}

/**
 * The probe started within the run's deadline (its timeout cut to what is left of the run), or undefined when too
 * little time is left to start it. Its answer is its result, or, when the deadline cut its timeout short and it then
 * ran out of time, what to say instead: the target was not given its timeout, so that is no sample of it.
 */
function start(run: Run, probe: ResolvedProbe): Promise<ProbeResult | string> | undefined {
  const remaining = Math.floor(run.deadline - performance.now());
  if (remaining < 100) return undefined;
  if (remaining >= probe.config.timeoutMs) return runProbe(probe, run);
  return cutShort(run, { ...probe, config: { ...probe.config, timeoutMs: remaining } }, probe.config.timeoutMs);
}

/** A timer may fire a little early (whole milliseconds): a probe that failed this close to its timeout timed out. */
const TIMER_SLACK_MS = 5;

async function cutShort(run: Run, probe: ResolvedProbe, timeoutMs: number): Promise<ProbeResult | string> {
  const started = performance.now();
  const result = await runProbe(probe, run);
  // no usable answer (its error says why) by the end of the shortened timeout: the run's limit, not the target's
  if (
    !result.ok &&
    result.error !== undefined &&
    performance.now() - started >= probe.config.timeoutMs - TIMER_SLACK_MS
  )
    return `the run's time limit (${run.limitMs / 1000} s) came before the probe's timeout (${timeoutMs} ms)`;
  return result;
}

/**
 * One probe of the run: planned, probed, recorded. What it holds while it waits is kept small on purpose: V8 keeps an
 * async function's locals and parameters across each await, dead or not, and whatever a probe holds across the waits
 * of a busy run (its request, the state writes of the others) outlives two young-generation collections and is
 * promoted, to stay until a full collection. So the state goes to record() by a tail call (this frame is gone then),
 * and record() lets go of each document as soon as it is stepped.
 */
async function probeItem<T>(
  run: Run,
  item: T,
  plan: (item: T, resolved: ResolvedProbe | undefined) => Promise<PlannedProbe | ReadProbe>,
  early: (item: T) => ResolvedProbe | undefined,
  heard: (result: ProbeResult) => void,
): Promise<ProbeOutcome | string> {
  const speculative = early(item);
  // the request goes out now, the state read beside it (each costs a round trip; neither needs the other)
  const probing = speculative && noted(start(run, speculative), speculative, heard);
  let planned: PlannedProbe | ReadProbe;
  try {
    planned = await plan(item, speculative);
  } catch (err) {
    // the state could not be read (the store failed): this probe's sample is not recorded (its write could not be
    // checked against anything), the others are; the target's answer, when it was asked, is still its result
    return unplanned(run, identify(item), errorMessage(err), speculative, probing);
  }
  const config = planned.probe.config;
  if (!planned.due) {
    await probing; // started before the state said it was not due (another run just probed it): dropped
    return config.name;
  }
  if (planned.probe.problem) {
    await probing;
    return misconfigured(run, config, planned.probe.problem);
  }
  const answer = speculative ? probing : noted(start(run, planned.probe), planned.probe, heard);
  if (!answer) return outOfTime(run, config);
  const result = await answer;
  if (typeof result === 'string') return limited(run, config, result);
  const window = config.ignoreMaintenance ? undefined : activeWindow(run.maintenance, new Date(result.at));
  // a run's plan is decoded only now (see ReadProbe): nothing decoded was held while the probe waited
  let decoded: PlannedProbe;
  try {
    decoded = 'document' in planned ? decodeRead(planned) : planned;
  } catch (err) {
    // a document decoding cannot make sense of (a damaged one is said unreadable instead, and the probe starts
    // afresh): this sample is not recorded and the document is left as it is; the other probes go on
    return { name: config.name, result, writeError: `reading the state of ${config.name}: ${errorMessage(err)}` };
  }
  return record(run, config, decoded.state, decoded.generation, decoded.problem, result, window?.name);
}

/**
 * The outcome of a probe whose state could not be read. Its request, when it went out beside the read, is the
 * target's answer and its result (passed or failed as the target did), only not recorded. A probe with a longer
 * interval was not probed (only its state says whether it is due): skipped, saying why.
 */
async function unplanned(
  run: Run,
  id: Pick<ProbeConfig, 'name' | 'kind'>,
  problem: string,
  speculative: ResolvedProbe | undefined,
  probing: Promise<ProbeResult | string> | undefined,
): Promise<ProbeOutcome> {
  const { name, kind } = id;
  const error = `reading the state of ${name}: ${problem}`;
  if (!speculative) {
    const why = `${error}; not probed (its interval is longer than the schedule's ${SCHEDULE_SECONDS} s: only its state says whether it is due)`;
    return { name, result: noSample(name, kind, run.now(), why), writeError: why, skipped: true };
  }
  if (speculative.problem) {
    await probing;
    return misconfigured(run, speculative.config, speculative.problem);
  }
  if (!probing) return outOfTime(run, speculative.config);
  const result = await probing; // never rejects
  if (typeof result === 'string') return limited(run, speculative.config, result);
  return { name, result, writeError: `${error}; this sample is not recorded` };
}

/**
 * A `${VAR}` not set (refused at load; the environment changed since): a configuration error, never a sample, so it
 * can neither page nor spend the error budget.
 */
function misconfigured(run: Run, config: ProbeConfig, problem: string): ProbeOutcome {
  const error = `configuration error in probe ${config.name}: ${problem}`;
  return { name: config.name, result: noSample(config.name, config.kind, run.now(), error), configError: error };
}

/** How long after its deadline a run waits for the state writes under way before it ends without them. */
export const WRITE_GRACE_MS = 3_000;

/**
 * Still probing or recording past the run's deadline and its grace: the bucket did not answer in time (a store that
 * stopped answering, a stalled network filesystem). No sample is known to be kept and none raised an alert: not
 * recorded, saying why. The target's answer, when it came (the state read or write is what did not finish), is its
 * result, passed or failed as the target did (as when the state could not be read: unplanned); without one, skipped.
 * The write goes on in the background and lands or fails on its own.
 */
function unfinished(run: Run, id: Pick<ProbeConfig, 'name' | 'kind'>, answer: ProbeResult | undefined): ProbeOutcome {
  const why = `not finished within the run's time limit (${run.limitMs / 1000} s, and ${WRITE_GRACE_MS / 1000} s more for its state): the bucket did not answer in time; this sample is not known to be recorded`;
  if (answer) return { name: id.name, result: answer, writeError: why };
  return { name: id.name, result: noSample(id.name, id.kind, run.now(), why), writeError: why, skipped: true };
}

/** A probe's answer (a sample of the target: no configuration error, not cut short), also handed to `heard` as it comes. */
function noted(
  answer: Promise<ProbeResult | string> | undefined,
  probe: ResolvedProbe,
  heard: (result: ProbeResult) => void,
): Promise<ProbeResult | string> | undefined {
  if (answer && !probe.problem) void answer.then((r) => typeof r !== 'string' && heard(r));
  return answer;
}

/** Not started: the run's deadline came first. */
function outOfTime(run: Run, config: ProbeConfig): ProbeOutcome {
  const result = noSample(config.name, config.kind, run.now(), 'skipped: the run ran out of time');
  return { name: config.name, result, skipped: true };
}

/** Its timeout cut short by the run's deadline, and timed out: no sample of the target, never a failure or an alert. */
function limited(run: Run, config: ProbeConfig, why: string): ProbeOutcome {
  return { name: config.name, result: noSample(config.name, config.kind, run.now(), why), skipped: true };
}

/** A result that is no sample (the state unreadable, the configuration wrong, no time left): failed, saying why. */
function noSample(probe: string, kind: ProbeConfig['kind'], at: Date, error: string): ProbeResult {
  return { probe, kind, at: at.toISOString(), ok: false, availabilityFailure: false, failed: [], error };
}

/** The name and kind of a run's item: a probe's configuration, or its plan. */
function identify(item: unknown): Pick<ProbeConfig, 'name' | 'kind'> {
  const i = item as Partial<ProbeConfig> & { probe?: { config: ProbeConfig } };
  const config = i.probe?.config ?? i;
  return { name: config.name ?? '?', kind: config.kind ?? 'http' };
}
