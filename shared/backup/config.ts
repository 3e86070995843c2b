/** The operator file's `backup` section. */
import { z } from 'zod';
import { TableName } from '../pg/ident';

export const BackupSectionSchema = z
  .object({
    schemas: z.array(z.string().min(1)).optional(),
    excludeTables: z.array(TableName).default([]),
    jobs: z.number().int().min(1).max(16).default(2),
    compressionLevel: z.number().int().min(1).max(9).default(1),
    leaseTtlSeconds: z.number().int().min(1).max(86_400).default(120),
    statementTimeoutSeconds: z.number().int().min(0).default(0),
  })
  .strict();
export type BackupSection = z.infer<typeof BackupSectionSchema>;
