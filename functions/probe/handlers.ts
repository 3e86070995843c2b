/** The probe function: the minute trigger runs the probe job. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { z } from 'zod';
import type { Runtime } from '../../shared/functions/runtime';
import { decodeTrigger } from '../../shared/functions/trigger';
import { probeJob } from '../../shared/probes/job';
import { errorMessage } from '../../shared/errors';
import { event, type EntryPoints } from '../../shared/functions/entry-points';

/** The minute trigger's message: empty, or `{"only": ["name", ...]}`. */
export const ProbeRequestSchema = z.object({ only: z.array(z.string().min(1)).min(1).optional() }).strict();

/**
 * Scheduled probing (every minute): runs the probes that are due, records each sample in its state document and
 * publishes alert events on threshold crossings. A bad message is poison (logged, acknowledged); a failed run is
 * logged and acknowledged too: the next minute's run probes again.
 */
export function probeEventHandler(runtime: () => Runtime) {
  return async (event: CloudEvent<unknown>) => {
    const rt = runtime();
    const decoded = decodeTrigger(ProbeRequestSchema, event, rt, 'probe');
    if (!decoded) return undefined;
    try {
      const { run } = await probeJob(rt, { only: decoded.payload.only, retire: true });
      return {
        passed: run.passed,
        failed: run.failed,
        warnings: run.warnings,
        notDue: run.notDue.length,
        durationMs: run.durationMs,
      };
    } catch (err) {
      rt.logger.error({ err }, `probe run failed: ${errorMessage(err)}`);
      return undefined;
    }
  };
}

export const entryPoints: EntryPoints = { probeEvent: event(probeEventHandler) };
