/**
 * The one place retention events are built and published: `retention.completed` (info), or `retention.failed`
 * (warning: the next daily run retries what was left) when a deletion failed or the run could not be done. A run
 * stopped on purpose (an operator's Ctrl-C) publishes nothing, nor does an operator's bad input (a manual run: the
 * CLI answers it with exit 2), nor a dry run (it changes nothing); on the schedule every failure is reported.
 */
import type { EventBus } from '../bus/events';
import type { Logger } from '../log/logger';
import { UsageError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import type { Deadline } from '../deadline';
import type { RetentionResult } from './run';

export interface RetentionReportDeps {
  bus: EventBus;
  logger: Logger;
  /** false when the caller prints the failure itself (the CLI's one line at the default level). */
  logFailure?: boolean;
}

export async function reportRetention(
  deps: RetentionReportDeps,
  outcome: {
    env: string;
    trigger: 'manual' | 'scheduled';
    /** The run's time limit. */ deadline?: Deadline;
    /** What stopped it, if anything. */ signal?: AbortSignal;
  } & ({ result: RetentionResult } | { error: unknown }),
): Promise<void> {
  const { bus, logger, logFailure = true } = deps;
  const { env } = outcome;
  const time = () => new Date().toISOString();
  if ('error' in outcome) {
    if (outcome.trigger === 'manual' && outcome.error instanceof UsageError) return;
    const reason = redactString(errorMessage(outcome.error));
    if (logFailure) logger.error({ err: outcome.error }, `retention failed: ${reason}`);
    await bus.publish({ type: 'retention.failed', severity: 'warning', env, time: time(), reason });
    return;
  }
  const result = outcome.result;
  if (outcome.deadline?.signal.aborted) {
    // stopped before the time limit: the deletions under way finished (manifest first, none half-done), no other started
    const reason = `${errorMessage(outcome.deadline.signal.reason)}; ${result.removed} backup(s) removed before stopping, the rest next run`;
    logger.warn({ removed: result.removed }, `retention ${reason}`);
    await bus.publish({ type: 'retention.failed', severity: 'warning', env, time: time(), reason });
    return;
  }
  if (result.stopped) {
    // stopped on purpose (Ctrl-C, the instance stopping): nothing to report, the next run removes the rest
    logger.info(
      { env, removed: result.removed, orphansRemoved: result.orphansRemoved },
      `retention stopped (${errorMessage(outcome.signal?.reason)}) after removing ${result.removed}; the next run removes the rest`,
    );
    return;
  }
  if (result.dryRun) {
    // a dry run changed nothing: a `retention.completed` would file a false notice (and its would-be bytes as freed)
    const toRemove =
      result.plan.decisions.filter((d) => !d.keep).length + result.plan.safety.filter((d) => !d.keep).length;
    const orphans = result.plan.orphans.filter((o) => o.remove).length;
    logger.info(
      { env, kept: result.kept, wouldRemove: toRemove, wouldRemoveOrphans: orphans, wouldFree: result.bytesFreed },
      `retention dry run: ${toRemove} would be removed (and ${orphans} orphan(s)), ${result.bytesFreed} bytes would be freed; nothing removed, nothing published`,
    );
    return;
  }
  if (result.failed > 0) {
    const reasons = result.outcomes.filter((o) => o.status === 'failed').map((o) => `${o.id}: ${o.reason}`);
    const reason = redactString(
      `${result.failed} backup(s) could not be removed (retried next run): ${reasons.join('; ')}`,
    );
    if (logFailure) logger.warn({ failed: result.failed }, reason);
    await bus.publish({ type: 'retention.failed', severity: 'warning', env, time: time(), reason });
    return;
  }
  logger.info(
    {
      kept: result.kept,
      removed: result.removed,
      orphansRemoved: result.orphansRemoved,
      temporaryRemoved: result.temporaryRemoved,
      skipped: result.skipped,
      bytesFreed: result.bytesFreed,
    },
    'retention completed',
  );
  await bus.publish({
    type: 'retention.completed',
    severity: 'info',
    env,
    time: time(),
    kept: result.kept,
    removed: result.removed,
    orphansRemoved: result.orphansRemoved,
    bytesFreed: result.bytesFreed,
    skipped: result.skipped,
  });
}
