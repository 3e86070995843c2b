/**
 * A sample recorded into its probe's state: stepped into the state document and written with compare-and-swap, the
 * document re-read and the sample re-applied on a conflict (another run wrote first), so two concurrent runs never lose
 * a sample and only the run whose write lands reports a transition (run.ts calls it for each probe it probed).
 */
import { isConflict, type ObjectStore } from '../storage/types';
import { errorMessage } from '../errors';
import { isDue, readHotState, summarize, type PlanOptions } from './plan';
import type { ProbeConfig } from './config';
import {
  stepSample,
  probeKeys,
  stateDocument,
  type ProbeState,
  type SampleContext,
  type SloChange,
  type Step,
} from './state';
import {
  addLate,
  historyDocument,
  historyKey,
  needsHistory,
  readHistory,
  withHistory,
  type HistoryRead,
} from './history';
import type { Bucket } from './slo';
import type { ProbeResult, ProbeStatus, Transition } from './rules';
import type { ProbeOutcome } from './run';
import type { StateCache } from './state-cache';

/** What recording a sample needs of its run. */
export interface RecordContext {
  store: ObjectStore;
  env: string;
  /** Attempts at the compare-and-swap write before giving up on one sample. */
  attempts: number;
  /** Set when the outcome is to carry the probe's summary (the time it is made at). */
  summarizeAt: (() => Date) | undefined;
  /** Where each written state is kept for the next run's plan (state-cache.ts), if anywhere. */
  cache?: StateCache;
  /**
   * A scheduled run (only the due probes): after a conflict, the sample is applied only if the probe is still due by
   * the document read again. Another run that recorded a sample of it since the plan (a second delivery of the same
   * tick, running at the same time) has made this one not due, as it would have had it come seconds later. Absent
   * (mt-ops probe, which probes every probe): the sample is always applied.
   */
  dueOnConflict?: Pick<PlanOptions, 'slackSeconds'>;
}

/** What the outcome needs of a written step (the stepped state itself only for a summary). */
interface Written {
  status: ProbeStatus;
  transition?: Transition;
  slo?: SloChange;
  late?: Bucket;
  state?: ProbeState;
}

/**
 * The sample into the probe's state, written with compare-and-swap. `state` (the plan's, or a re-read one after a
 * conflict) is let go once stepped, and the stepped state once its write is under way (see probeItem), unless the
 * run keeps it in the state cache for the next run (state-cache.ts): then it is kept there once written, and only then.
 * The probe's name instead of an outcome: not due after all (see dueOnConflict), nothing recorded.
 */
