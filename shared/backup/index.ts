/**
 * Backup's public read API for the other capabilities (the probes' backup watchdog, the status page): what they may know about the
 * backups of an environment without reaching into the catalog's internals.
 */
import type { ObjectStore } from '../storage/types';
import { listBackups, type BackupEntry } from './catalog';

export interface BackupFreshness {
  /** Complete real backups (a restore's safety backups are not the schedule's work and never count). */
  backups: number;
  /** The newest complete real backup. */
  newest?: { id: string; time: Date };
  /** The most recent verify result recorded against a real backup. */
  newestVerify?: { backupId: string; ok: boolean; at: Date };
}

/** How fresh the backups of `env` are: the newest complete backup and the most recent verify. */
export async function backupFreshness(store: ObjectStore, env: string): Promise<BackupFreshness> {
  const real = (await listBackups(store, env)).filter((b) => b.kind === 'complete' && !b.safety);
  const newest = real[0];
  let newestVerify: BackupFreshness['newestVerify'];
  for (const b of real) {
    if (!b.verify) continue;
    const at = new Date(b.verify.at);
    if (!newestVerify || at > newestVerify.at) newestVerify = { backupId: b.id, ok: b.verify.ok, at };
  }
  return {
    backups: real.length,
    ...(newest ? { newest: { id: newest.id, time: newest.time } } : {}),
    ...(newestVerify ? { newestVerify } : {}),
  };
}

/** One backup as the status page sees it: ids, times, sizes, counts and verdicts only. */
export interface BackupFacts {
  id: string;
  kind: BackupEntry['kind'];
  /** When it was taken (ISO). */
  time: string;
  /** A restore's safety backup. */
  safety: boolean;
  /** Bytes of every object of the backup in the bucket. */
  bytes: number;
  tables?: number;
  rows?: number;
  /** The latest verify: its verdict, time, how many mismatches, and the restore drill's verdict when one ran. */
  verify?: { ok: boolean; at: string; problems: number; drill?: { ok: boolean } };
}

function factsOf(e: BackupEntry): BackupFacts {
  const facts: BackupFacts = {
    id: e.kind === 'legacy' ? e.id.slice(e.id.lastIndexOf('/') + 1) : e.id,
    kind: e.kind,
    time: e.time.toISOString(),
    safety: Boolean(e.safety),
    bytes: e.bytes,
  };
  if (e.manifest) {
    facts.time = e.manifest.startedAt;
    facts.tables = e.manifest.totals.tables;
    facts.rows = e.manifest.totals.rows;
  }
  if (e.verify) {
    facts.verify = { ok: e.verify.ok, at: e.verify.at, problems: e.verify.problems.length };
    if (e.verify.restoreDrill) facts.verify.drill = { ok: e.verify.restoreDrill.ok };
  }
  return facts;
}

/**
 * Every backup of `env` as the status page shows it (incomplete and corrupt ones too), newest first: one plain record
 * per backup with its verify and restore-drill verdicts. Nothing in it names a database, a host or a path.
 */
export async function backupFacts(store: ObjectStore, env: string): Promise<BackupFacts[]> {
  return (await listBackups(store, env, { includeIncomplete: true })).map(factsOf);
}
