import { z } from 'zod';
import { TableName } from '../pg/ident';

/** The body of a manual backup request (HTTP) or a scheduled trigger message: all optional. */
export const BackupRequestSchema = z
  .object({
    label: z.string().min(1).max(200).optional(),
    schemas: z.array(z.string().min(1).max(63)).min(1).optional(),
    excludeTables: z.array(TableName).optional(),
  })
  .strict();
export type BackupRequest = z.infer<typeof BackupRequestSchema>;
