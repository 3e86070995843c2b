import type { Readable } from 'node:stream';
import type pg from 'pg';
import { connect } from '../pg/connect';
import { isLockTimeout, watchLockWaits, type LockWatch } from '../pg/locks';
import { runBackup } from '../backup/run';
import { SAFETY_LABEL, type Manifest } from '../backup/manifest';
import type { ObjectStore } from '../storage/types';
import { OpsError, UsageError } from '../errors';
import { runPreflight, type Preflight, type SourceTable } from './preflight';
import { leafForeignKeys, withPartitionedParents, canUseReplicaRole, nonEmptyTables, readTargetSchema, tableKey, type TargetSchema } from './target-schema';
import { executeRestore, type ExecuteResult, type RestoreProgress, type TableLoader } from './execute';
import { checkOutsideKeys } from './outside-keys';
import { planMaterializedViews, type MaterializedViewStep } from './matviews';
import { backupLoader, checkManifest, checkObjects, entryFor, manifestSequences, manifestTables } from './backup-source';
import { AUTH_USERS, legacyLoader, legacySourceTables, scanLegacy, stageLegacy, type LegacyInput, type LegacyScan } from './legacy-reader';
import type { RowSetHash } from '../pgcopy/copy-text';
import { largeObjectsOverwrite, loadLargeObjects, planLargeObjects, type LargeObjectsPlan } from './large-objects';

export type RestoreSource =
  | { kind: 'backup'; store: ObjectStore; manifest: Manifest }
  /** `path`: a local file, or with `open`, the key of an object in the bucket (read as a stream). */
  | { kind: 'legacy'; path: string; open?: () => Promise<Readable>; includeAuth?: boolean };

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
  /** Restore drill: hash rows while loading, check inside the transaction, roll back. */
  drill?: { hashes: Map<string, RowSetHash>; beforeFinish: (client: pg.ClientBase, plan: RestorePlan) => Promise<void>; rollback: boolean };
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
  source: { kind: 'backup'; id: string; env: string; takenAt: string } | { kind: 'legacy'; path: string; createdAt?: string };
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
  largeObjects?: { count: number; bytes: number };
  rows: number;
  bytes: number;
  durationMs: number;
}

/** Reads the target and the source and runs every check; changes nothing. Problems are in plan.preflight.problems. */
export async function planRestore(options: RestoreOptions, client?: pg.ClientBase): Promise<RestorePlan> {
  const own = client ? undefined : await connectTarget(options);
  const watch = own ? watchTarget(options, own) : undefined;
  try {
    return await plan(options, (client ?? own)!);
  } catch (err) {
    throw own && watch ? await namingLockHolder(err, options, own, watch, {}) : err;
  } finally {
    await watch?.stop();
    await own?.end().catch(() => {});
  }
}

