/**
 * The retention policy, in the manner of restic's `forget`: one pure function from (backups, policy) to a decision
 * per backup, with the reasons each kept backup is kept. Rules are OR'ed; calendar buckets are in UTC and keep the
 * newest backup of each bucket, for the N most recent buckets that have one.
 */
import { z } from 'zod';
import { UsageError } from '../errors';

export interface PolicyInput {
  id: string;
  time: Date;
  /** The latest verify of this backup passed. */
  verified: boolean;
}

export interface Decision<T extends PolicyInput = PolicyInput> {
  backup: T;
  keep: boolean;
  /** Why it is kept (empty when removed). */
  reasons: string[];
}

export interface PolicyOptions {
  /** At least this many backups remain, whatever the rules say. */
  minKeep: number;
  /** "Now", to recognise backups dated in the future (clock skew). */
  now: Date;
}

export const RetentionPolicySchema = z
  .object({
    keepLast: z.number().int().min(0).optional(),
    keepWithinDays: z.number().min(0).optional(),
    keepHourly: z.number().int().min(0).optional(),
    keepDaily: z.number().int().min(0).optional(),
    keepWeekly: z.number().int().min(0).optional(),
    keepMonthly: z.number().int().min(0).optional(),
    keepYearly: z.number().int().min(0).optional(),
  })
  .strict();
export type RetentionPolicy = z.infer<typeof RetentionPolicySchema>;

/** The policy's keep rules (minKeep is a floor, not a rule). */
export const POLICY_RULES = [
  'keepLast',
  'keepWithinDays',
  'keepHourly',
  'keepDaily',
  'keepWeekly',
  'keepMonthly',
  'keepYearly',
] as const;

/**
 * The empty-policy rule, the one place it is written: a policy with no rule, or every rule 0, would keep nothing
 * but the floors. Returns the reason, or undefined when the policy has a rule.
 */
export function emptyPolicyProblem(policy: RetentionPolicy): string | undefined {
  if (POLICY_RULES.some((rule) => (policy[rule] ?? 0) > 0)) return undefined;
  return `empty retention policy: set at least one of ${POLICY_RULES.join(', ')} above 0`;
}

/** Refuses an empty policy (see emptyPolicyProblem). */
export function checkPolicy(policy: RetentionPolicy): void {
  const problem = emptyPolicyProblem(policy);
  if (problem) throw new UsageError(problem);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** ISO 8601 week of a UTC date: `2026-W48` (the week's Thursday decides the year). */
export function isoWeek(date: Date): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${pad(week)}`;
}

const BUCKETS: Array<{
  rule: 'keepHourly' | 'keepDaily' | 'keepWeekly' | 'keepMonthly' | 'keepYearly';
  name: string;
  key: (d: Date) => string;
}> = [
  {
    rule: 'keepHourly',
    name: 'hourly',
    key: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}`,
  },
  {
    rule: 'keepDaily',
    name: 'daily',
    key: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
  },
  { rule: 'keepWeekly', name: 'weekly', key: isoWeek },
  { rule: 'keepMonthly', name: 'monthly', key: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}` },
  { rule: 'keepYearly', name: 'yearly', key: (d) => String(d.getUTCFullYear()) },
];

/**
 * Decides keep/remove for every backup, newest first. Floors, whatever the policy says: the newest backup is kept;
 * the newest verified backup is kept; at least `minKeep` backups remain. Backups dated in the future are kept (a
 * clock is wrong somewhere) and do not move the `keepWithinDays` window, which is measured from the newest backup
 * that is not in the future, never from now: a week of failed backups never lets retention eat the old ones.
 */
export function applyPolicy<T extends PolicyInput>(
  backups: readonly T[],
  policy: RetentionPolicy,
  options: PolicyOptions,
): Decision<T>[] {
  checkPolicy(policy);
  const sorted = [...backups].sort(
    (a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
  const decisions: Decision<T>[] = sorted.map((backup) => ({ backup, keep: false, reasons: [] }));
  const keep = (d: Decision<T>, reason: string) => {
    d.keep = true;
    d.reasons.push(reason);
  };
  const now = options.now.getTime();
  const present = decisions.filter((d) => d.backup.time.getTime() <= now);
  for (const d of decisions) if (d.backup.time.getTime() > now) keep(d, 'dated in the future');

  if (policy.keepLast) present.slice(0, policy.keepLast).forEach((d) => keep(d, `last ${policy.keepLast}`));

  if (policy.keepWithinDays && present[0]) {
    const from = present[0].backup.time.getTime() - policy.keepWithinDays * 86_400_000;
    for (const d of present) {
      if (d.backup.time.getTime() < from) break;
      keep(d, `within ${policy.keepWithinDays}d of newest`);
    }
  }

  for (const bucket of BUCKETS) {
    const limit = policy[bucket.rule] ?? 0;
    if (limit <= 0) continue;
    let last: string | undefined;
    let count = 0;
    for (const d of present) {
      const key = bucket.key(d.backup.time);
      if (key === last) continue;
      last = key;
      keep(d, `${bucket.name} ${key}`);
      if (++count >= limit) break;
    }
  }

  // Floors.
  if (present[0]) keep(present[0], 'floor: newest');
  const newestVerified = present.find((d) => d.backup.verified);
  if (newestVerified) keep(newestVerified, 'floor: newest verified');
  let kept = decisions.filter((d) => d.keep).length;
  for (const d of present) {
    if (kept >= options.minKeep) break;
    if (d.keep) continue;
    keep(d, `floor: minKeep ${options.minKeep}`);
    kept++;
  }
  return decisions;
}

/** Restores' safety backups: how long each is kept (the operator file's `retention.safety`). */
export interface SafetyRetention {
  keepWithinDays: number;
}

/**
 * A restore's safety backups, apart from the policy: each is kept `keepWithinDays` days from now (they are not
 * periodic, so the window is not measured from the newest), and none is a floor or counts towards the real backups'.
 */
export function applySafetyRetention<T extends PolicyInput>(
  backups: readonly T[],
  policy: SafetyRetention,
  now: Date,
): Decision<T>[] {
  const from = now.getTime() - policy.keepWithinDays * 86_400_000;
  return [...backups]
    .sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map((backup) => {
      const t = backup.time.getTime();
      if (t > now.getTime()) return { backup, keep: true, reasons: ['dated in the future'] };
      if (t >= from) return { backup, keep: true, reasons: [`safety backup, within ${policy.keepWithinDays}d`] };
      return { backup, keep: false, reasons: [] };
    });
}
