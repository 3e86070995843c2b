/**
 * The one place backup events are built and published: `backup.succeeded` (info) or `backup.failed` (critical), with
 * the matching log line. A busy lease or a duplicate trigger publishes nothing (no backup was attempted); neither
 * does bad input (a UsageError: the caller answers it with 400, exit 2 or an acknowledged poison message) nor a
 * backup stopped on purpose (an operator's Ctrl-C, a shutdown: everything was undone, nobody is paged). A run using
 * over half its time limit raises a warning alert (resolved by one that does not).
 */
import type { EventBus } from '../bus/events';
import type { Logger } from '../log/logger';
import { InterruptedError, UsageError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import type { Deadline } from '../deadline';
import type { BackupResult } from './run';
import { TableFailedError } from './table-error';

export interface BackupReportDeps {
  bus: EventBus;
  logger: Logger;
  /** false when the caller prints the failure itself (the CLI's one line at the default level). */
  logFailure?: boolean;
}

/** What one backup run came to: its result, or the error it failed with; `deadline`, the run's time limit. */
export type BackupOutcome = {
  env: string;
  trigger: 'manual' | 'scheduled';
  durationMs: number;
  deadline?: Deadline;
} & ({ result: BackupResult } | { error: unknown });

/**
 * A backup that used more than half of its time limit raises a warning (an alert, `mt-ops/<env>/backup-time-limit`),
 * before the day it no longer fits; one that used less resolves it.
 */
async function reportTimeUsed(
  env: string,
  used: number,
  limitSeconds: number,
  deps: { bus: EventBus; logger: Logger },
): Promise<void> {
  const firing = used > 0.5;
  const percent = Math.round(used * 100);
  const summary = `the backup run took ${Math.round(used * limitSeconds)} s, ${percent}% of its ${limitSeconds} s time limit`;
  if (firing)
    deps.logger.warn(
      { env, used, limitSeconds },
      `${summary}: run it as a Cloud Run job before it outgrows the function (README, Deploy)`,
    );
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

export async function reportBackup(deps: BackupReportDeps, outcome: BackupOutcome): Promise<void> {
  const { bus, logger } = deps;
  const { env, trigger } = outcome;
  if ('error' in outcome) {
    const err = outcome.error;
    if (err instanceof UsageError) return;
    if (err instanceof InterruptedError) {
      logger.info({ env, trigger }, `backup ${err.message}`);
      return;
    }
    const reason = redactString(errorMessage(err));
    if (deps.logFailure !== false) logger.error({ env, trigger, err }, `backup failed: ${reason}`);
    const table = err instanceof TableFailedError ? err.table : undefined;
    await bus
      .publish({
        type: 'backup.failed',
        severity: 'critical',
        env,
        time: new Date().toISOString(),
        trigger,
        reason,
        ...(table ? { table } : {}),
      })
      .catch((e) => logger.error({ err: e }, 'could not publish backup.failed'));
    return;
  }
  const result = outcome.result;
  if (result.status === 'busy') {
    logger.warn({ env, holder: result.holder, until: result.until }, 'another backup is running; nothing done');
  } else if (result.status === 'duplicate') {
    logger.info(
      { env, backupId: result.backupId, messageId: result.messageId },
      'trigger already produced a complete backup; nothing done',
    );
  } else {
    const m = result.manifest;
    const { durationMs, deadline } = outcome;
    logger.info(
      {
        env: m.env,
        backupId: m.id,
        tables: m.totals.tables,
        rows: m.totals.rows,
        bytes: m.totals.compressedBytes,
        durationMs,
      },
      'backup completed',
    );
    const limit = deadline?.limitSeconds;
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
    if (deadline) await reportTimeUsed(m.env, deadline.used(), deadline.limitSeconds, deps);
  }
}
