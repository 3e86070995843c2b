/** Which probes are due, from their state documents (reads only), and the uptime and SLO figures a state yields. */
import { StorageError, type ObjectStore } from '../storage/types';
import { refusalWords } from '../storage/file-errors';
import { UsageError, errorMessage } from '../errors';
import { pool } from '../pool';
import type { ProbeConfig, ResolvedProbe } from './config';
import { resolveProbe } from './config';
import { afresh, decodeStateOf, emptyState, lastResult, parseState, probeKeys, type ProbeState } from './state';
import type { ProbeResult } from './rules';
import { historyKey, readHistory, readProbeDocument, withHistory } from './history';
import { uptimeOver, burnAlert, budgetLeft, HOUR, type Uptime, type BurnAlert } from './slo';
import { activeWindow, type MaintenanceWindow } from '../maintenance/window';

export interface PlannedProbe {
  probe: ResolvedProbe;
  state: ProbeState;
  /** The state document's generation (null: none yet), for the compare-and-swap write. */
  generation: string | null;
  due: boolean;
  /** A state document that could not be read (the probe starts afresh). */
  problem?: string;
}

export interface PlanOptions {
  now?: Date;
  /** Only these probes (names); an unknown name is a usage error. */
  only?: string[];
  /** Every selected probe, due or not (the CLI). */
  all?: boolean;
  /** Seconds of slack: a probe is due when its interval has passed, less this (the scheduler's jitter). */
  slackSeconds?: number;
  environment?: NodeJS.ProcessEnv;
}

export function selectProbes(probes: readonly ProbeConfig[], only?: string[]): ProbeConfig[] {
  if (!only || only.length === 0) return [...probes];
  const names = new Set(probes.map((p) => p.name));
  const unknown = only.filter((n) => !names.has(n));
  if (unknown.length > 0)
    throw new UsageError(`unknown probe(s): ${unknown.join(', ')} (configured: ${[...names].join(', ')})`);
  return probes.filter((p) => only.includes(p.name));
}

/** The hot state document alone (what a run steps a sample into; see history.ts), with its generation. */
export async function readHotState(
  store: ObjectStore,
  env: string,
  name: string,
  now: string,
): Promise<{ state: ProbeState; generation: string | null; problem?: string }> {
  const doc = await readProbeDocument(store, probeKeys.state(env, name));
  return { ...decodeDocument(name, doc?.value, doc?.notJson, now), generation: doc?.generation ?? null };
}

/** A state document as read, decoded: a fresh state, said so, when it is not JSON at all or does not decode. */
function decodeDocument(
  name: string,
  value: unknown,
  notJson: string | undefined,
  now: string,
): { state: ProbeState; problem?: string } {
  return notJson ? afresh(name, now, notJson) : parseState(name, value, now);
}

/**
 * A probe's whole state as reports and pages read it: the hot document with the hourly history's closed hours before
 * its open ones (the generation is the hot document's).
 */
export async function readState(
  store: ObjectStore,
  env: string,
  name: string,
  now: string,
): Promise<{ state: ProbeState; generation: string | null; problem?: string }> {
  const hot = await readHotState(store, env, name, now);
  if (hot.state.historyThrough === undefined) return hot;
  const history = await readHistory(store, env, name);
  const problem = [hot.problem, history.problem].filter(Boolean).join('; ') || undefined;
  return { ...hot, state: withHistory(hot.state, history.hours), ...(problem ? { problem } : {}) };
}

/** Whether a probe is due at `now` by its last run (its state's `lastRunAt`; pure). */
export function isDue(
  config: ProbeConfig,
  lastRunAt: string | undefined,
  now: Date,
  options: Pick<PlanOptions, 'all' | 'slackSeconds'> = {},
): boolean {
  if (options.all) return true;
  const last = lastRunAt ? Date.parse(lastRunAt) : NaN;
  return (
    Number.isNaN(last) || now.getTime() - last >= config.intervalSeconds * 1000 - (options.slackSeconds ?? 5) * 1000
  );
}

/**
 * A probe's plan as a run makes it: the state document read, not yet decoded. Decoding it is left until the probe's
 * answer is in, so what a probe holds while it waits is the document's few strings, not the decoded state: at 200
 * probes in flight the decoded states outlived the young generation's collections and were promoted, to die in old
 * space (measured when decoding made the 360 minute buckets objects, as it no longer does: 200 probes with 90 days of
 * state, medians of four alternating pairs, a run's CPU 279 -> 219 ms, its wall 218 -> 183 ms). Due or not is read from the document's `lastRunAt` alone; a
 * document that does not decode is started afresh (and said so) when the sample is recorded, as planProbe would.
 */
export interface ReadProbe {
  probe: ResolvedProbe;
  /** The state document's JSON value (undefined: none yet). */
  document: unknown;
  generation: string | null;
  due: boolean;
  /** When it was read (a fresh state starts then). */
  at: string;
  /** The document is not JSON at all (readProbeDocument): the probe starts afresh. */
  notJson?: string;
}

