/**
 * A function's entry points, by name: each function's handlers.ts exports them, its index.ts registers them with the
 * Functions Framework, and `npm start` serves the same ones as infra/ wires them.
 */
import * as ff from '@google-cloud/functions-framework';
import type { Request, Response, CloudEvent } from '@google-cloud/functions-framework';
import type { Runtime } from './runtime';
import { installJsonErrors } from './framework';
import { settleWithin } from '../deadline';

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

/**
 * How long an entry point waits for the outbox's drain before its own work. A bucket that stops answering holds the
 * drain for its requests' timeouts (a minute each, and retries): waited out, the probe run of that minute would not
 * even start before the function's timeout, and nothing would say why.
 */
export const FLUSH_WAIT_MS = 5_000;

/**
 * An entry point's handler, which first publishes what earlier runs left in the outbox (at least once, never lost),
 * waiting for that at most FLUSH_WAIT_MS: then one warning line, and its work goes on while the drain finishes or
 * fails on its own (each entry is claimed with compare-and-swap, so a later drain beside it publishes nothing twice).
 */
export function bindEntryPoint(ep: EntryPoint, runtime: () => Runtime): HttpHandler | EventHandler {
  const handler = ep.handler(runtime) as (...args: unknown[]) => Promise<unknown>;
  if (ep.readOnly) return handler as HttpHandler | EventHandler;
  return (async (...args: unknown[]) => {
    const rt = runtime();
    const flushing = rt.flushOutbox?.().then(() => false);
    // true when FLUSH_WAIT_MS passed before the drain finished
    const late = flushing && (await settleWithin(flushing, FLUSH_WAIT_MS, () => true));
    if (late)
      rt.logger.warn(
        `outbox: not drained within ${FLUSH_WAIT_MS / 1000} s (the bucket did not answer in time); going on without it, the next run drains it`,
      );
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
