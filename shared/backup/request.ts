/** What a backup request may ask for (HTTP body, trigger message, CLI flags): label and scope. */
import { z } from 'zod';
import { TableName } from '../pg/ident';

/**
 * A backup's label: the one rule for the CLI's --label and the HTTP/trigger body. Printable text (no control
 * characters, so no ANSI escapes that would break `list`'s table, no bidi overrides), 1 to 200 characters.
 */
export const Label = z
  .string()
  .min(1, 'must not be empty')
  .max(200, 'at most 200 characters')
  .regex(/^[^\p{Cc}\u202a-\u202e\u2066-\u2069]*$/u, 'printable text only (no control characters or escape sequences)');

/** The body of a manual backup request (HTTP) or a scheduled trigger message: all optional. */
export const BackupRequestSchema = z
  .object({
    label: Label.optional(),
    schemas: z.array(z.string().min(1).max(63)).min(1).optional(),
    excludeTables: z.array(TableName).optional(),
  })
  .strict();
export type BackupRequest = z.infer<typeof BackupRequestSchema>;
