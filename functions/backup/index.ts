// Entry points: `backupHttp` (manual, HTTP POST) and `backupEvent` (scheduled, Pub/Sub CloudEvent); see handlers.ts.
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { registerEntryPoints } from '../../shared/functions/entry-points';
import { entryPoints } from './handlers';

registerEntryPoints(entryPoints, runtimeFromEnvironment('backup'));