export async function record(
  run: RecordContext,
  config: ProbeConfig,
  state: ProbeState | undefined,
  generation: string | null,
  planProblem: string | undefined,
  result: ProbeResult,
  maintenance: string | undefined,
): Promise<ProbeOutcome | string> {
  const { store, env } = run;
  const ctx: SampleContext = {
    env,
    objective: config.slo.availability,
    intervalSeconds: config.intervalSeconds,
    failureThreshold: config.failureThreshold,
    successThreshold: config.successThreshold,
    maintenance,
  };
  const key = probeKeys.state(env, config.name);
  const at = Date.parse(result.at);
  /** The outcome of a sample that could not be recorded, saying why (and what the plan found, if anything). */
  const notRecorded = (writeError: string): ProbeOutcome => {
    run.cache?.forget(key); // its generation is not known any more
    return { name: config.name, result, writeError, ...(planProblem ? { stateProblem: planProblem } : {}) };
  };
  // the hourly history, read only when this sample needs it (about once an hour; see history.ts)
  let history: HistoryRead | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      if (!history && needsHistory(state!, at)) history = await readHistory(store, env, config.name);
      let step: Step | undefined = stepSample(state!, result, ctx, history?.hours);
      state = undefined; // a conflict re-reads it
      if (step.history) {
        // closed hours first: merged by keeping each hour's fuller bucket, so a retry or a concurrent run's merge of
        // the same hour changes nothing; the hot write below then decides
        history!.generation = await store.writeJson(
          historyKey(env, config.name),
          historyDocument(config.name, step.history),
          { ifGeneration: history!.generation },
        );
        history!.hours = step.history;
      }
      const writing = writeState(store, key, step.state, generation);
      const written: Written = { status: step.state.status };
      if (step.transition !== undefined) written.transition = step.transition;
      if (step.slo !== undefined) written.slo = step.slo;
      if (step.late !== undefined) written.late = step.late;
      if (run.summarizeAt) written.state = step.state;
      const keep = run.cache && step.state;
      step = undefined;
      generation = await writing;
      if (keep) run.cache!.set(key, keep, generation);
      // the sample is recorded: what follows never re-applies it
      const outcome = await recorded(run, config, result, written, history);
      if (planProblem)
        outcome.stateProblem = outcome.stateProblem ? `${planProblem}; ${outcome.stateProblem}` : planProblem;
      return outcome;
    } catch (err) {
      if (!isConflict(err) || attempt >= run.attempts)
        return notRecorded(`writing the state of ${config.name}: ${errorMessage(err)}`);
      // another run wrote first (the history or the hot document): take its documents and apply this sample on top
      let fresh: Awaited<ReturnType<typeof readHotState>>;
      try {
        fresh = await readHotState(store, env, config.name, result.at);
      } catch (reread) {
        // the store stopped answering between the conflict and the re-read: this sample is not recorded, the
        // other probes' are
        return notRecorded(
          `writing the state of ${config.name}: another run wrote it first, and reading it again failed: ${errorMessage(reread)}`,
        );
      }
      state = fresh.state;
      generation = fresh.generation;
      if (run.dueOnConflict && !isDue(config, state.lastRunAt, new Date(at), run.dueOnConflict)) {
        run.cache?.forget(key);
        return config.name; // another run sampled it since the plan: this sample would count the same tick twice
      }
      // what the plan would have said had it read this (a document damaged since is started afresh, and said so)
      if (fresh.problem) planProblem = fresh.problem;
      history = undefined;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
    }
  }
}

/** The hot document's write (serialised by the store before its first wait, so the state is not held after). */
function writeState(store: ObjectStore, key: string, state: ProbeState, generation: string | null): Promise<string> {
  return store.writeJson(key, stateDocument(state), { ifGeneration: generation });
}

/** The outcome of a recorded sample: a late sample's bucket added to the history, the summary when asked for. */
async function recorded(
  run: RecordContext,
  config: ProbeConfig,
  result: ProbeResult,
  written: Written,
  known: HistoryRead | undefined,
): Promise<ProbeOutcome> {
  // kept until the run ends (one per probe): the optional fields are added only when set, since deleting them
  // afterwards (as before) made each outcome a dictionary-mode object of some 450 bytes more
  const outcome: ProbeOutcome = { name: config.name, result, status: written.status };
  if (written.transition !== undefined) outcome.transition = written.transition;
  if (written.slo !== undefined) outcome.slo = written.slo;
  // an unreadable history was started afresh (as an unreadable state is): said so
  if (known?.problem) outcome.stateProblem = known.problem;
  try {
    if (written.late) known = await addLateSample(run.store, run.env, config.name, written.late, known, run.attempts);
    if (run.summarizeAt && written.state) {
      const state = written.state;
      known ??= state.historyThrough === undefined ? undefined : await readHistory(run.store, run.env, config.name);
      outcome.summary = summarize(config, withHistory(state, known?.hours ?? []), run.summarizeAt());
    }
  } catch (err) {
    const problem = `the hourly history of ${config.name}: ${errorMessage(err)}`;
    outcome.stateProblem = outcome.stateProblem ? `${outcome.stateProblem}; ${problem}` : problem;
  }
  return outcome;
}

/** A late sample's bucket added to the history (compare-and-swap, re-read on a conflict: added exactly once). */
async function addLateSample(
  store: ObjectStore,
  env: string,
  name: string,
  late: Bucket,
  known: HistoryRead | undefined,
  attempts: number,
): Promise<HistoryRead> {
  let history = known ?? (await readHistory(store, env, name));
  for (let attempt = 1; ; attempt++) {
    const hours = addLate(history.hours, [late]);
    try {
      const generation = await store.writeJson(historyKey(env, name), historyDocument(name, hours), {
        ifGeneration: history.generation,
      });
      return { hours, generation };
    } catch (err) {
      if (!isConflict(err) || attempt >= attempts) throw err;
      history = await readHistory(store, env, name);
    }
  }
}
