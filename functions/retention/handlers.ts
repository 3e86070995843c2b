import type { CloudEvent } from '@google-cloud/functions-framework';
import { z } from 'zod';
import { decodeTrigger } from '../../shared/functions/trigger';
import { runRetention } from '../../shared/retention/run';
import { errorMessage } from '../../shared/errors';
import { redactString } from '../../shared/log/redact';
import { startRunDeadline, type Runtime } from '../../shared/functions/runtime';
import { withDeadlineSignal } from '../../shared/deadline';
import { event, type EntryPoints } from '../../shared/functions/entry-points';

/** The scheduled trigger's message: empty, or `{"dryRun": true}`. */
export const RetentionRequestSchema = z.object({ dryRun: z.boolean().optional() }).strict();

/**
 * Scheduled retention (daily, after the backup). Publishes retention.completed (info) or retention.failed (warning).
 * Failures are reported and acknowledged: the next daily run retries what was left.
 */
export function retentionEventHandler(runtime: () => Runtime) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    const rt = runtime();
    const decoded = decodeTrigger(RetentionRequestSchema, event, rt, 'retention');
    if (!decoded) return;
    const section = rt.config.file.retention;
    const time = () => new Date().toISOString();
    const deadline = startRunDeadline(rt);
    const signal = withDeadlineSignal(rt.signal, deadline);
    try {
      const result = await runRetention(rt.store, rt.env, {
        policy: section.policy,
        minKeep: section.minKeep,
        safety: section.safety,
        orphanGraceHours: section.orphanGraceHours,
        concurrency: section.deleteConcurrency,
        dryRun: decoded.payload.dryRun,
        ...(signal ? { signal } : {}),
      });
      if (deadline?.signal.aborted) {
        // stopped before the time limit: the deletions under way finished (manifest first, none half-done), no other started
        const reason = `${errorMessage(deadline.signal.reason)}; ${result.removed} backup(s) removed before stopping, the rest next run`;
        rt.logger.warn({ removed: result.removed }, `retention ${reason}`);
        await rt.bus.publish({ type: 'retention.failed', severity: 'warning', env: rt.env, time: time(), reason });
        return;
      }
      if (result.stopped) {
        // stopped on purpose (the instance is stopping): the deletion under way finished, nothing else started;
        // nothing to report (the next run removes the rest)
        rt.logger.info({ removed: result.removed, orphansRemoved: result.orphansRemoved }, `retention stopped (${errorMessage(rt.signal?.reason)}) after removing ${result.removed}; the next run removes the rest`);
        return;
      }
      if (result.failed > 0) {
        const reasons = result.outcomes.filter((o) => o.status === 'failed').map((o) => `${o.id}: ${o.reason}`);
        const reason = redactString(`${result.failed} backup(s) could not be removed (retried next run): ${reasons.join('; ')}`);
        rt.logger.warn({ failed: result.failed }, reason);
        await rt.bus.publish({ type: 'retention.failed', severity: 'warning', env: rt.env, time: time(), reason });
        return;
      }
      rt.logger.info({ kept: result.kept, removed: result.removed, orphansRemoved: result.orphansRemoved, temporaryRemoved: result.temporaryRemoved, skipped: result.skipped, bytesFreed: result.bytesFreed }, 'retention completed');
      await rt.bus.publish({
        type: 'retention.completed',
        severity: 'info',
        env: rt.env,
        time: time(),
        kept: result.kept,
        removed: result.removed,
        orphansRemoved: result.orphansRemoved,
        bytesFreed: result.bytesFreed,
        skipped: result.skipped,
      });
    } catch (err) {
      const reason = redactString(errorMessage(err));
      rt.logger.error({ err }, `retention failed: ${reason}`);
      await rt.bus.publish({ type: 'retention.failed', severity: 'warning', env: rt.env, time: time(), reason });
    } finally {
      deadline?.dispose();
    }
  };
}

/** The entry points of the retention function (declared in infra/functions.yaml). */
export const entryPoints: EntryPoints = { retentionEvent: event(retentionEventHandler) };
