/** The backup function: manual backups over HTTP and scheduled ones from Pub/Sub, both through the backup job. */
import type { Request, Response } from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { backupJob, backupOptions } from '../../shared/backup/job';
import { BackupRequestSchema, type BackupRequest } from '../../shared/backup/request';
import { TimeLimitError, UsageError } from '../../shared/errors';
import type { Deadline } from '../../shared/deadline';
import { decodeJsonBody, answerError } from '../../shared/functions/http';
import { decodeTrigger } from '../../shared/functions/trigger';
import { redeliver } from '../../shared/functions/framework';
import { startRunDeadline, type Runtime } from '../../shared/functions/runtime';
import type { BackupOptions } from '../../shared/backup/run';
import { http, event, type EntryPoints } from '../../shared/functions/entry-points';

/** The backup job of this runtime for one request (`root`: where the request came from, for error paths). */
function job(
  rt: Runtime,
  request: BackupRequest,
  trigger: BackupOptions['trigger'] & {},
  root: 'body' | 'data',
  deadline: Deadline | undefined,
) {
  const options = backupOptions(rt, {
    request,
    fields: { schemas: `${root}.schemas`, excludeTables: `${root}.excludeTables` },
    trigger,
  });
  return backupJob(rt, { ...options, ...(deadline ? { deadline } : {}) });
}

/** Manual backups: POST with an optional JSON body {label, schemas, excludeTables}; answers when done. */
export function backupHttpHandler(runtime: () => Runtime) {
  return async (req: Request, res: Response): Promise<void> => {
    const rt = runtime();
    if (req.method !== 'POST') {
      res.status(405).set('Allow', 'POST').json({ error: 'use POST' });
      return;
    }
    const request = decodeJsonBody(req, res, BackupRequestSchema);
    if (!request) return;
    const deadline = startRunDeadline(rt);
    try {
      const result = await job(rt, request, { kind: 'manual' }, 'body', deadline);
      if (result.status === 'busy')
        res.status(409).json({ status: 'busy', message: 'another backup is running', until: result.until });
      else if (result.status === 'duplicate') res.status(200).json(result);
      else {
        const m = result.manifest;
        res.status(200).json({
          status: 'completed',
          id: m.id,
          env: m.env,
          label: m.label,
          startedAt: m.startedAt,
          finishedAt: m.finishedAt,
          totals: m.totals,
        });
      }
    } catch (err) {
      answerError(res, err, rt.logger);
    } finally {
      deadline?.dispose();
    }
  };
}

/**
 * Scheduled backups: a Pub/Sub message (from Cloud Scheduler) as a CloudEvent. A bad message is logged and
 * acknowledged (a poison message must not loop); a failed backup rethrows so Pub/Sub can redeliver.
 */
export function backupEventHandler(runtime: () => Runtime) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    const rt = runtime();
    const decoded = decodeTrigger(BackupRequestSchema, event, rt, 'backup');
    if (!decoded) return;
    const deadline = startRunDeadline(rt);
    try {
      await job(rt, decoded.payload, { kind: 'scheduled', messageId: decoded.messageId }, 'data', deadline);
    } catch (err) {
      // Stopped before the time limit (reported as backup.failed): a redelivery would hit the same limit.
      if (err instanceof TimeLimitError) return;
      // A failure is retried by Pub/Sub (the framework logs the thrown error's stack: redeliver() makes it one line).
      if (!(err instanceof UsageError)) throw redeliver(err);
      // A scope naming a schema that does not exist: poison like a malformed message (acknowledged, no page).
      rt.logger.error({ reason: err.message, messageId: decoded.messageId }, `backup trigger rejected: ${err.message}`);
    } finally {
      deadline?.dispose();
    }
  };
}

/** The entry points of the backup function (declared in infra/functions.yaml). */
export const entryPoints: EntryPoints = { backupHttp: http(backupHttpHandler), backupEvent: event(backupEventHandler) };
