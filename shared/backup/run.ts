/** Taking one backup: lease -> snapshot -> tables -> sequences -> manifest, all or nothing. */
import { hostname } from 'node:os';
import { z } from 'zod';
import { withDeadlineSignal, type Deadline } from '../deadline';
import type pg from 'pg';
import type { ObjectStore } from '../storage/types';
import { StorageError } from '../storage/types';
import { withLease, newLeaseHolder, LeaseHeldError, LeaseLostError, type Lease } from '../storage/lease';
import { OpsError, UsageError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { VERSION } from '../version';
import {
  discoverTables,
  discoverSequences,
  discoverMaterializedViews,
  readScopeNames,
  structureFingerprint,
  type DiscoveredTable,
} from './discover';
import { openSnapshot, lockTables, readSequence } from './snapshot';
import { isLockTimeout } from '../pg/locks';
import { TableFailedError } from './table-error';
import { dumpTable, type DumpProgress } from './table-dump';
import { keys, newBackupId } from './layout';
import { dumpLargeObjects } from './large-objects';
import { ManifestSchema, type Manifest, type TableEntry, type SequenceEntry } from './manifest';
import { DEFAULT_SCOPE_FIELDS, checkScopeNames, type Scope, type ScopeFields } from './scope';

export interface BackupOptions {
  databaseUrl: string;
  store: ObjectStore;
  env: string;
  label?: string;
  /** `safety`: a restore's backup of its target (never `latest`; its own retention). Default `backup`. */
  purpose?: 'backup' | 'safety';
  scope?: Partial<Scope>;
  /** Where the scope's lists came from, for the field paths of errors and warnings (default `schemas`, `excludeTables`). */
  scopeFields?: ScopeFields;
  /** A problem that does not stop the backup (an excluded table that does not exist). */
  onWarning?: (message: string) => void;
  /** Parallel connections reading tables (all on one exported snapshot). */
  jobs?: number;
  compressionLevel?: number;
  leaseTtlMs?: number;
  statementTimeoutSeconds?: number;
  /** How long a table locked by another session is waited for before the backup fails naming it and the holder (default 60). */
  lockTimeoutSeconds?: number;
  trigger?: { kind: 'manual' | 'scheduled'; messageId?: string };
  onProgress?: (event: BackupProgress) => void;
  /** For tests and callers that need the clock fixed. */
  now?: () => Date;
  /** Called once the snapshot is taken and the tables are locked, before any data is read. */
  afterSnapshot?: () => Promise<void>;
  /**
   * Stops the backup (a signal to the CLI): connections closed at once, what was written removed, the lease released;
   * runBackup then rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /**
   * The run's time limit (from infra/ through MT_OPS_TIME_LIMIT_SECONDS): at its stop time the backup stops as on
   * `signal` and runBackup rejects with a TimeLimitError naming the limit.
   */
  deadline?: Deadline;
}

export type BackupProgress =
  | { phase: 'started'; backupId: string; tables: number }
  | { phase: 'table'; table: string; rows: number; rawBytes: number; done: boolean; index: number; total: number }
  | { phase: 'finished'; backupId: string };

export type BackupResult =
  | { status: 'completed'; manifest: Manifest }
  /** A redelivered trigger whose message already produced a complete backup. */
  | { status: 'duplicate'; backupId: string; messageId: string }
  /** Another backup of this environment holds the lease. */
  | { status: 'busy'; holder: string; until: string };

/** `<env>/.triggers/<messageId>.json`: this trigger message already produced that backup. */
const TriggerMarker = z.object({ backupId: z.string(), at: z.string() });

/**
 * Takes one backup: lease -> snapshot -> every table streamed to the store -> sequences -> manifest (last).
 * Any failure fails the whole backup, names the table and cause, and removes what was written (best effort).
 */
export async function runBackup(options: BackupOptions): Promise<BackupResult> {
  const { store, env } = options;
  const trigger = options.trigger ?? { kind: 'manual' as const };
  if (trigger.messageId) {
    const marker = await store.readJson(keys.trigger(env, trigger.messageId));
    const backupId = marker ? TriggerMarker.safeParse(marker.value).data?.backupId : undefined;
    if (backupId && (await store.stat(keys.manifest(env, backupId)))) {
      return { status: 'duplicate', backupId, messageId: trigger.messageId };
    }
  }
  const stop = withDeadlineSignal(options.signal, options.deadline);
  stop?.throwIfAborted();
  try {
    return await withLease(
      store,
      keys.lease(env),
      { ttlMs: options.leaseTtlMs ?? 120_000, holder: newLeaseHolder() },
      (lease, lost) => takeBackup(options, trigger, lease, stop ? AbortSignal.any([lost, stop]) : lost),
    );
  } catch (err) {
    if (err instanceof LeaseHeldError)
      return { status: 'busy', holder: err.holder, until: err.expiresAt.toISOString() };
    if (err instanceof LeaseLostError) {
      throw new OpsError(
        `backup stopped: ${err.message}; no manifest was written and its objects were removed`,
        'lease_lost',
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * The backup proper, under the lease. `signal` (the lease lost, or the caller's stop) closes every connection at once,
 * which fails whatever is running (a COPY is cut off); then what was written is removed and no manifest is written.
 */
async function takeBackup(
  options: BackupOptions,
  trigger: NonNullable<BackupOptions['trigger']>,
  lease: Lease,
  signal: AbortSignal,
): Promise<BackupResult> {
  const { store, env } = options;
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const backupId = newBackupId(startedAt);
  const prefix = keys.backupPrefix(env, backupId);
  const scope: Scope = { schemas: options.scope?.schemas, excludeTables: options.scope?.excludeTables ?? [] };
  const session = await openSnapshot(options.databaseUrl, options.statementTimeoutSeconds, options.lockTimeoutSeconds);
  const stop = () => void session.abort();
  signal.addEventListener('abort', stop, { once: true });
  try {
    signal.throwIfAborted();
    // A scope naming what does not exist is bad input (HTTP 400, exit 2, a poison trigger), never a failed backup.
    const names = checkScopeNames(scope, await readScopeNames(session.leader), options.scopeFields);
    if (names.errors.length > 0) throw new UsageError(`invalid backup scope: ${names.errors.join('; ')}`, names.errors);
    for (const warning of names.warnings) options.onWarning?.(warning);
    const { tables, included, relations } = await discoverTables(session.leader, scope, options.scopeFields);
    if (tables.length === 0) {
      // Schemas named on purpose that hold nothing: the request asked for nothing (bad input, no page). The default
      // scope finding no table at all is a failure: the database has lost its tables.
      if (scope.schemas?.length) {
        const field = (options.scopeFields ?? DEFAULT_SCOPE_FIELDS).schemas;
        const which =
          scope.schemas.length === 1 ? `schema ${scope.schemas[0]} holds` : `schemas ${scope.schemas.join(', ')} hold`;
        const excluded = scope.excludeTables.length > 0 ? ' (once the excluded tables are left out)' : '';
        const issue = `${field}: ${which} no tables${excluded}: nothing to back up`;
        throw new UsageError(`invalid backup scope: ${issue}`, [issue]);
      }
      throw new OpsError('nothing to back up: no tables in the default scope (user schemas)', 'empty_scope');
    }
    await lockTables(session.leader, tables, session);
    const sequenceList = await discoverSequences(session.leader, scope, relations);
    const materializedViews = await discoverMaterializedViews(session.leader, scope);
    const sequences: SequenceEntry[] = [];
    for (const seq of sequenceList) sequences.push({ ...seq, ...(await readSequence(session.leader, seq)) });
    // Marks the attempt, so an interrupted run is visible (list --all) and removable (retention) even before data lands.
    await store.put(
      keys.started(env, backupId),
      JSON.stringify({
        backupId,
        purpose: options.purpose ?? 'backup',
        startedAt: startedAt.toISOString(),
        trigger,
        tables: tables.length,
        host: hostname(),
        pid: process.pid,
      }),
      { contentType: 'application/json' },
    );
    options.onProgress?.({ phase: 'started', backupId, tables: tables.length });
    await options.afterSnapshot?.();

    const entries = await dumpAllTables(tables, options, prefix, session, signal);
    // every large object of the database, whatever the scope (they belong to no schema), in the same snapshot
    const largeObjects = await dumpLargeObjects(session.leader, store, prefix, {
      compressionLevel: options.compressionLevel ?? 1,
      signal,
    });
    const finishedAt = now();
    const manifest: Manifest = ManifestSchema.parse({
      format: 'mt-ops-backup/1',
      id: backupId,
      env,
      ...(options.label ? { label: options.label } : {}),
      purpose: options.purpose ?? 'backup',
      trigger,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      database: describeDatabase(options.databaseUrl, session.serverVersion),
      snapshot: { time: session.time, txidSnapshot: session.txidSnapshot },
      scope: {
        schemas: [...new Set(tables.map((t) => t.schema))].sort(),
        excludeTables: scope.excludeTables,
        ...(included.length > 0 ? { included } : {}),
      },
      tables: entries,
      sequences,
      materializedViews,
      ...(largeObjects ? { largeObjects } : {}),
      structureFingerprint: structureFingerprint(tables),
      totals: {
        tables: entries.length,
        rows: sum(entries, (e) => e.rows),
        rawBytes: sum(entries, (e) => e.rawBytes),
        compressedBytes: sum(entries, (e) => e.compressedBytes),
      },
      tool: { name: 'mt-ops', version: VERSION },
    });
    // The manifest is written last: it is the only proof that the backup is complete. Never by a run that lost its lease.
    signal.throwIfAborted();
    await lease.assertHeld();
    await store.put(keys.manifest(env, backupId), JSON.stringify(manifest, null, 2), {
      contentType: 'application/json',
      metadata: { kind: 'mt-ops-manifest', backupId },
    });
    if (trigger.messageId) {
      await store
        .writeJson(
          keys.trigger(env, trigger.messageId),
          { backupId, at: finishedAt.toISOString() },
          { ifGeneration: null },
        )
        .catch(() => {}); // a marker that exists already points at an earlier complete backup
    }
    // lost right as the manifest was written: another backup may have started; this one is not kept
    signal.throwIfAborted();
    options.onProgress?.({ phase: 'finished', backupId });
    return { status: 'completed', manifest };
  } catch (err) {
    if (signal.aborted) await session.abort();
    await removePrefix(store, prefix);
    if (signal.aborted) throw signal.reason;
    // a lock timeout outside lockTables (which names its table): the catalog reads met a locked table
    if (!(err instanceof TableFailedError) && isLockTimeout(err)) {
      throw new OpsError(
        `backup failed: ${redactString(errorMessage(err))}: ${await session.describeLockHolders(session.leader)}`,
        'locked',
        { cause: err },
      );
    }
    throw asBackupError(err);
  } finally {
    signal.removeEventListener('abort', stop);
    await session.close();
  }
}

/** Reads the tables with `jobs` connections, the largest first; the first failure stops the rest. */
async function dumpAllTables(
  tables: DiscoveredTable[],
  options: BackupOptions,
  prefix: string,
  session: Awaited<ReturnType<typeof openSnapshot>>,
  stopped: AbortSignal,
): Promise<TableEntry[]> {
  const order = tables.map((t, index) => ({ t, index })).sort((a, b) => b.t.bytes - a.t.bytes);
  const entries: TableEntry[] = new Array(tables.length);
  const jobs = Math.max(1, Math.min(options.jobs ?? 1, tables.length || 1));
  const abort = new AbortController();
  const onStop = () => abort.abort(stopped.reason);
  if (stopped.aborted) onStop();
  else stopped.addEventListener('abort', onStop, { once: true });
  let next = 0;
  let done = 0;
  const worker = async (client: pg.ClientBase) => {
    while (!abort.signal.aborted && next < order.length) {
      const { t, index } = order[next++]!;
      const object = keys.tableObject(index + 1);
      const name = `${t.schema}.${t.name}`;
      const report = (p: DumpProgress, finished: boolean) =>
        options.onProgress?.({
          phase: 'table',
          table: name,
          rows: p.rows,
          rawBytes: p.rawBytes,
          done: finished,
          index: done,
          total: tables.length,
        });
      try {
        const dumped = await dumpTable(client, t, options.store, `${prefix}${object}`, {
          compressionLevel: options.compressionLevel ?? 1,
          signal: abort.signal,
          onProgress: (p) => report(p, false),
        });
        done++;
        report({ rows: dumped.rows, rawBytes: dumped.rawBytes }, true);
        entries[index] = {
          schema: t.schema,
          name: t.name,
          object,
          format: 'copy-text-gzip',
          columns: t.columns,
          ...dumped,
        };
      } catch (err) {
        // a worker's COPY may queue behind a lock another session awaits (an ALTER TABLE waiting on the leader's lock)
        const holders =
          !abort.signal.aborted && isLockTimeout(err)
            ? `: ${await session.describeLockHolders(client, { exclusiveOn: [name] })}`
            : '';
        const wrapped = holders
          ? new TableFailedError(name, `table ${name}: ${redactString(errorMessage(err))}${holders}`, { cause: err })
          : tableError(name, err);
        if (!abort.signal.aborted) abort.abort(wrapped);
        throw wrapped;
      }
    }
  };
  try {
    const clients: pg.ClientBase[] = [session.leader];
    for (let i = 1; i < jobs; i++) clients.push(await session.openWorker());
    const results = await Promise.allSettled(clients.map((c) => worker(c)));
    if (abort.signal.aborted) throw abort.signal.reason;
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return entries;
  } finally {
    stopped.removeEventListener('abort', onStop);
  }
}

function tableError(table: string, err: unknown): OpsError {
  if (err instanceof OpsError) return err;
  const message = redactString(errorMessage(err));
  const storage = err instanceof StorageError ? ' (storage)' : '';
  return new TableFailedError(table, `table ${table}${storage}: ${message}`, { cause: err });
}

function asBackupError(err: unknown): Error {
  if (err instanceof OpsError || err instanceof UsageError) return err;
  return new OpsError(`backup failed: ${redactString(errorMessage(err))}`, 'backup_failed', { cause: err });
}

/** Best-effort removal of a failed backup's objects (its manifest first, if any), so nothing incomplete lingers. */
async function removePrefix(store: ObjectStore, prefix: string): Promise<void> {
  try {
    const found: string[] = [];
    for await (const object of store.list(prefix)) found.push(object.key);
    found.sort((a, b) => Number(b.endsWith('/manifest.json')) - Number(a.endsWith('/manifest.json')));
    for (const key of found) await store.delete(key).catch(() => {});
  } catch {
    // the store itself is failing: retention removes orphans later
  }
}

/** Host and database name only: never a password, never a user. */
export function describeDatabase(databaseUrl: string, serverVersion: string): Manifest['database'] {
  try {
    const url = new URL(databaseUrl);
    const name = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres';
    return { ...(url.host ? { host: url.host } : {}), name, serverVersion };
  } catch {
    return { name: 'unknown', serverVersion };
  }
}

function sum<T>(items: T[], f: (t: T) => number): number {
  return items.reduce((acc, item) => acc + f(item), 0);
}
