import type { Request, Response, CloudEvent } from '@google-cloud/functions-framework';
import type { Runtime } from '../../shared/functions/runtime';
import { backupHttpHandler, backupEventHandler } from '../backup/handlers';

export type HttpHandler = (req: Request, res: Response) => Promise<void>;
export type EventHandler = (event: CloudEvent<unknown>) => Promise<void>;

/** Which function serves which HTTP path and which Pub/Sub topic: the same wiring infra/ declares for the cloud. */
export function wiring(runtime: () => Runtime): { http: Record<string, HttpHandler>; topics: Record<string, EventHandler> } {
  return {
    http: {
      backup: backupHttpHandler(runtime),
    },
    topics: {
      'mt-ops-backup-trigger': backupEventHandler(runtime),
    },
  };
}
