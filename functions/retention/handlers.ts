/** The retention function: the daily trigger runs the retention job. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { z } from 'zod';
import { decodeTrigger } from '../../shared/functions/trigger';
import { retentionJob, retentionOptions } from '../../shared/retention/job';
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
    const deadline = startRunDeadline(rt);
    const signal = withDeadlineSignal(rt.signal, deadline);
    await retentionJob(
      { ...rt, trigger: 'scheduled', ...(deadline ? { deadline } : {}) },
      retentionOptions(rt.config, { dryRun: decoded.payload.dryRun, signal }),
    )
      .catch(() => {
        // logged and published by the job's report; acknowledged: the next daily run retries
      })
      .finally(() => deadline?.dispose());
  };
}

/** The entry points of the retention function (declared in infra/functions.yaml). */
export const entryPoints: EntryPoints = { retentionEvent: event(retentionEventHandler) };
