/**
 * The restore capability's entry: plan (read the target and the source once, every check), then confirmation, the
 * safety backup and the one-transaction load (execute.ts). The source is any RestoreSource (source.ts): this file
 * knows no backup format.
 */
import type pg from 'pg';
import { connect } from '../pg/connect';
import { isLockTimeout, watchLockWaits, type LockWatch } from '../pg/locks';
import { runBackup } from '../backup/run';
import { SAFETY_LABEL } from '../backup/manifest';
import type { ObjectStore } from '../storage/types';
import { OpsError, UsageError } from '../errors';
import { runPreflight, type Preflight } from './preflight';
import {
  leafForeignKeys,
  canUseReplicaRole,
  nonEmptyTables,
  readTargetSchema,
  referencingClosure,
  tableKey,
  type TargetSchema,
} from './target-schema';
import { executeRestore, type ExecuteResult, type RestoreProgress } from './execute';
import { checkOutsideKeys } from './outside-keys';
import { planMaterializedViews, type MaterializedViewStep } from './matviews';
import { largeObjectsOverwrite, type LargeObjectsPlan } from './large-objects';
import type { RestoreSource, SourceDescription } from './source';

export type { RestoreSource } from './source';
export { backupSource } from './backup-source';
export { legacySource } from './legacy-source';

export interface RestoreOptions {
  databaseUrl: string;
  source: RestoreSource;
  /** `schema.table` subset. */
  tables?: string[];
  /** Overwrite restored tables that hold rows (without asking). */
  yes?: boolean;
  /** Also empty tables that are not restored but reference restored ones (refused without it, naming them). */
  cascade?: boolean;
  allowSchemaDrift?: boolean;
  /**
   * Load with per-row triggers (user triggers fire, foreign keys are checked row by row) even when the role may
   * set session_replication_role = replica, which is the faster default.
   */
  fireTriggers?: boolean;
  /**
   * Materialized views: true refreshes every view of the target after the load, false touches none; by default
   * those populated in the source are refreshed and those that were not are left unpopulated.
   */
  refreshMaterializedViews?: boolean;
  /** Where the pre-restore safety backup goes; false to skip it (--no-safety-backup). */
  safetyBackup: { store: ObjectStore; env: string } | false;
  /** Asked when tables with rows would be overwritten and `yes` is not set (a TTY prompt); false refuses. */
  confirm?: (plan: RestorePlan) => Promise<boolean>;
  onProgress?: (p: RestoreProgress | { phase: 'safety-backup'; backupId?: string }) => void;
  /** Test hook: runs before each table's load, inside the transaction. */
  beforeTable?: (table: string, index: number) => Promise<void>;
  /**
   * Stops the restore (a signal to the CLI): the connection is closed at once, so the server rolls the transaction back
   * (a running safety backup removes itself); restore() then rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Every statement (preflight included) waits at most this long for a lock (default 30); then it fails naming the holder. */
  lockTimeoutSeconds?: number;
}

export interface RestorePlan {
  database: string;
  source: SourceDescription;
  preflight: Preflight;
  /** Rows the backup holds per planned table. */
  rows: Record<string, number>;
  totalRows: number;
  /** Stored bytes to read (native format). */
  bytes: number;
  sequences: 'recorded' | 'max-id';
  /** What happens to each materialized view of the target, in refresh order. */
  materializedViews: MaterializedViewStep[];
  safetyBackup: 'will be taken' | 'skipped (--no-safety-backup)';
  /** The backup's large objects: how many, how many bytes, which the target holds already. */
  largeObjects?: LargeObjectsPlan;
  notes: string[];
}

export interface RestoreResult {
  plan: RestorePlan;
  safetyBackupId?: string;
  tables: ExecuteResult['tables'];
  sequences: ExecuteResult['sequences'];
  rebuiltIndexes: string[];
  timings: ExecuteResult['timings'] & { planMs: number };
  largeObjects?: { count: number; bytes: number };
  rows: number;
  bytes: number;
  durationMs: number;
}

