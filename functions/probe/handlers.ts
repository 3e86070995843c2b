/** The probe function: the minute trigger runs the probe job. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { z } from 'zod';
import type { Runtime } from '../../shared/functions/runtime';
import { decodeTrigger } from '../../shared/functions/trigger';
import { configuredProbes, probeJob } from '../../shared/probes/job';
import { errorMessage } from '../../shared/errors';
import { event, type EntryPoints } from '../../shared/functions/entry-points';

/**
 * The minute trigger's message, as this configuration reads it: empty, or `{"only": ["name", ...]}` naming configured
 * probes (at most 1000 names). A name it does not
 * configure makes the message poison, with its path, like any other bad field: not a run that failed.
 */
export function probeRequestSchema(configured: readonly string[]) {
  const names = new Set(configured);
  const known = `not a configured probe (configured: ${configured.join(', ')})`;
  return z
    .object({
      only: z
        .array(
          z
            .string()
            .min(1)
            .refine((n) => names.has(n), known),
        )
        .min(1)
        .max(1000)
        .optional(),
    })
    .strict();
}

/**
 * Scheduled probing (every minute): runs the probes that are due, records each sample in its state document and
 * publishes alert events on threshold crossings. A bad message is poison (logged, acknowledged); a failed run is
 * logged and acknowledged too: the next minute's run probes again.
 */
export function probeEventHandler(runtime: () => Runtime) {
  return async (event: CloudEvent<unknown>) => {
    const rt = runtime();
    const names = configuredProbes(rt.config).map((p) => p.name);
    const decoded = decodeTrigger(probeRequestSchema(names), event, rt, 'probe');
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
