/** Decoding a scheduled trigger message; a bad one is logged and acknowledged as poison. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { z } from 'zod';
import { decodeCloudEvent } from '../bus/decode';
import type { Runtime } from './runtime';

/**
 * Decodes a scheduled trigger (a Pub/Sub message as a CloudEvent) with its zod schema. A bad message (any field of
 * the envelope or the payload) is poison: logged with the field path and acknowledged (returns undefined), never
 * rethrown, so Pub/Sub never redelivers it.
 */
export function decodeTrigger<S extends z.ZodType>(
  schema: S,
  event: CloudEvent<unknown>,
  rt: Runtime,
  what: string,
): { payload: z.output<S>; messageId: string } | undefined {
  const decoded = decodeCloudEvent(schema, event);
  if ('poison' in decoded) {
    rt.logger.error(
      { reason: decoded.reason, messageId: decoded.messageId },
      `${what} trigger rejected (acknowledged, not retried): ${decoded.reason}`,
    );
    return undefined;
  }
  return { payload: decoded.payload, messageId: decoded.messageId };
}