/**
 * How a restore ends, for the restore drill (verify --restore-into): `beforeFinish` runs inside the transaction after
 * every check (the drill compares the restored tables there), then the transaction commits, or with `rollback` is
 * rolled back so the scratch database stays as it was.
 */
export interface RestoreFinish {
  beforeFinish?: (client: pg.ClientBase, plan: RestorePlan) => Promise<void>;
  rollback?: boolean;
}

/** Reads the target and the source and runs every check; changes nothing. Problems are in plan.preflight.problems. */
export async function planRestore(options: RestoreOptions, client?: pg.ClientBase): Promise<RestorePlan> {
  const own = client ? undefined : await connectTarget(options);
  const watch = own ? watchTarget(options, own) : undefined;
  try {
    return (await plan(options, (client ?? own)!)).plan;
  } catch (err) {
    throw own && watch ? await namingLockHolder(err, options, own, watch, {}) : err;
  } finally {
    await watch?.stop();
    await own?.end().catch(() => {});
  }
}

/** The plan, and the target schema it was made against (read once: the load uses the same). */
async function plan(
  options: RestoreOptions,
  client: pg.ClientBase,
): Promise<{ plan: RestorePlan; target: TargetSchema }> {
  const target = await readTargetSchema(client);
  const { source } = options;
  const inspected = await source.inspect(target);
  const { tables } = inspected;
  const selected =
    options.tables && options.tables.length > 0 ? options.tables : tables.map((t) => tableKey(t.schema, t.name));
  const nonEmpty = new Set(await nonEmptyTables(client, candidates(target, selected)));
  const preflight = runPreflight({
    tables,
    sequences: inspected.sequences,
    target,
    nonEmpty,
    canUseReplica: await canUseReplicaRole(client),
    options: {
      tables: options.tables,
      allowSchemaDrift: options.allowSchemaDrift,
      yes: options.yes,
      fireTriggers: options.fireTriggers,
      cascade: options.cascade,
    },
  });
  preflight.problems.unshift(...inspected.problems);
  if (source.checkStored && preflight.problems.length === 0) {
    preflight.problems.push(...(await source.checkStored(preflight.tables)));
  }
  if (source.copyRows && preflight.problems.length === 0) {
    // Keys into tables that are not restored: checked against the target's rows now, not after the whole load.
    preflight.problems.push(
      ...(await checkOutsideKeys(client, source.copyRows, preflight.tables, target, new Set(preflight.truncate))),
    );
  }
  const lo = source.largeObjects ? await source.largeObjects.plan(client, { tables: options.tables }) : undefined;
  preflight.problems.push(...(lo?.problems ?? []));
  const views = planMaterializedViews(inspected.materializedViews, target, {
    refresh: options.refreshMaterializedViews,
    subset: Boolean(options.tables && options.tables.length > 0),
  });
  preflight.notes.push(...inspected.notes, ...(lo?.notes ?? []), ...views.notes);
  const rows: Record<string, number> = {};
  for (const t of preflight.tables) rows[t.key] = t.source.rows ?? 0;
  const restorePlan: RestorePlan = {
    database: target.database,
    source: inspected.description,
    preflight,
    rows,
    totalRows: Object.values(rows).reduce((a, b) => a + b, 0),
    bytes: source.storedBytes(preflight.tables),
    sequences: inspected.sequenceValues,
    materializedViews: views.steps,
    safetyBackup: options.safetyBackup ? 'will be taken' : 'skipped (--no-safety-backup)',
    ...(lo?.plan ? { largeObjects: lo.plan } : {}),
    notes: preflight.notes,
  };
  return { plan: restorePlan, target };
}

