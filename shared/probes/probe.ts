/**
 * Probing one target: the three kinds (http, postgres, backup-freshness) each observe, then the probe's conditions
 * decide. Every kind answers within its timeout and never throws: a failure to probe is a failed result saying why.
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { connect } from '../pg/connect';
import { backupFreshness } from '../backup';
import type { ObjectStore } from '../storage/types';
import { errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { evaluateAll, type ConditionResult, type Observation } from './evaluate';
import type { ResolvedProbe } from './config';
import { SEVERITY_RANK, verdict, type ProbeResult } from './rules';
import { probeHttp } from './http';

export interface ProbeDeps {
  store: ObjectStore;
  env: string;
  now?: () => Date;
}

interface Observed {
  observation: Observation;
  error?: string;
  timings?: ProbeResult['timings'];
  redirects?: string[];
  excerpt?: string;
  details?: Record<string, unknown>;
}

/** Resolves with `fn()` or, after `ms`, with `onTimeout()`; `late` gets the value if it arrives after all. */
async function within<T>(ms: number, fn: () => Promise<T>, onTimeout: () => T, late?: (value: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const work = fn();
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve(onTimeout());
    }, ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    if (timedOut && late) work.then(late, () => {});
  }
}

async function observePostgres(url: string, timeoutMs: number): Promise<Observed> {
  const started = performance.now();
  let client: pg.Client | undefined;
  // The probe's timeout ends the connection attempt too: without it the socket of a server that accepts and never
  // answers stayed open until pg's own 15 s connection timeout, long after the probe had reported.
  const attempt = new AbortController();
  const work = async (): Promise<Observed> => {
    try {
      client = await connect(url, 'probed database', { signal: attempt.signal });
    } catch (err) {
      return {
        observation: { connected: false, responseTimeMs: performance.now() - started },
        error: redactString(errorMessage(err)),
      };
    }
    const connectMs = performance.now() - started;
    try {
      const t0 = performance.now();
      await client.query('SELECT 1');
      const queryMs = performance.now() - t0;
      const { rows } = await client.query<{ used: number; max: number; size: string; version: string }>(
        // client connections only: the server's own processes (checkpointer, walwriter, autovacuum, replication
        // senders) are listed too but take no slot of max_connections (they overstated the use by 4 to 6)
        `SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS used,
                current_setting('max_connections')::int AS max,
                pg_database_size(current_database())::text AS size, current_setting('server_version') AS version`,
      );
      const r = rows[0]!;
      const details = {
        queryMs: Math.round(queryMs * 100) / 100,
        connections: r.used,
        maxConnections: r.max,
        connectionsUsedPercent: Math.round((r.used / r.max) * 1000) / 10,
        databaseSizeBytes: Number(r.size),
        serverVersion: r.version,
      };
      return {
        observation: { connected: true, responseTimeMs: queryMs, json: details },
        timings: { connectMs, totalMs: performance.now() - started },
        details,
      };
    } catch (err) {
      return {
        observation: { connected: true, responseTimeMs: performance.now() - started },
        error: redactString(errorMessage(err)),
      };
    } finally {
      await client.end().catch(() => {});
    }
  };
  return within(timeoutMs, work, () => {
    attempt.abort();
    void client?.end().catch(() => {});
    return {
      observation: { connected: client !== undefined, responseTimeMs: timeoutMs },
      error: `timed out after ${timeoutMs} ms`,
    };
  });
}

const HOUR = 3_600_000;

async function observeFreshness(deps: ProbeDeps, timeoutMs: number): Promise<Observed> {
  const started = performance.now();
  const now = (deps.now ?? (() => new Date()))().getTime();
  const work = async (): Promise<Observed> => {
    try {
      const fresh = await backupFreshness(deps.store, deps.env);
      const verify = fresh.newestVerify;
      const details = {
        backups: fresh.backups,
        newestBackupId: fresh.newest?.id ?? null,
        newestAgeHours: fresh.newest ? Math.round(((now - fresh.newest.time.getTime()) / HOUR) * 100) / 100 : null,
        verify: verify
          ? {
              ok: verify.ok,
              backupId: verify.backupId,
              ageDays: Math.round(((now - verify.at.getTime()) / (24 * HOUR)) * 100) / 100,
            }
          : { ok: false, backupId: null, ageDays: null },
      };
      // what a null stands for, said by the conditions that read it ('got null (no complete backup in the bucket)')
      const nullReasons: Record<string, string> = {};
      if (!fresh.newest) nullReasons.newestAgeHours = nullReasons.newestBackupId = 'no complete backup in the bucket';
      if (!verify) nullReasons['verify.ageDays'] = nullReasons['verify.backupId'] = 'no verify recorded';
      return {
        observation: { connected: true, responseTimeMs: performance.now() - started, json: details, nullReasons },
        timings: { totalMs: performance.now() - started },
        details,
      };
    } catch (err) {
      return {
        observation: { connected: false, responseTimeMs: performance.now() - started },
        error: `reading the bucket: ${redactString(errorMessage(err))}`,
      };
    }
  };
  return within(timeoutMs, work, () => ({
    observation: { connected: false, responseTimeMs: timeoutMs },
    error: `timed out after ${timeoutMs} ms reading the bucket`,
  }));
}

