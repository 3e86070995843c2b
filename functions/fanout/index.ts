import * as ff from '@google-cloud/functions-framework';
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { fanoutEventHandler } from './handlers';

// Entry point: `fanoutEvent` (Pub/Sub CloudEvents from mt-ops-events and mt-ops-monitoring).
ff.cloudEvent('fanoutEvent', fanoutEventHandler(runtimeFromEnvironment('fanout')));
