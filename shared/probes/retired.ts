/**
 * Incidents of probes no longer configured. A probe removed from (or renamed in) the operator file while its incident
 * (or its SLO's) is open is never sampled again, so nothing would ever resolve it: the PagerDuty incident would stay
 * open and the sweep would remind of it every few hours, for good. The scheduled run looks at the state documents of
 * probes it does not know (the first run of a process, then once an hour, or when its probes change), closes their
 * open incidents in the document (compare-and-swap; the streaks start again, so a probe added back later and still
 * failing pages anew) and returns them: the report publishes their resolve, saying why (report.ts). The listing and the
 * reads wait at most RETIRE_ANSWER_MS for each answer (a bucket that stops answering is a problem, looked at again at
 * the next pass); a write is waited for, since one left behind could land with nobody publishing its resolve.
 */
import { isConflict, type ObjectStore } from '../storage/types';
import { answerWithin } from '../storage/answer-within';
import { errorMessage } from '../errors';
import { readProbeDocument } from './history';
import type { OpenIncident } from './rules';
import { decodeStateOf, lastResult, probeKeys, stateDocument, type ProbeState } from './state';

/** A probe no longer configured whose open incidents were closed. */
export interface RetiredProbe {
  name: string;
  /** Its kind, as its last result says (absent: no result kept). */
  kind?: string;
  /** Its incidents that were open: its own and its SLO's. */
  incidents: Array<OpenIncident & { slo: boolean }>;
  /** When they were closed (ISO). */
  at: string;
}

export interface RetireResult {
  retired: RetiredProbe[];
  /** What could not be looked at or closed (each retried at the next pass). */
  problems: string[];
}

/** How long the pass waits for each answer of its listing and reads before it gives up until the next pass. */
export const RETIRE_ANSWER_MS = 10_000;

/** How often a process looks again with the same probes (a removed probe's incident fired by another instance). */
export const RETIRE_INTERVAL_MS = 3_600_000;

const lastPass = new WeakMap<ObjectStore, { names: string; at: number }>();
/** The configured probes as one comparable value, whatever their order. */
const namesKey = (names: Iterable<string>) => [...names].sort().join('\n');

/** Whether this process should look now: its first run, its probes changed, or an hour since it last looked. */
export function retireDue(store: ObjectStore, names: readonly string[], now: Date): boolean {
  const last = lastPass.get(store);
  return !last || last.names !== namesKey(names) || now.getTime() - last.at >= RETIRE_INTERVAL_MS;
}

/** The state with its incidents closed and its streaks started again. */
function closed(state: ProbeState, at: string): ProbeState {
  const {
    incident: _i,
    sloIncident: _s,
    failingSince: _f,
    failingChecks: _fc,
    passingChecks: _pc,
    checksFailingSince: _cs,
    ...kept
  } = state;
  return { ...kept, status: 'unknown', since: at, consecutiveFailures: 0, consecutiveSuccesses: 0 };
}

/**
 * Closes the open incidents of the probes whose state documents are in the bucket but that `configured` does not
 * name. Never throws: what fails is a problem, and the next pass tries again.
 */
export async function retireIncidents(
  store: ObjectStore,
  env: string,
  configured: readonly string[],
  now: Date,
): Promise<RetireResult> {
  const known = new Set(configured);
  const prefix = probeKeys.statePrefix(env);
  const result: RetireResult = { retired: [], problems: [] };
  const at = now.toISOString();
  const names: string[] = [];
  // only what is safe to abandon is bounded: a listing and reads
  const reading = answerWithin(store, RETIRE_ANSWER_MS);
  try {
    for await (const info of reading.list(prefix)) {
      const rest = info.key.slice(prefix.length);
      if (!rest.endsWith('.json') || rest.includes('/')) continue;
      const name = rest.slice(0, -'.json'.length);
      if (!known.has(name)) names.push(name);
    }
  } catch (err) {
    result.problems.push(`listing the probes' states: ${errorMessage(err)}`);
    return result;
  }
  for (const name of names) {
    try {
      const doc = await readProbeDocument(reading, probeKeys.state(env, name));
      if (!doc || doc.notJson) continue;
      const state = decodeStateOf(name, doc.value);
      if (typeof state === 'string' || (!state.incident && !state.sloIncident)) continue;
      await store.writeJson(probeKeys.state(env, name), stateDocument(closed(state, at)), {
        ifGeneration: doc.generation,
      });
      const incidents: RetiredProbe['incidents'] = [];
      if (state.incident) incidents.push({ ...state.incident, slo: false });
      if (state.sloIncident) incidents.push({ ...state.sloIncident, slo: true });
      const kind = lastResult(state)?.kind;
      result.retired.push({ name, ...(kind ? { kind } : {}), incidents, at });
    } catch (err) {
      // a conflict: something wrote it since (a run that still has the probe): looked at again at the next pass
      if (!isConflict(err)) result.problems.push(`closing the incidents of probe ${name}: ${errorMessage(err)}`);
    }
  }
  if (result.problems.length === 0) lastPass.set(store, { names: namesKey(known), at: now.getTime() });
  return result;
}
