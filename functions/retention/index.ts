import * as ff from '@google-cloud/functions-framework';
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { retentionEventHandler } from './handlers';

// Entry point: `retentionEvent` (scheduled, Pub/Sub CloudEvent from the daily Scheduler job).
ff.cloudEvent('retentionEvent', retentionEventHandler(runtimeFromEnvironment('retention')));
