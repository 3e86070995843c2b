import type { EventBus } from '../bus/events';
import type { Logger } from '../log/logger';
import { InterruptedError, UsageError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { runBackup, type BackupOptions, type BackupResult } from './run';
import { TableFailedError } from './table-error';

/**
 * One backup run as the functions and the CLI see it: run, log, and publish `backup.succeeded` (info)
 * or `backup.failed` (critical). A busy lease or a duplicate trigger publishes nothing: no backup was attempted.
 * Neither does bad input (a UsageError: a schema that does not exist): the caller answers it (400, exit 2, poison).
 */
export async function backupAndReport(
  options: BackupOptions,
  deps: { bus: EventBus; logger: Logger; /** false when the caller prints the failure itself (the CLI's one line) */ logFailure?: boolean },
): Promise<BackupResult> {
  const { bus, logger } = deps;
  const trigger = options.trigger ?? { kind: 'manual' as const };
  const started = Date.now();
  let result: BackupResult;
  try {
    result = await runBackup({
      ...options,
      onWarning: (message) => {
        logger.warn({ env: options.env }, message);
        options.onWarning?.(message);
      },
    });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof InterruptedError) {
      // stopped on purpose (an operator's Ctrl-C, a shutdown), everything undone: nobody is paged
      logger.info({ env: options.env, trigger: trigger.kind }, `backup ${err.message}`);
      throw err;
    }
    const reason = redactString(errorMessage(err));
    if (deps.logFailure !== false) logger.error({ env: options.env, trigger: trigger.kind, err }, `backup failed: ${reason}`);
    const table = err instanceof TableFailedError ? err.table : undefined;
    await bus
      .publish({
        type: 'backup.failed',
        severity: 'critical',
        env: options.env,
        time: new Date().toISOString(),
        trigger: trigger.kind,
        reason,
        ...(table ? { table } : {}),
      })
      .catch((e) => logger.error({ err: e }, 'could not publish backup.failed'));
    throw err;
  }
  if (result.status === 'busy') {
    logger.warn({ env: options.env, holder: result.holder, until: result.until }, 'another backup is running; nothing done');
  } else if (result.status === 'duplicate') {
    logger.info({ env: options.env, backupId: result.backupId, messageId: result.messageId }, 'trigger already produced a complete backup; nothing done');
  } else {
    const m = result.manifest;
    logger.info({ env: m.env, backupId: m.id, tables: m.totals.tables, rows: m.totals.rows, bytes: m.totals.compressedBytes }, 'backup completed');
    await bus.publish({
      type: 'backup.succeeded',
      severity: 'info',
      env: m.env,
      time: new Date().toISOString(),
      backupId: m.id,
      ...(m.label ? { label: m.label } : {}),
      trigger: m.trigger.kind,
      bytes: m.totals.compressedBytes,
      rows: m.totals.rows,
      tables: m.totals.tables,
      durationMs: Date.now() - started,
    });
  }
  return result;
}
