/**
 * The local runtime's wiring, read from infra/: each HTTP entry point under /<function>, each event entry point on
 * the topics whose subscriptions push to it, each Scheduler job to the function its topic reaches. The entry points
 * themselves come from each function's handlers.ts (the same objects its index.ts registers).
 */
import type { Runtime } from '../../shared/functions/runtime';
import type { EntryPointKind } from '../../shared/infra/wiring';
import { entryPointMismatches, loadWiring, type Wiring } from '../../shared/infra/wiring';
import {
  bindEntryPoint,
  type EntryPoints,
  type EventHandler,
  type HttpHandler,
} from '../../shared/functions/entry-points';
import { UsageError } from '../../shared/errors';
import { entryPoints as backup } from '../backup/handlers';
import { entryPoints as retention } from '../retention/handlers';
import { entryPoints as verify } from '../verify/handlers';
import { entryPoints as probe } from '../probe/handlers';
import { entryPoints as fanout } from '../fanout/handlers';
import { entryPoints as status } from '../status/handlers';

export type { EventHandler, HttpHandler };

/** Every entry point of every function, by name. */
export const ENTRY_POINTS: EntryPoints = { ...backup, ...retention, ...verify, ...probe, ...fanout, ...status };

export function registeredKinds(entryPoints: EntryPoints = ENTRY_POINTS): Record<string, EntryPointKind> {
  return Object.fromEntries(Object.entries(entryPoints).map(([name, ep]) => [name, ep.kind]));
}

export interface LocalWiring {
  /** HTTP handlers by path segment (the function's name). */
  http: Record<string, HttpHandler>;
  /** Event handlers by topic. */
  topics: Record<string, EventHandler>;
  /** Each declared subscription that pushes to an entry point, with its handler (pulled on the Pub/Sub emulator). */
  subscriptions: Array<{
    name: string;
    topic: string;
    ackDeadlineSeconds: number;
    maxDeliveryAttempts?: number;
    entryPoint: string;
    handler: EventHandler;
  }>;
  jobs: Wiring['jobs'];
}

/** Wires the entry points as infra/ declares them; refuses (UsageError) when the declaration and the code disagree. */
export function wiring(
  runtime: () => Runtime,
  infra: Wiring = loadWiring(),
  entryPoints: EntryPoints = ENTRY_POINTS,
): LocalWiring {
  const problems = entryPointMismatches(infra.entryPoints, registeredKinds(entryPoints));
  if (problems.length > 0) throw new UsageError(`infra/ and the code disagree: ${problems.join('; ')}`, problems);
  const http: Record<string, HttpHandler> = {};
  const topics: Record<string, EventHandler> = {};
  const subscriptions: LocalWiring['subscriptions'] = [];
  for (const declared of infra.entryPoints) {
    const ep = entryPoints[declared.name]!;
    if (ep.kind === 'http') {
      if (http[declared.function])
        throw new UsageError(
          `function ${declared.function} has more than one HTTP entry point; npm start serves one per function`,
        );
      http[declared.function] = bindEntryPoint(ep, runtime) as HttpHandler;
    } else {
      const handler = bindEntryPoint(ep, runtime) as EventHandler;
      for (const topic of declared.topics) topics[topic] = handler;
      for (const sub of declared.subscriptions) subscriptions.push({ ...sub, entryPoint: declared.name, handler });
    }
  }
  return { http, topics, subscriptions, jobs: infra.jobs };
}

// scheduleOverrides lives with the wiring it checks against (`mt-ops config` uses it without loading the functions)
export { scheduleOverrides } from '../../shared/infra/wiring';