export async function readProbe(
  store: ObjectStore,
  env: string,
  config: ProbeConfig,
  options: PlanOptions = {},
  resolved?: ResolvedProbe,
): Promise<ReadProbe> {
  const now = options.now ?? new Date();
  const doc = await readProbeDocument(store, probeKeys.state(env, config.name));
  const last = (doc?.value as { lastRunAt?: unknown } | null | undefined)?.lastRunAt;
  return {
    probe: resolved ?? resolveProbe(config, options.environment),
    document: doc?.value,
    generation: doc?.generation ?? null,
    due: isDue(config, typeof last === 'string' ? last : undefined, now, options),
    at: now.toISOString(),
    ...(doc?.notJson ? { notJson: doc.notJson } : {}),
  };
}

/** The read plan decoded (the state, or a fresh one with the problem said). */
export function decodeRead(read: ReadProbe): PlannedProbe {
  const { state, problem } = decodeDocument(read.probe.config.name, read.document, read.notJson, read.at);
  return {
    probe: read.probe,
    state,
    generation: read.generation,
    due: read.due,
    ...(problem ? { problem } : {}),
  };
}

/** One probe's plan: its state document read and decoded, due or not (`resolved`: the probe already resolved, if it was). */
export async function planProbe(
  store: ObjectStore,
  env: string,
  config: ProbeConfig,
  options: PlanOptions = {},
  resolved?: ResolvedProbe,
): Promise<PlannedProbe> {
  return decodeRead(await readProbe(store, env, config, options, resolved));
}

/**
 * Every selected probe's plan at once. It holds every state document in memory: for a few probes (tests, two
 * runs planned before either writes); the job plans each probe inside the run instead (runProbes), so memory is
 * bounded by the concurrency, not by the number of probes.
 */
export async function planProbes(
  store: ObjectStore,
  env: string,
  probes: readonly ProbeConfig[],
  options: PlanOptions = {},
): Promise<PlannedProbe[]> {
  const selected = selectProbes(probes, options.only);
  return pool(selected, 32, (config) => planProbe(store, env, config, options));
}

export interface UptimeSummary {
  name: string;
  kind: ProbeConfig['kind'];
  status: ProbeState['status'];
  /** Since when it has had that status; none for a probe with no recorded state (never run: `unknown`). */
  since?: string;
  lastRunAt?: string;
  last?: ProbeResult;
  uptime: Record<'1h' | '24h' | '7d' | '30d', Uptime>;
  objective: number;
  latencyObjectiveMs: number;
  /** p95 over 24 h against the latency objective. */
  latencyMet?: boolean;
  burn: BurnAlert;
  budgetLeft?: number;
  incident?: ProbeState['incident'];
  sloIncident?: ProbeState['sloIncident'];
}

export function latencyObjective(config: ProbeConfig): number {
  return config.slo.latencyP95Ms ?? (config.kind === 'postgres' ? 100 : config.kind === 'http' ? 200 : 60_000);
}

/**
 * The status a report shows of a stored state at `now`, with since when (mt-ops uptime, the status page). A stored `maintenance` is the last sample's
 * word: once no maintenance window covers `now` (or the probe now ignores maintenance) the next sample would leave it
 * for `unknown` (rules.ts), and a report says so already (README: "After a maintenance window the status is `unknown`
 * until the samples decide"), since the end of the window its last sample was taken in (or that sample, when no
 * configured window covers it any more). Every other status is the samples' and is shown as stored. Pure.
 */
export function statusAt(
  state: Pick<ProbeState, 'status' | 'since' | 'lastRunAt'>,
  windows: readonly MaintenanceWindow[],
  now: Date,
  ignoreMaintenance = false,
): { status: ProbeState['status']; since: string } {
  const stored = { status: state.status, since: state.since };
  if (state.status !== 'maintenance') return stored;
  if (!ignoreMaintenance && activeWindow(windows, now)) return stored;
  const last = state.lastRunAt ? activeWindow(windows, new Date(state.lastRunAt)) : undefined;
  const ended = last && last.end.getTime() <= now.getTime() ? last.end.toISOString() : undefined;
  return { status: 'unknown', since: ended ?? state.lastRunAt ?? state.since };
}

/**
 * The uptime and SLO figures of one probe's state at `now`. Pure. `windows`, the configuration's maintenance
 * windows, for a report read later than the state was written (statusAt); without them (a run summarising the state
 * it has just written) the status is the stored one.
 */
