/** The operator file's `verify` section (the scheduled verify and its restore drill). */
import { z } from 'zod';

export const VerifySectionSchema = z
  .object({
    restoreDrill: z.boolean().default(true),
  })
  .strict();
export type VerifySection = z.infer<typeof VerifySectionSchema>;
