import * as ff from '@google-cloud/functions-framework';
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { verifyEventHandler } from './handlers';

export { verifyEventHandler, VerifyRequestSchema } from './handlers';

// Entry point: `verifyEvent` (scheduled, Pub/Sub CloudEvent from the weekly Scheduler job).
ff.cloudEvent('verifyEvent', verifyEventHandler(runtimeFromEnvironment('verify')));
