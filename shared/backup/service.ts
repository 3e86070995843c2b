import type { EventBus } from '../bus/events';
import type { Logger } from '../log/logger';
import { InterruptedError, UsageError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { runBackup, type BackupOptions, type BackupResult } from './run';
import { TableFailedError } from './table-error';

/**
 * A backup that used more than half of its time limit raises a warning (an alert, `mt-ops/<env>/backup-time-limit`),
 * before the day it no longer fits; one that used less resolves it.
 */
async function reportTimeUsed(env: string, used: number, limitSeconds: number, deps: { bus: EventBus; logger: Logger }): Promise<void> {
  const firing = used > 0.5;
  const percent = Math.round(used * 100);
  const summary = `the backup run took ${Math.round(used * limitSeconds)} s, ${percent}% of its ${limitSeconds} s time limit`;
  if (firing) deps.logger.warn({ env, used, limitSeconds }, `${summary}: run it as a Cloud Run job before it outgrows the function (README, Deploy)`);
  const time = new Date().toISOString();
  await deps.bus
    .publish({
      type: 'alert',
      severity: 'warning',
      env,
      time,
      status: firing ? 'firing' : 'resolved',
      fingerprint: `mt-ops/${env}/backup-time-limit`,
      title: `Backup uses over half its time limit (${env})`,
      summary: firing ? `${summary}; switch to the Cloud Run job before it is killed (README, Deploy)` : summary,
      labels: { job: 'backup' },
      startsAt: time,
      ...(firing ? {} : { endsAt: time }),
      source: 'mt-ops',
    })
    .catch((e: unknown) => deps.logger.error({ err: e }, 'could not publish the time-limit alert'));
}

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
    const durationMs = Date.now() - started;
    logger.info({ env: m.env, backupId: m.id, tables: m.totals.tables, rows: m.totals.rows, bytes: m.totals.compressedBytes, durationMs }, 'backup completed');
    const limit = options.deadline?.limitSeconds;
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
      durationMs,
      ...(limit ? { timeLimitSeconds: limit } : {}),
    });
    // the share of the limit counts from the run's start (the function's invocation), not the backup's own
    if (options.deadline) await reportTimeUsed(m.env, options.deadline.used(), options.deadline.limitSeconds, deps);
  }
  return result;
}