/** The selected tables that exist in the target, and every table whose foreign keys reach them. */
function candidates(target: TargetSchema, selected: string[]): Array<{ schema: string; name: string }> {
  const { reached } = referencingClosure(
    target,
    selected.flatMap((k) => target.partitions.get(k) ?? [k]).filter((k) => target.tables.has(k)),
  );
  return [...reached]
    .filter((k) => !target.partitions.has(k))
    .map((k) => target.tables.get(k)!)
    .filter(Boolean);
}

export class RestoreRefused extends OpsError {
  override readonly name = 'RestoreRefused';
  constructor(readonly problems: string[]) {
    super(
      `restore refused before any change (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
      'preflight_failed',
    );
  }
}

/** Why a plan cannot go ahead: bad input (UsageError, exit 2) when the operator named what is not there, else RestoreRefused. */
export function refusal(preflight: Pick<Preflight, 'problems' | 'inputProblems'>): Error | undefined {
  if (preflight.inputProblems.length > 0)
    return new UsageError(preflight.inputProblems.join('; '), preflight.inputProblems);
  return preflight.problems.length > 0 ? new RestoreRefused(preflight.problems) : undefined;
}

/**
 * Preflight, confirmation, safety backup, then the one-transaction restore. Throws RestoreRefused (nothing changed)
 * or OpsError('restore_failed') (rolled back, nothing changed).
 */
export async function restore(options: RestoreOptions, finish: RestoreFinish = {}): Promise<RestoreResult> {
  const { signal } = options;
  signal?.throwIfAborted();
  const client = await connectTarget(options);
  const watch = watchTarget(options, client);
  // pg's end() cuts a running statement off (the socket is destroyed): the server rolls the transaction back
  const stop = () => void client.end().catch(() => {});
  signal?.addEventListener('abort', stop, { once: true });
  const locking: { truncate?: string[] } = {};
  try {
    return await restoreWith(client, options, finish, locking);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw await namingLockHolder(err, options, client, watch, locking);
  } finally {
    signal?.removeEventListener('abort', stop);
    await watch.stop();
    await client.end().catch(() => {});
  }
}

function watchTarget(options: RestoreOptions, client: pg.ClientBase): LockWatch {
  const watch = watchLockWaits(options.databaseUrl, options.lockTimeoutSeconds ?? 30);
  watch.add(client);
  return watch;
}

/** The target connection, every statement of it under the lock timeout (a locked table never hangs a restore). */
async function connectTarget(options: RestoreOptions): Promise<pg.Client> {
  const client = await connect(options.databaseUrl, 'target database');
  try {
    await client.query(`SET lock_timeout = '${Math.max(0, Math.floor((options.lockTimeoutSeconds ?? 30) * 1000))}ms'`);
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  return client;
}

/**
 * A lock timeout becomes: which table is locked, by which session(s) (those that blocked the statement, whatever their
 * mode: the watcher's record, else the locks that conflict with ours); and that nothing changed.
 */
async function namingLockHolder(
  err: unknown,
  options: RestoreOptions,
  client: pg.Client,
  watch: LockWatch,
  locking: { truncate?: string[] },
): Promise<unknown> {
  if (!isLockTimeout(err)) return err;
  const holders = await watch.describe(client, { anyModeOn: locking.truncate });
  const seconds = options.lockTimeoutSeconds ?? 30;
  return new OpsError(
    `restore stopped: a table stayed locked for ${seconds} s (--lock-timeout): ${holders}; the target is unchanged`,
    'locked',
    { cause: err },
  );
}

async function restoreWith(
  client: pg.Client,
  options: RestoreOptions,
  finish: RestoreFinish,
  locking: { truncate?: string[] },
): Promise<RestoreResult> {
  const planStarted = Date.now();
  const { plan: p, target } = await plan(options, client);
  const planMs = Date.now() - planStarted;
  locking.truncate = p.preflight.truncate;
  const refused = refusal(p.preflight);
  if (refused) throw refused;
  const replacedLo = largeObjectsOverwrite(p.largeObjects);
  if ((p.preflight.overwrites.length > 0 || replacedLo) && !options.yes) {
    const ok = options.confirm ? await options.confirm(p) : false;
    if (!ok) {
      const rows =
        p.preflight.overwrites.length > 0
          ? `rows in ${p.preflight.overwrites.length} table(s) that would be overwritten (${p.preflight.overwrites.join(', ')})`
          : '';
      throw new UsageError(
        `database ${p.database} holds ${[rows, replacedLo].filter(Boolean).join(' and ')}: pass --yes`,
      );
    }
  }
  let safetyBackupId: string | undefined;
  // Nothing is truncated (an empty restore): there is nothing for a safety backup to keep.
  if (options.safetyBackup && p.preflight.truncate.length > 0) {
    options.onProgress?.({ phase: 'safety-backup' });
    safetyBackupId = await takeSafetyBackup(options.databaseUrl, options.safetyBackup, p, options.signal);
    options.onProgress?.({ phase: 'safety-backup', backupId: safetyBackupId });
  }
  const started = Date.now();
  const { source } = options;
  const { prepare, load } = source.loader();
  const loPlan = p.largeObjects?.action === 'restore' ? p.largeObjects : undefined;
  let loadedLo: RestoreResult['largeObjects'];
  const result = await executeRestore({
    client,
    preflight: p.preflight,
    foreignKeys: leafForeignKeys(target),
    load,
    prepare: prepare ? (c) => prepare(c, p.preflight.tables) : undefined,
    largeObjects:
      loPlan && source.largeObjects
        ? async (c) => void (loadedLo = await source.largeObjects!.load(c, loPlan))
        : undefined,
    sequences: p.sequences,
    materializedViews: p.materializedViews,
    expectedRows: (t) => t.source.rows,
    finish: finish.rollback ? 'rollback' : 'commit',
    beforeFinish: finish.beforeFinish ? (c) => finish.beforeFinish!(c, p) : undefined,
    onProgress: options.onProgress,
    beforeTable: options.beforeTable,
  });
  return {
    plan: p,
    ...(safetyBackupId ? { safetyBackupId } : {}),
    tables: result.tables,
    sequences: result.sequences,
    rebuiltIndexes: result.rebuiltIndexes,
    timings: { planMs, ...result.timings },
    ...(loadedLo ? { largeObjects: loadedLo } : {}),
    rows: result.tables.reduce((a, t) => a + t.rows, 0),
    bytes: result.tables.reduce((a, t) => a + t.bytes, 0),
    durationMs: Date.now() - started,
  };
}

/**
 * A backup of what the restore will overwrite (the schemas of the truncated tables), labelled pre-restore, with
 * purpose `safety`: it is never `latest` and never counts towards the real backups' retention (see README: Restore).
 */
async function takeSafetyBackup(
  databaseUrl: string,
  target: { store: ObjectStore; env: string },
  p: RestorePlan,
  signal?: AbortSignal,
): Promise<string> {
  const schemas = [...new Set(p.preflight.truncate.map((k) => k.slice(0, k.indexOf('.'))))].sort();
  const result = await runBackup({
    databaseUrl,
    store: target.store,
    env: target.env,
    label: SAFETY_LABEL,
    purpose: 'safety',
    scope: { schemas, excludeTables: [] },
    signal,
  }).catch((err) => {
    throw new OpsError(
      `safety backup failed, nothing restored: ${(err as Error).message} (pass --no-safety-backup to restore without one)`,
      'safety_backup_failed',
      { cause: err },
    );
  });
  if (result.status === 'busy')
    throw new OpsError(
      `safety backup not possible: another backup of env ${target.env} is running (until ${result.until}); nothing restored`,
      'safety_backup_failed',
    );
  if (result.status !== 'completed')
    throw new OpsError('safety backup did not complete; nothing restored', 'safety_backup_failed');
  return result.manifest.id;
}
