// Entry point: `probeEvent` (scheduled every minute, Pub/Sub CloudEvent from the Scheduler job); see handlers.ts.
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { registerEntryPoints } from '../../shared/functions/entry-points';
import { entryPoints } from './handlers';

const runtime = runtimeFromEnvironment('probe');
// Load the configuration now: a bad probes section (field path, condition quoted) refuses start-up.
runtime();
registerEntryPoints(entryPoints, runtime);
