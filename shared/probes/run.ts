/**
 * One probe run: every due probe concurrently (bounded), each within its timeout and the whole run within its
 * deadline, then each result recorded into its state document with compare-and-swap: on a conflict (another run
 * wrote first) the document is re-read and the sample re-applied, so two concurrent runs never lose a sample and
 * only the run whose write lands reports a transition.
 */
import { performance } from 'node:perf_hooks';
import type { ObjectStore } from '../storage/types';
import { StorageError } from '../storage/types';
import { errorMessage } from '../errors';
import { activeWindow, type MaintenanceWindow } from '../maintenance/window';
import { readState, type PlannedProbe } from './plan';
import { pool } from '../pool';
import { runProbe } from './probe';
import { PROBE_CONCURRENCY } from './config';
import { recordSample, probeKeys, type ProbeState, type SloChange } from './state';
import type { ProbeResult, Transition } from './rules';

export interface RunOptions {
  /** At most this many probes at once (default 50; the operator file's `probes.concurrency`). */
  concurrency?: number;
  /** The run ends by then (ms from its start; default 55 000, within the minute schedule): later probes are skipped. */
  deadlineMs?: number;
  maintenance?: readonly MaintenanceWindow[];
  now?: () => Date;
  /** Attempts at the compare-and-swap write before giving up on one sample (default 8). */
  casAttempts?: number;
}

export interface ProbeOutcome {
  name: string;
  result: ProbeResult;
  state?: ProbeState;
  transition?: Transition;
  slo?: SloChange;
  /** The state could not be written: the sample is lost, and said so. */
  writeError?: string;
  /** Skipped: the run's deadline came first. */
  skipped?: boolean;
}

export interface ProbeRunResult {
  env: string;
  startedAt: string;
  durationMs: number;
  outcomes: ProbeOutcome[];
  /** Probes not due this run. */
  notDue: string[];
  passed: number;
  failed: number;
}

export async function runProbes(store: ObjectStore, env: string, planned: readonly PlannedProbe[], options: RunOptions = {}): Promise<ProbeRunResult> {
  const now = options.now ?? (() => new Date());
  const started = performance.now();
  const startedAt = now().toISOString();
  const deadline = started + (options.deadlineMs ?? 55_000);
  const due = planned.filter((p) => p.due);
  const outcomes = await pool(due, options.concurrency ?? PROBE_CONCURRENCY.default, async (plan): Promise<ProbeOutcome> => {
    const remaining = Math.floor(deadline - performance.now());
    const config = plan.probe.config;
    if (remaining < 100) {
      const at = now().toISOString();
      const result: ProbeResult = { probe: config.name, kind: config.kind, at, ok: false, availabilityFailure: false, failed: [], error: 'skipped: the run ran out of time' };
      return { name: config.name, result, skipped: true };
    }
    const probe = remaining < config.timeoutMs ? { ...plan.probe, config: { ...config, timeoutMs: remaining } } : plan.probe;
    const result = await runProbe(probe, { store, env, now });
    const window = config.ignoreMaintenance ? undefined : activeWindow(options.maintenance ?? [], new Date(result.at));
    return record(store, env, plan, result, window?.name, options.casAttempts ?? 8);
  });
  return {
    env,
    startedAt,
    durationMs: Math.round(performance.now() - started),
    outcomes,
    notDue: planned.filter((p) => !p.due).map((p) => p.probe.config.name),
    passed: outcomes.filter((o) => !o.skipped && o.result.ok).length,
    failed: outcomes.filter((o) => !o.skipped && !o.result.ok).length,
  };
}

async function record(store: ObjectStore, env: string, plan: PlannedProbe, result: ProbeResult, maintenance: string | undefined, attempts: number): Promise<ProbeOutcome> {
  const config = plan.probe.config;
  const ctx = { env, objective: config.slo.availability, intervalSeconds: config.intervalSeconds, failureThreshold: config.failureThreshold, successThreshold: config.successThreshold, maintenance };
  let state = plan.state;
  let generation = plan.generation;
  const key = probeKeys.state(env, config.name);
  for (let attempt = 1; ; attempt++) {
    const recorded = recordSample(state, result, ctx);
    try {
      await store.writeJson(key, recorded.state, { ifGeneration: generation });
      return { name: config.name, result, state: recorded.state, transition: recorded.transition, slo: recorded.slo };
    } catch (err) {
      const conflict = err instanceof StorageError && (err.code === 'precondition_failed' || err.code === 'already_exists');
      if (!conflict || attempt >= attempts) {
        return { name: config.name, result, writeError: `writing the state of ${config.name}: ${errorMessage(err)}` };
      }
      // another run wrote first: take its document and apply this sample on top
      const fresh = await readState(store, env, config.name, result.at);
      state = fresh.state;
      generation = fresh.generation;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
    }
  }
}
