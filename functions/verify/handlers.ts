/** The verify function: the weekly trigger runs the verify job (checksums, then the restore drill). */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { z } from 'zod';
import { startRunDeadline, type Runtime } from '../../shared/functions/runtime';
import { verifyJob, verifyOptions, type VerifyJobResult } from '../../shared/restore/verify-job';
import { decodeTrigger } from '../../shared/functions/trigger';
import { event, type EntryPoints } from '../../shared/functions/entry-points';
import { redeliver } from '../../shared/functions/framework';
import { InterruptedError } from '../../shared/errors';

/** The weekly trigger carries no options. */
export const VerifyRequestSchema = z.object({}).strict();

/**
 * Scheduled verify (Cloud Scheduler -> Pub/Sub, weekly by default): the newest backup's checksums, and the restore
 * drill into VERIFY_DATABASE_URL when set. Publishes verify.succeeded / verify.failed. The message body must be
 * empty or `{}`; anything else is poison (logged and acknowledged).
 * A failed verify is reported (critical event) and acknowledged: redelivering would not change the outcome. A verify
 * stopped with the instance (the runtime's signal) records and reports nothing and fails, so Pub/Sub redelivers.
 */
export function verifyEventHandler(runtime: () => Runtime) {
  return async (event: CloudEvent<unknown>): Promise<VerifyJobResult | undefined> => {
    const rt = runtime();
    if (!decodeTrigger(VerifyRequestSchema, event, rt, 'verify')) return undefined;
    const deadline = startRunDeadline(rt);
    try {
      return await verifyJob(rt, { ...verifyOptions(rt, { trigger: 'scheduled' }), ...(deadline ? { deadline } : {}) });
    } catch (err) {
      // Stopped with the instance (logged in one line): Pub/Sub redelivers, and the next instance verifies.
      if (err instanceof InterruptedError) throw redeliver(err);
      throw err;
    } finally {
      deadline?.dispose();
    }
  };
}

/** The entry points of the verify function (declared in infra/functions.yaml). */
export const entryPoints: EntryPoints = { verifyEvent: event(verifyEventHandler) };
