// Entry point: `verifyEvent` (scheduled, Pub/Sub CloudEvent from the weekly Scheduler job); see handlers.ts.
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { registerEntryPoints } from '../../shared/functions/entry-points';
import { entryPoints } from './handlers';

export { verifyEventHandler, VerifyRequestSchema } from './handlers';

registerEntryPoints(entryPoints, runtimeFromEnvironment('verify'));