async function plan(options: RestoreOptions, client: pg.ClientBase): Promise<RestorePlan> {
  const target = await readTargetSchema(client);
  const { source } = options;
  const notes: string[] = [];
  let tables: SourceTable[];
  let scan: LegacyScan | undefined;
  const problems: string[] = [];
  if (source.kind === 'backup') {
    problems.push(...checkManifest(source.manifest));
    tables = manifestTables(source.manifest);
  } else {
    scan = await scanLegacy(legacyInput(source));
    const auth = scan.tables.find((t) => t.name === AUTH_USERS);
    const authColumns = target.tables.get('auth.users')?.columns.filter((c) => !c.generated).map((c) => c.name) ?? [];
    if (auth && !source.includeAuth) notes.push(`auth_users: ${auth.rows} rows skipped (pass --include-auth to restore them into auth.users)`);
    if (auth && source.includeAuth) {
      const dropped = auth.keys.filter((k) => !authColumns.includes(k));
      if (!target.tables.has('auth.users')) problems.push('auth_users: --include-auth, but the target has no auth.users table');
      else if (dropped.length > 0) notes.push(`auth_users: keys with no auth.users column, not restored: ${dropped.join(', ')}`);
    }
    tables = legacySourceTables(scan, { includeAuth: Boolean(source.includeAuth), authColumns });
    notes.push('legacy format: it records no sequence values, so sequences are set from max(id) of their columns');
  }
  const selected = options.tables && options.tables.length > 0 ? options.tables : tables.map((t) => tableKey(t.schema, t.name));
  const nonEmpty = new Set(await nonEmptyTables(client, candidates(target, selected)));
  const preflight = runPreflight({
    tables,
    sequences: source.kind === 'backup' ? manifestSequences(source.manifest) : [],
    target,
    nonEmpty,
    canUseReplica: await canUseReplicaRole(client),
    options: { tables: options.tables, allowSchemaDrift: options.allowSchemaDrift, yes: options.yes, fireTriggers: options.fireTriggers, cascade: options.cascade },
  });
  preflight.problems.unshift(...problems);
  if (source.kind === 'backup' && preflight.problems.length === 0) {
    preflight.problems.push(...(await checkObjects(source.store, source.manifest, preflight.tables)));
  }
  if (source.kind === 'backup' && preflight.problems.length === 0) {
    // Keys into tables that are not restored: checked against the target's rows now, not after the whole load.
    preflight.problems.push(...(await checkOutsideKeys(client, source.store, source.manifest, preflight.tables, target, new Set(preflight.truncate))));
  }
  const lo = source.kind === 'backup' ? await planLargeObjects(client, source.store, source.manifest, { tables: options.tables }) : undefined;
  preflight.problems.push(...(lo?.problems ?? []));
  const views = planMaterializedViews(source.kind === 'backup' ? source.manifest.materializedViews : undefined, target, {
    refresh: options.refreshMaterializedViews,
    subset: Boolean(options.tables && options.tables.length > 0),
  });
  preflight.notes.push(...notes, ...(lo?.notes ?? []), ...views.notes);
  const rows: Record<string, number> = {};
  for (const t of preflight.tables) rows[t.key] = t.source.rows ?? 0;
  const bytes = source.kind === 'backup' ? preflight.tables.reduce((a, t) => a + entryFor(source.manifest, t).compressedBytes, 0) : 0;
  return {
    database: target.database,
    source:
      source.kind === 'backup'
        ? { kind: 'backup', id: source.manifest.id, env: source.manifest.env, takenAt: source.manifest.snapshot.time }
        : { kind: 'legacy', path: source.path, ...(typeof scan?.info.created_at === 'string' ? { createdAt: scan.info.created_at } : {}) },
    preflight,
    rows,
    totalRows: Object.values(rows).reduce((a, b) => a + b, 0),
    bytes,
    sequences: source.kind === 'backup' ? 'recorded' : 'max-id',
    materializedViews: views.steps,
    safetyBackup: options.safetyBackup ? 'will be taken' : 'skipped (--no-safety-backup)',
    ...(lo?.plan ? { largeObjects: lo.plan } : {}),
    notes: preflight.notes,
  };
}

/** The selected tables that exist in the target, and every table whose foreign keys reach them. */
function candidates(target: TargetSchema, selected: string[]): Array<{ schema: string; name: string }> {
  const reached = withPartitionedParents(target, selected.flatMap((k) => target.partitions.get(k) ?? [k]).filter((k) => target.tables.has(k)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const fk of leafForeignKeys(target)) {
      if (reached.has(fk.to) && !reached.has(fk.from)) {
        reached.add(fk.from);
        grew = true;
      }
    }
  }
  return [...reached].filter((k) => !target.partitions.has(k)).map((k) => target.tables.get(k)!).filter(Boolean);
}

export class RestoreRefused extends OpsError {
  override readonly name = 'RestoreRefused';
  constructor(readonly problems: string[]) {
    super(`restore refused before any change (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`, 'preflight_failed');
  }
}

function legacyInput(source: Extract<RestoreSource, { kind: 'legacy' }>): LegacyInput {
  return source.open ? { name: source.path, open: source.open } : source.path;
}

/** Why a plan cannot go ahead: bad input (UsageError, exit 2) when the operator named what is not there, else RestoreRefused. */
export function refusal(preflight: Pick<Preflight, 'problems' | 'inputProblems'>): Error | undefined {
  if (preflight.inputProblems.length > 0) return new UsageError(preflight.inputProblems.join('; '), preflight.inputProblems);
  return preflight.problems.length > 0 ? new RestoreRefused(preflight.problems) : undefined;
}

/**
 * Preflight, confirmation, safety backup, then the one-transaction restore. Throws RestoreRefused (nothing changed)
 * or OpsError('restore_failed') (rolled back, nothing changed).
 */
