// Entry point: `probeEvent` (scheduled every minute, Pub/Sub CloudEvent from the Scheduler job); see handlers.ts.
import { runtimeFromEnvironment, startOrRefuse } from '../../shared/functions/runtime';
import { registerEntryPoints } from '../../shared/functions/entry-points';
import { entryPoints } from './handlers';
import { unsetReferences } from '../../shared/probes/config';

// a probe naming a variable this function's environment does not set is a configuration error, refused at start-up
const runtime = runtimeFromEnvironment('probe', { check: unsetReferences });
// Load the configuration now: a bad probes section (field path, condition quoted) refuses start-up, in one line.
startOrRefuse(runtime, 'probe');
registerEntryPoints(entryPoints, runtime);
