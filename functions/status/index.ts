// Entry point: `statusHttp` (HTTP GET: the status page, its JSON and the badges); see handlers.ts.
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { registerEntryPoints } from '../../shared/functions/entry-points';
import { entryPoints } from './handlers';

registerEntryPoints(entryPoints, runtimeFromEnvironment('status'));