export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const { signal } = options;
  signal?.throwIfAborted();
  const client = await connectTarget(options);
  const watch = watchTarget(options, client);
  // pg's end() cuts a running statement off (the socket is destroyed): the server rolls the transaction back
  const stop = () => void client.end().catch(() => {});
  signal?.addEventListener('abort', stop, { once: true });
  const locking: { truncate?: string[] } = {};
  try {
    return await restoreWith(client, options, locking);
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
async function namingLockHolder(err: unknown, options: RestoreOptions, client: pg.Client, watch: LockWatch, locking: { truncate?: string[] }): Promise<unknown> {
  if (!isLockTimeout(err)) return err;
  const holders = await watch.describe(client, { anyModeOn: locking.truncate });
  const seconds = options.lockTimeoutSeconds ?? 30;
  return new OpsError(`restore stopped: a table stayed locked for ${seconds} s (--lock-timeout): ${holders}; the target is unchanged`, 'locked', { cause: err });
}

async function restoreWith(client: pg.Client, options: RestoreOptions, locking: { truncate?: string[] }): Promise<RestoreResult> {
  {
    const p = await plan(options, client);
    locking.truncate = p.preflight.truncate;
    const refused = refusal(p.preflight);
    if (refused) throw refused;
    const replacedLo = largeObjectsOverwrite(p.largeObjects);
    if ((p.preflight.overwrites.length > 0 || replacedLo) && !options.yes) {
      const ok = options.confirm ? await options.confirm(p) : false;
      if (!ok) {
        const rows = p.preflight.overwrites.length > 0 ? `rows in ${p.preflight.overwrites.length} table(s) that would be overwritten (${p.preflight.overwrites.join(', ')})` : '';
        throw new UsageError(`database ${p.database} holds ${[rows, replacedLo].filter(Boolean).join(' and ')}: pass --yes`);
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
    let load: TableLoader;
    let prepare: ((c: pg.ClientBase) => Promise<void>) | undefined;
    let largeObjects: ((c: pg.ClientBase) => Promise<void>) | undefined;
    let loadedLo: RestoreResult['largeObjects'];
    if (source.kind === 'backup') {
      load = backupLoader(source.store, source.manifest, { hashes: options.drill?.hashes });
      const loPlan = p.largeObjects?.action === 'restore' ? p.largeObjects : undefined;
      if (loPlan) largeObjects = async (c) => void (loadedLo = await loadLargeObjects(c, source.store, source.manifest, loPlan));
    } else {
      const staged = new Map<string, string>();
      prepare = async (c) => {
        for (const [k, v] of await stageLegacy(c, legacyInput(source), new Set(p.preflight.tables.map((t) => t.key)))) staged.set(k, v);
      };
      load = legacyLoader(staged);
    }
    const result = await executeRestore({
      client,
      preflight: p.preflight,
      foreignKeys: leafForeignKeys(await readTargetSchema(client)),
      load,
      prepare,
      largeObjects,
      sequences: p.sequences,
      materializedViews: p.materializedViews,
      expectedRows: (t) => t.source.rows,
      finish: options.drill?.rollback ? 'rollback' : 'commit',
      beforeFinish: options.drill ? (c) => options.drill!.beforeFinish(c, p) : undefined,
      onProgress: options.onProgress,
      beforeTable: options.beforeTable,
    });
    return {
      plan: p,
      ...(safetyBackupId ? { safetyBackupId } : {}),
      tables: result.tables,
      sequences: result.sequences,
      ...(loadedLo ? { largeObjects: loadedLo } : {}),
      rows: result.tables.reduce((a, t) => a + t.rows, 0),
      bytes: result.tables.reduce((a, t) => a + t.bytes, 0),
      durationMs: Date.now() - started,
    };
  }
}

/**
 * A backup of what the restore will overwrite (the schemas of the truncated tables), labelled pre-restore, with
 * purpose `safety`: it is never `latest` and never counts towards the real backups' retention (see README: Restore).
 */
async function takeSafetyBackup(databaseUrl: string, target: { store: ObjectStore; env: string }, p: RestorePlan, signal?: AbortSignal): Promise<string> {
  const schemas = [...new Set(p.preflight.truncate.map((k) => k.slice(0, k.indexOf('.'))))].sort();
  const result = await runBackup({ databaseUrl, store: target.store, env: target.env, label: SAFETY_LABEL, purpose: 'safety', scope: { schemas, excludeTables: [] }, signal }).catch((err) => {
    throw new OpsError(`safety backup failed, nothing restored: ${(err as Error).message} (pass --no-safety-backup to restore without one)`, 'safety_backup_failed', { cause: err });
  });
  if (result.status === 'busy') throw new OpsError(`safety backup not possible: another backup of env ${target.env} is running (until ${result.until}); nothing restored`, 'safety_backup_failed');
  if (result.status !== 'completed') throw new OpsError('safety backup did not complete; nothing restored', 'safety_backup_failed');
  return result.manifest.id;
}
