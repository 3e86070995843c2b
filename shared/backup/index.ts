/**
 * Backup's public read API for the other capabilities (the probes' backup watchdog): what they may know about the
 * backups of an environment without reaching into the catalog's internals.
 */
import type { ObjectStore } from '../storage/types';
import { listBackups } from './catalog';

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
  return { backups: real.length, ...(newest ? { newest: { id: newest.id, time: newest.time } } : {}), ...(newestVerify ? { newestVerify } : {}) };
}
