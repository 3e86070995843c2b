/** The operator file's `retention` section: the policy (refused when empty), its floors, and safety backups' own rule. */
import { z } from 'zod';
import { RetentionPolicySchema, emptyPolicyProblem } from './policy';

export const RetentionSectionSchema = z
  .object({
    policy: RetentionPolicySchema.superRefine((policy, ctx) => {
      const problem = emptyPolicyProblem(policy);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }).default({ keepWithinDays: 30, keepMonthly: 12 }),
    minKeep: z.number().int().min(1).default(3),
    /** Restores' safety backups (label pre-restore): kept this many days from now, apart from the policy and its floors. */
    safety: z
      .object({ keepWithinDays: z.number().min(0).default(7) })
      .strict()
      .default({ keepWithinDays: 7 }),
    orphanGraceHours: z.number().min(0).default(24),
    deleteConcurrency: z.number().int().min(1).max(64).default(8),
  })
  .strict();
export type RetentionSection = z.infer<typeof RetentionSectionSchema>;
