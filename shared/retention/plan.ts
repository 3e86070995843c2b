/** From what is in the bucket to a retention plan: what the policy keeps and removes, and which orphans go. */
import type { ObjectStore } from '../storage/types';
import type { RetentionPolicy, SafetyRetention } from './policy';
import { listBackups, type BackupEntry } from '../backup/catalog';
import { readLease } from '../storage/lease';
import { keys } from '../backup/layout';
import { applyPolicy, applySafetyRetention, type Decision } from './policy';

export interface PlanOptions {
  policy: RetentionPolicy;
  minKeep: number;
  orphanGraceHours: number;
  /** Restores' safety backups: their own rule (default: 7 days). */
  safety?: SafetyRetention;
  now?: Date;
}

export interface OrphanDecision {
  backup: BackupEntry;
  remove: boolean;
  reason: string;
}

export interface RetentionPlan {
  env: string;
  now: Date;
  /** Complete and legacy backups, newest first, with the policy's decision. */
  decisions: Array<Decision<BackupEntry & { verified: boolean }>>;
  /** Restores' safety backups, newest first: kept by their own rule, never by the policy or its floors. */
  safety: Array<Decision<BackupEntry & { verified: boolean }>>;
  /** Incomplete backups: no manifest (orphans once past the grace period), or one that could not be read (kept). */
  orphans: OrphanDecision[];
  /** A backup of this environment holds its lease right now. */
  backupRunning: boolean;
}

export async function planRetention(store: ObjectStore, env: string, options: PlanOptions): Promise<RetentionPlan> {
  const now = options.now ?? new Date();
  const entries = await listBackups(store, env, { includeIncomplete: true });
  const subject = entries
    .filter((e) => e.kind === 'complete' || e.kind === 'legacy')
    .map((e) => ({ ...e, verified: e.verify?.ok === true }));
  // Safety backups never count as real ones: not for keepLast, not for the newest, newest-verified or minKeep floors.
  const decisions = applyPolicy(
    subject.filter((e) => !e.safety),
    options.policy,
    { minKeep: options.minKeep, now },
  );
  const safety = applySafetyRetention(
    subject.filter((e) => e.safety),
    options.safety ?? { keepWithinDays: 7 },
    now,
  );
  const lease = await readLease(store, keys.lease(env), now);
  // a live lease whose holder is a dead process of this host (a backup killed with SIGKILL) protects nothing
  const backupRunning = Boolean(lease?.live && !lease.holderDead);
  const graceMs = options.orphanGraceHours * 3_600_000;
  const orphans = entries
    .filter((e) => e.kind === 'incomplete' || e.kind === 'corrupt')
    .map((backup): OrphanDecision => {
      // A manifest that is there but could not be read (malformed, or a transient read error) is no proof of an
      // abandoned run: such a backup may be complete. It is reported, never deleted by retention.
      if (backup.kind === 'corrupt')
        return {
          backup,
          remove: false,
          reason: `manifest present but unreadable, left for an operator: ${backup.note}`,
        };
      const age = now.getTime() - backup.time.getTime();
      if (age < graceMs)
        return { backup, remove: false, reason: `incomplete, younger than ${options.orphanGraceHours}h` };
      if (backupRunning)
        return { backup, remove: false, reason: `incomplete, but a backup holds the lease (${lease!.holder})` };
      return { backup, remove: true, reason: `orphan: incomplete for over ${options.orphanGraceHours}h` };
    });
  return { env, now, decisions, safety, orphans, backupRunning };
}
