// Entry points: `fanoutEvent` (Pub/Sub CloudEvents from mt-ops-events and mt-ops-monitoring) and `digestEvent`
// (the daily digest's Scheduler job, through mt-ops-digest-trigger) and `sweepEvent` (the sweep's job, every minute).
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { registerEntryPoints } from '../../shared/functions/entry-points';
import { entryPoints } from './handlers';

registerEntryPoints(entryPoints, runtimeFromEnvironment('fanout'));
