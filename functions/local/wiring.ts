import type { Request, Response, CloudEvent } from '@google-cloud/functions-framework';
import type { Runtime } from '../../shared/functions/runtime';
import { backupHttpHandler, backupEventHandler } from '../backup/handlers';
import { retentionEventHandler } from '../retention/handlers';
import { verifyEventHandler } from '../verify/handlers';

export type HttpHandler = (req: Request, res: Response) => Promise<void>;
export type EventHandler = (event: CloudEvent<unknown>) => Promise<unknown>;

/** Which function serves which HTTP path and which Pub/Sub topic: the same wiring infra/ declares for the cloud. */
export function wiring(runtime: () => Runtime): { http: Record<string, HttpHandler>; topics: Record<string, EventHandler> } {
  return {
    http: {
      backup: backupHttpHandler(runtime),
    },
    topics: {
      'mt-ops-backup-trigger': backupEventHandler(runtime),
      'mt-ops-retention-trigger': retentionEventHandler(runtime),
      'mt-ops-verify-trigger': verifyEventHandler(runtime),
    },
  };
}
