import type { z } from 'zod';
import { formatIssues } from '../errors';

/** A decoded Pub/Sub message, or the reason it is poison (to be logged and acknowledged, never retried). */
export type Decoded<T> =
  | { payload: T; messageId: string; attributes: Record<string, string> }
  | { poison: true; reason: string; messageId?: string };

interface PubSubMessageLike {
  data?: string | Buffer | Uint8Array | null;
  attributes?: Record<string, string> | null;
  messageId?: string;
  message_id?: string;
}

/**
 * Decodes a Pub/Sub message whose data is JSON (base64 text as pushed, or raw bytes as pulled) with a zod
 * schema. Empty data decodes as `{}` (Cloud Scheduler may send none).
 */
export function decodePubSubJson<S extends z.ZodType>(schema: S, message: PubSubMessageLike): Decoded<z.output<S>> {
  const messageId = message.messageId ?? message.message_id ?? '';
  let text: string;
  if (message.data == null) text = '';
  else if (typeof message.data === 'string') text = Buffer.from(message.data, 'base64').toString('utf8');
  else text = Buffer.from(message.data).toString('utf8');
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
  return { payload: result.data, messageId, attributes: { ...(message.attributes ?? {}) } };
}

/**
 * Decodes the CloudEvent a 2nd-gen function receives for a Pub/Sub message
 * (type google.cloud.pubsub.topic.v1.messagePublished; data.message.{data, attributes, messageId}).
 */
export function decodeCloudEvent<S extends z.ZodType>(schema: S, event: { data?: unknown; id?: string; type?: string }): Decoded<z.output<S>> {
  const data = event.data as { message?: PubSubMessageLike } | undefined;
  if (!data || typeof data !== 'object' || !data.message || typeof data.message !== 'object') {
    return { poison: true, reason: 'data.message: missing (not a Pub/Sub CloudEvent)', messageId: event.id };
  }
  const decoded = decodePubSubJson(schema, data.message);
  if ('poison' in decoded) return { ...decoded, messageId: decoded.messageId || event.id };
  return { ...decoded, messageId: decoded.messageId || event.id || '' };
}
