import * as ff from '@google-cloud/functions-framework';
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { digestEventHandler, fanoutEventHandler } from './handlers';

// Entry point: `fanoutEvent` (Pub/Sub CloudEvents from mt-ops-events and mt-ops-monitoring).
const runtime = runtimeFromEnvironment('fanout');
ff.cloudEvent('fanoutEvent', fanoutEventHandler(runtime));
// Entry point: `digestEvent` (the daily digest, Scheduler -> mt-ops-digest-trigger).
ff.cloudEvent('digestEvent', digestEventHandler(runtime));