/** Probes one target and judges it by its conditions. Never throws. */
export async function runProbe(probe: ResolvedProbe, deps: ProbeDeps): Promise<ProbeResult> {
  const at = (deps.now ?? (() => new Date()))().toISOString();
  const p = probe.config;
  const base = { probe: p.name, kind: p.kind, at };
  if (probe.problem) {
    return {
      ...base,
      ok: false,
      severity: p.severity,
      availabilityFailure: true,
      failed: [{ condition: 'configuration', severity: p.severity, message: probe.problem }],
      error: probe.problem,
    };
  }
  let observed: Observed;
  try {
    if (p.kind === 'http') {
      const out = await probeHttp({
        url: probe.url!,
        method: p.method,
        headers: probe.headers,
        body: probe.body,
        secrets: probe.secrets,
        timeoutMs: p.timeoutMs,
        maxRedirects: p.maxRedirects,
        tls: p.tls,
      });
      observed = {
        observation: out.observation,
        error: out.error,
        timings: out.timings,
        redirects: out.redirects,
        excerpt: out.excerpt,
      };
    } else if (p.kind === 'postgres') {
      const url = probe.url ?? process.env.DATABASE_URL;
      observed = url
        ? await observePostgres(url, p.timeoutMs)
        : { observation: { connected: false }, error: 'no database: set url or DATABASE_URL' };
    } else {
      observed = await observeFreshness(deps, p.timeoutMs);
    }
  } catch (err) {
    observed = { observation: { connected: false }, error: redactString(errorMessage(err)) };
  }
  const results = evaluateAll(
    probe.conditions.map((c) => c.condition),
    observed.observation,
  ).map((r, i) => ({ ...r, severity: probe.conditions[i]!.severity }));
  const judged = verdict(results, p.severity);
  for (const f of judged.failed) f.message = redactString(f.message);
  // no connection, and the conditions say that is what the operator expects: the answer, not a failure to probe
  if (observed.error && judged.ok && expectsNoConnection(probe, results, observed.observation))
    observed.error = undefined;
  if (observed.error) {
    // the probe could not get a usable answer: that is a failure at the probe's severity, whatever the conditions say
    judged.failed.unshift({ condition: 'probe', severity: p.severity, message: observed.error });
    judged.ok = false;
    judged.availabilityFailure = true;
    if (!judged.severity || SEVERITY_RANK[p.severity] > SEVERITY_RANK[judged.severity]) judged.severity = p.severity;
  }
  // written out rather than spread from base and judged: spreading gave every result a hidden class (map) of its own
  // once the spread's inline cache went generic, some 300 bytes more per result, and the run keeps one per probe
  const status = observed.observation.status;
  const latencyMs = round(observed.observation.responseTimeMs);
  const { ok, severity, availabilityFailure, failed } = judged;
  const result: ProbeResult =
    severity === undefined
      ? { probe: p.name, kind: p.kind, at, ok, availabilityFailure, failed, status, latencyMs }
      : { probe: p.name, kind: p.kind, at, ok, severity, availabilityFailure, failed, status, latencyMs };
  if (observed.timings) result.timings = roundTimings(observed.timings);
  if (observed.error) result.error = observed.error;
  if (observed.redirects && observed.redirects.length > 0) result.redirects = observed.redirects;
  if (observed.excerpt) result.excerpt = observed.excerpt;
  if (observed.details) result.details = observed.details;
  return result;
}

/**
 * The probe got no connection and a condition that held asserts just that: `[CONNECTED] == false` (a port that must
 * stay closed from here), `[DNS_RCODE] == NXDOMAIN` (a name that must not resolve). Gatus judges such a probe by its
 * conditions alone; here too, so those conditions can hold at all (a failure to connect otherwise fails the probe
 * whatever the conditions say). A condition on anything else (`[DNS_RCODE] == NOERROR`, `[STATUS] != 200`) excuses
 * nothing.
 */
function expectsNoConnection(
  probe: ResolvedProbe,
  results: readonly ConditionResult[],
  observation: Observation,
): boolean {
  if (observation.connected !== false) return false;
  const failedLookup = observation.dnsRcode !== undefined && observation.dnsRcode !== 'NOERROR';
  return probe.conditions.some(
    ({ condition }, i) =>
      results[i]!.ok &&
      [condition.left, condition.right].some(
        (op) =>
          op.kind === 'placeholder' && !op.fn && (op.name === 'CONNECTED' || (op.name === 'DNS_RCODE' && failedLookup)),
      ),
  );
}

function round(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 100) / 100;
}

function roundTimings(t: NonNullable<ProbeResult['timings']>): NonNullable<ProbeResult['timings']> {
  const out: NonNullable<ProbeResult['timings']> = { totalMs: round(t.totalMs)! };
  for (const k of ['dnsMs', 'connectMs', 'tlsMs', 'ttfbMs'] as const) if (t[k] !== undefined) out[k] = round(t[k]);
  return out;
}
