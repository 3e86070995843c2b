import type { z } from 'zod';
import { formatIssues } from '../errors';
import { OpsEvent } from './events';

/** A decoded Pub/Sub message, or the reason it is poison (to be logged and acknowledged, never retried). */
export type Decoded<T> =
  | { payload: T; messageId: string; attributes: Record<string, string> }
  | { poison: true; reason: string; messageId?: string };

/** A message as pulled (`data` bytes) or pushed / in a CloudEvent (`data` base64 text). */
export interface PubSubMessageLike {
  data?: string | Buffer | Uint8Array | null;
  attributes?: Record<string, string> | null;
  messageId?: string;
  message_id?: string;
}

/** The CloudEvent type of a Pub/Sub message delivered to a 2nd-gen function. */
export const PUBSUB_CLOUDEVENT_TYPE = 'google.cloud.pubsub.topic.v1.messagePublished';

/**
 * Decodes a Pub/Sub message whose data is JSON (base64 text as pushed, or raw bytes as pulled) with a zod
 * schema. Empty data decodes as `{}` (Cloud Scheduler may send none). Never throws: a bad message is poison,
 * with a reason `path: problem` that never contains the received values.
 */
export function decodePubSubJson<S extends z.ZodType>(schema: S, message: PubSubMessageLike): Decoded<z.output<S>> {
  const messageId = message.messageId ?? message.message_id ?? '';
  let text: string;
  if (message.data == null) text = '';
  else if (typeof message.data === 'string') {
    if (!/^[A-Za-z0-9+/\-_\s]*={0,2}\s*$/.test(message.data)) return { poison: true, reason: 'data: not base64', messageId };
    text = Buffer.from(message.data, 'base64').toString('utf8');
  } else text = Buffer.from(message.data).toString('utf8');
  let json: unknown = {};
  if (text.trim() !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      return { poison: true, reason: 'data: not valid JSON', messageId };
    }
  }
  const result = schema.safeParse(json);
  if (!result.success) return { poison: true, reason: formatIssues(result.error, 'data').join('; '), messageId };
  const attributes = message.attributes && typeof message.attributes === 'object' ? { ...message.attributes } : {};
  return { payload: result.data, messageId, attributes };
}

/** A received suite event, or why it is poison. */
export type DecodedEvent =
  | { event: OpsEvent; messageId: string; attributes: Record<string, string> }
  | { poison: true; reason: string; messageId?: string };

/**
 * Decodes one of the suite's events (topic mt-ops-events) from a message's data (base64 text or bytes)
 * and attributes. Never throws; callers log a poison result and acknowledge the message.
 */
export function decodePubSubMessage(
  data: string | Buffer | Uint8Array | null | undefined,
  attributes: Record<string, string> | null | undefined = {},
  messageId = '',
): DecodedEvent {
  const decoded = decodePubSubJson(OpsEvent, { data, attributes, messageId });
  if ('poison' in decoded) return decoded;
  return { event: decoded.payload, messageId: decoded.messageId, attributes: decoded.attributes };
}

/**
 * Decodes the CloudEvent a 2nd-gen function receives for a Pub/Sub message
 * (type google.cloud.pubsub.topic.v1.messagePublished; data.message.{data, attributes, messageId}).
 * The message id falls back to the CloudEvent id (they are the same for Pub/Sub triggers).
 */
export function decodeCloudEvent<S extends z.ZodType>(schema: S, event: { data?: unknown; id?: string; type?: string }): Decoded<z.output<S>> {
  if (event === null || typeof event !== 'object') return { poison: true, reason: 'event: not a CloudEvent' };
  if (typeof event.type === 'string' && event.type !== PUBSUB_CLOUDEVENT_TYPE) {
    return { poison: true, reason: `type: expected ${PUBSUB_CLOUDEVENT_TYPE}`, messageId: event.id };
  }
  let data = event.data;
  // Some transports hand the body over unparsed.
  if (typeof data === 'string' || Buffer.isBuffer(data)) {
    try {
      data = JSON.parse(String(data));
    } catch {
      return { poison: true, reason: 'data: not valid JSON', messageId: event.id };
    }
  }
  const message = (data as { message?: unknown } | null | undefined)?.message;
  if (!message || typeof message !== 'object') {
    return { poison: true, reason: 'data.message: missing (not a Pub/Sub CloudEvent)', messageId: event.id };
  }
  const decoded = decodePubSubJson(schema, message as PubSubMessageLike);
  if ('poison' in decoded) return { ...decoded, reason: prefixMessage(decoded.reason), messageId: decoded.messageId || event.id };
  return { ...decoded, messageId: decoded.messageId || event.id || '' };
}

/** In a CloudEvent the payload is at data.message.data. */
function prefixMessage(reason: string): string {
  return reason
    .split('; ')
    .map((r) => (r.startsWith('data') ? `data.message.${r}` : r))
    .join('; ');
}
