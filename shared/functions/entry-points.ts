/**
 * A function's entry points, by name: each function's handlers.ts exports them, its index.ts registers them with the
 * Functions Framework, and `npm start` serves the same ones as infra/ wires them.
 */
import * as ff from '@google-cloud/functions-framework';
import type { Request, Response, CloudEvent } from '@google-cloud/functions-framework';
import type { Runtime } from './runtime';
import { installJsonErrors } from './framework';

export type HttpHandler = (req: Request, res: Response) => Promise<void>;
export type EventHandler = (event: CloudEvent<unknown>) => Promise<unknown>;

export type EntryPoint =
  | { kind: 'http'; handler: (runtime: () => Runtime) => HttpHandler; readOnly?: boolean }
  | { kind: 'event'; handler: (runtime: () => Runtime) => EventHandler; readOnly?: boolean };

export type EntryPoints = Record<string, EntryPoint>;

/** `readOnly`: the entry point only reads (the status page): it publishes nothing, so it does not flush the outbox either. */
export const http = (
  handler: (runtime: () => Runtime) => HttpHandler,
  options: { readOnly?: boolean } = {},
): EntryPoint => ({ kind: 'http', handler, ...options });
export const event = (handler: (runtime: () => Runtime) => EventHandler): EntryPoint => ({ kind: 'event', handler });

/** An entry point's handler, which first publishes what earlier runs left in the outbox (at least once, never lost). */
export function bindEntryPoint(ep: EntryPoint, runtime: () => Runtime): HttpHandler | EventHandler {
  const handler = ep.handler(runtime) as (...args: unknown[]) => Promise<unknown>;
  if (ep.readOnly) return handler as HttpHandler | EventHandler;
  return (async (...args: unknown[]) => {
    await runtime().flushOutbox?.();
    return handler(...args);
  }) as HttpHandler | EventHandler;
}

/** Registers every entry point with the Functions Framework (the deployed function's index.ts), behind our JSON error answers. */
export function registerEntryPoints(entryPoints: EntryPoints, runtime: () => Runtime): void {
  installJsonErrors(); // every error answer JSON, never the framework's HTML page with a stack and paths
  for (const [name, ep] of Object.entries(entryPoints)) {
    if (ep.kind === 'http') ff.http(name, bindEntryPoint(ep, runtime) as HttpHandler);
    else ff.cloudEvent(name, bindEntryPoint(ep, runtime) as EventHandler);
  }
}
