// Entry point: `retentionEvent` (scheduled, Pub/Sub CloudEvent from the daily Scheduler job); see handlers.ts.
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { registerEntryPoints } from '../../shared/functions/entry-points';
import { entryPoints } from './handlers';

registerEntryPoints(entryPoints, runtimeFromEnvironment('retention'));
