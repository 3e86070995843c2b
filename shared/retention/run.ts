/** Carrying out a retention plan: bounded concurrency, manifest first, held objects skipped, failures reported. */
import type { ObjectStore, ObjectInfo } from '../storage/types';
import { isHeld, StorageError } from '../storage/types';
import { errorMessage } from '../errors';
import { pool } from '../pool';
import { keys } from '../backup/layout';
import type { BackupEntry } from '../backup/catalog';
import { planRetention, type PlanOptions, type RetentionPlan } from './plan';

export interface RetentionOutcome {
  id: string;
  kind: BackupEntry['kind'];
  bytes: number;
  status: 'removed' | 'skipped' | 'failed';
  reason?: string;
}

export interface RetentionResult {
  plan: RetentionPlan;
  dryRun: boolean;
  /** Temporary objects (left by killed writers) removed, older than the orphan grace period. */
  temporaryRemoved: number;
  /** Their bytes. */
  temporaryBytes: number;
  /** Stopped by the caller's signal: the deletions under way finished (none is left half-done), no other started. */
  stopped: boolean;
  kept: number;
  outcomes: RetentionOutcome[];
  removed: number;
  orphansRemoved: number;
  skipped: number;
  failed: number;
  bytesFreed: number;
}

/**
 * Deletes one backup: the manifest first (so a half-deleted backup is never listed as complete), then the rest.
 * A backup with any object under a hold or retention period is skipped whole.
 */
async function removeBackup(store: ObjectStore, env: string, entry: BackupEntry, now: Date): Promise<RetentionOutcome> {
  const base = { id: entry.id, kind: entry.kind, bytes: entry.bytes };
  const objects: ObjectInfo[] = [];
  try {
    for await (const o of store.list(entry.prefix)) {
      // a legacy file's "prefix" is its own key: never take neighbours that merely share it
      if (entry.kind === 'legacy' && o.key !== entry.prefix) continue;
      objects.push(o);
    }
  } catch (err) {
    // nothing deleted yet: the backup stays whole, and the other deletions go on
    return { ...base, status: 'failed', reason: `listing its objects: ${errorMessage(err)}` };
  }
  const held = objects.filter((o) => isHeld(o, now));
  if (held.length > 0) return { ...base, status: 'skipped', reason: `held: ${held.map((o) => o.key).join(', ')}` };
  const manifestKey = entry.kind === 'legacy' ? undefined : keys.manifest(env, entry.id);
  const ordered = [...objects].sort((a, b) => Number(b.key === manifestKey) - Number(a.key === manifestKey));
  try {
    for (const o of ordered) await store.delete(o.key, { ifGeneration: o.generation });
  } catch (err) {
    if (err instanceof StorageError && err.code === 'held')
      return { ...base, status: 'skipped', reason: `held: ${errorMessage(err)}` };
    return { ...base, status: 'failed', reason: errorMessage(err) };
  }
  return { ...base, status: 'removed' };
}

export interface RetentionOptions extends PlanOptions {
  dryRun?: boolean;
  /** Deletions at once (default 8). */
  concurrency?: number;
  /** Stops the run: the deletions under way finish, no other starts. */
  signal?: AbortSignal;
}

export async function runRetention(
  store: ObjectStore,
  env: string,
  options: RetentionOptions,
): Promise<RetentionResult> {
  const plan = await planRetention(store, env, options);
  const decided = [...plan.decisions, ...plan.safety];
  const toRemove = [
    ...decided.filter((d) => !d.keep).map((d) => d.backup),
    ...plan.orphans.filter((o) => o.remove).map((o) => o.backup),
  ];
  const outcomes = options.dryRun
    ? []
    : await pool(
        toRemove,
        options.concurrency ?? 8,
        (entry) => removeBackup(store, env, entry, plan.now),
        options.signal,
      );
  const removed = outcomes.filter((o) => o.status === 'removed');
  // Temporary objects a killed backup left (file store `.tmp/`), past the orphan grace period. GCS keeps none:
  // an unfinished resumable upload is never an object.
  const sweeper = store as Partial<{ removeTemporary(olderThan: Date): Promise<{ removed: number; bytes: number }> }>;
  const temporary =
    options.dryRun || options.signal?.aborted || typeof sweeper.removeTemporary !== 'function'
      ? { removed: 0, bytes: 0 }
      : await sweeper.removeTemporary(new Date(plan.now.getTime() - options.orphanGraceHours * 3_600_000));
  return {
    plan,
    dryRun: Boolean(options.dryRun),
    stopped: Boolean(options.signal?.aborted),
    temporaryRemoved: temporary.removed,
    temporaryBytes: temporary.bytes,
    kept: decided.filter((d) => d.keep).length,
    outcomes,
    removed: removed.filter((o) => o.kind !== 'incomplete').length,
    orphansRemoved: removed.filter((o) => o.kind === 'incomplete').length,
    skipped: outcomes.filter((o) => o.status === 'skipped').length,
    failed: outcomes.filter((o) => o.status === 'failed').length,
    bytesFreed: (options.dryRun ? toRemove : removed).reduce((sum, o) => sum + o.bytes, 0),
  };
}