export function summarize(
  config: ProbeConfig,
  state: ProbeState,
  now: Date,
  windows?: readonly MaintenanceWindow[],
): UptimeSummary {
  const t = now.getTime();
  const agg = { minutes: state.minutes, hours: state.hours, firstSampleAt: state.firstSampleAt };
  const over = (ms: number) => uptimeOver(agg, ms, t, config.intervalSeconds);
  const uptime = { '1h': over(HOUR), '24h': over(24 * HOUR), '7d': over(7 * 24 * HOUR), '30d': over(30 * 24 * HOUR) };
  const objective = config.slo.availability;
  const latencyObjectiveMs = latencyObjective(config);
  const p95 = uptime['24h'].p95;
  return {
    name: config.name,
    kind: config.kind,
    ...(windows
      ? statusAt(state, windows, now, config.ignoreMaintenance)
      : { status: state.status, since: state.since }),
    lastRunAt: state.lastRunAt,
    last: lastResult(state),
    uptime,
    objective,
    latencyObjectiveMs,
    latencyMet: p95 === undefined ? undefined : p95 <= latencyObjectiveMs,
    burn: burnAlert(agg, t, objective, config.intervalSeconds, config.failureThreshold),
    budgetLeft: budgetLeft(agg, t, objective, config.intervalSeconds),
    incident: state.incident,
    sloIncident: state.sloIncident,
  };
}

/** A probe whose state `mt-ops uptime` could not use: no figures (they would be those of a probe that never ran). */
export interface UnreadableUptime {
  name: string;
  kind: ProbeConfig['kind'];
  objective: number;
  latencyObjectiveMs: number;
  /** Why (`not JSON`, `permission denied`, the field that does not decode, ...). */
  unreadable: string;
}

/** One probe as `mt-ops uptime` reports it: its figures, or why its state could not be read. */
export type UptimeReport = (UptimeSummary & { unreadable?: string }) | UnreadableUptime;

/** Where a report's unreadable state is, and whether it could not be read at all or read but not decoded. */
export interface UptimeProblem {
  key: string;
  /** The store refused or failed the read; otherwise the document was read and is damaged. */
  readFailed: boolean;
}

/** A failure of the whole bucket, not of one probe's documents: bad input (a URL naming a file), or no answer. */
function everyProbes(err: unknown): boolean {
  return err instanceof UsageError || (err instanceof StorageError && err.code === 'stalled');
}

/** Why a document could not be read, in plain words for a refusal of the filesystem, else the store's message. */
function readFailure(err: unknown): string {
  const code = err instanceof StorageError ? (err.cause as NodeJS.ErrnoException | undefined)?.code : undefined;
  return refusalWords(code) ?? errorMessage(err);
}

/**
 * One probe's uptime report from its recorded state (reads only): a state that could not be read, or was read but
 * does not decode, is reported as unreadable with why (and where, in `problem`), never as a fresh state. A usage
 * error (the bucket URL names a file) is thrown: it is every probe's, and bad input; so is a bucket that does not
 * answer (a StorageError `stalled`: said once, not as every probe unreadable). An unreadable hourly history
 * leaves the figures of the hot state alone (without the closed hours), said unreadable too. `windows`: the
 * configuration's maintenance section (a stored `maintenance` after its window is reported `unknown`: statusAt).
 */
export async function readUptime(
  store: ObjectStore,
  env: string,
  config: ProbeConfig,
  now: Date,
  windows: readonly MaintenanceWindow[],
): Promise<{ report: UptimeReport; problem?: UptimeProblem }> {
  const name = config.name;
  const unreadable = (why: string, problem: UptimeProblem) => ({
    report: {
      name,
      kind: config.kind,
      objective: config.slo.availability,
      latencyObjectiveMs: latencyObjective(config),
      unreadable: why,
    },
    problem,
  });
  const key = probeKeys.state(env, name);
  let doc: Awaited<ReturnType<typeof readProbeDocument>>;
  try {
    doc = await readProbeDocument(store, key);
  } catch (err) {
    if (everyProbes(err)) throw err;
    return unreadable(readFailure(err), { key, readFailed: true });
  }
  if (doc?.notJson) return unreadable(doc.notJson, { key, readFailed: false });
  // never run: a fresh state's figures (none), and no time since which it has been unknown (not `now`)
  if (doc === undefined) {
    const { since: _none, ...report } = summarize(config, emptyState(name, now.toISOString()), now);
    return { report };
  }
  let decoded: ProbeState | string;
  try {
    decoded = decodeStateOf(name, doc.value);
  } catch (err) {
    decoded = errorMessage(err);
  }
  if (typeof decoded === 'string') return unreadable(decoded, { key, readFailed: false });
  const state = decoded;
  if (state.historyThrough === undefined) return { report: summarize(config, state, now, windows) };
  const history = historyKey(env, name);
  try {
    const read = await readHistory(store, env, name);
    if (!read.problem) return { report: summarize(config, withHistory(state, read.hours), now, windows) };
    return {
      report: { ...summarize(config, state, now, windows), unreadable: 'hourly history damaged, figures without it' },
      problem: { key: history, readFailed: false },
    };
  } catch (err) {
    if (everyProbes(err)) throw err;
    return {
      report: {
        ...summarize(config, state, now, windows),
        unreadable: `hourly history: ${readFailure(err)}, figures without it`,
      },
      problem: { key: history, readFailed: true },
    };
  }
}
