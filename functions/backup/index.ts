import * as ff from '@google-cloud/functions-framework';
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { backupHttpHandler, backupEventHandler } from './handlers';

// Entry points: `backupHttp` (manual, HTTP POST) and `backupEvent` (scheduled, Pub/Sub CloudEvent).
const runtime = runtimeFromEnvironment('backup');
ff.http('backupHttp', backupHttpHandler(runtime));
ff.cloudEvent('backupEvent', backupEventHandler(runtime));
