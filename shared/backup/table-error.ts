/** The error of a backup that failed on one table, naming it. */
import { OpsError } from '../errors';

/** A backup that failed on one table, which the error names (and `backup.failed` carries). */
export class TableFailedError extends OpsError {
  override readonly name = 'TableFailedError';
  constructor(
    readonly table: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, 'table_failed', options);
  }
}
