/** Decoding Pub/Sub messages (push envelopes and CloudEvents) and encoding them for the local runtime. */
import { z } from 'zod';
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

/** Pub/Sub's limit is 10 MB of data: its base64 text is at most this long (whitespace allowed for hand-made messages). */
const MAX_DATA_CHARS = 14_000_000;

/** Pub/Sub message ids are decimal strings (about 16 digits). Bounded: the id becomes part of a bucket key. */
export const PubSubMessageId = z
  .string()
  .regex(/^[0-9]{1,64}$/, 'must be a Pub/Sub message id (decimal digits, at most 64)');

/**
 * Base64 (standard or URL-safe alphabet, up to two `=` of padding at the end, whitespace ignored). Linear: one
 * search for a character outside the alphabet, then a look at the tail after the first `=`. The old single pattern
 * backtracked quadratically on long whitespace (40,000 spaces and a `%`: 2.8 s).
 */
export function isBase64(text: string): boolean {
  if (/[^A-Za-z0-9+/_\s=-]/.test(text)) return false;
  const first = text.indexOf('=');
  if (first === -1) return true;
  const second = text.indexOf('=', first + 1);
  if (second !== -1 && text.indexOf('=', second + 1) !== -1) return false;
  return /^[\s=]*$/.test(text.slice(first));
}

// optional: a message of attributes only has no data at all (Pub/Sub push leaves the field out); the refinement alone
// made the key required, so such a message was poison
const MessageData = z
  .unknown()
  .superRefine((value, ctx) => {
    if (value === undefined || value === null || value instanceof Uint8Array) return;
    if (typeof value !== 'string') ctx.addIssue({ code: 'custom', message: 'must be base64 text' });
    else if (value.length > MAX_DATA_CHARS)
      ctx.addIssue({ code: 'custom', message: `longer than ${MAX_DATA_CHARS} characters` });
    else if (!isBase64(value)) ctx.addIssue({ code: 'custom', message: 'not base64' });
  })
  .optional();

/** Pub/Sub's own limits: 100 attributes, keys up to 256 bytes, values up to 1024 bytes. */
const Attributes = z
  .record(z.string().min(1).max(256), z.string().max(1024))
  .refine((a) => Object.keys(a).length <= 100, 'at most 100 attributes');

/** A Pub/Sub message as pushed or pulled: every field the suite reads is checked; others (publishTime, orderingKey) pass. */
export const PubSubMessageSchema = z
  .object({
    data: MessageData,
    attributes: Attributes.nullish(),
    messageId: PubSubMessageId.optional(),
    message_id: PubSubMessageId.optional(),
  })
  .loose();

/** The CloudEvent of a Pub/Sub trigger: `data.message` is the message; `id` is its message id. */
const PubSubCloudEvent = z
  .object({
    id: PubSubMessageId.optional(),
    type: z.literal(PUBSUB_CLOUDEVENT_TYPE, { error: `expected ${PUBSUB_CLOUDEVENT_TYPE}` }).optional(),
    data: z
      .object(
        {
          message: z.looseObject(PubSubMessageSchema.shape, { error: 'missing (not a Pub/Sub CloudEvent)' }),
          subscription: z.string().max(1024).optional(),
        },
        { error: 'missing (not a Pub/Sub CloudEvent)' },
      )
      .loose(),
  })
  .loose();

const poison = (reason: string, messageId?: string) => ({
  poison: true as const,
  reason,
  ...(messageId ? { messageId } : {}),
});

/** The message id if it is a valid one (a poison message's id is logged only when it is). */
function validId(...candidates: unknown[]): string | undefined {
  for (const c of candidates) if (PubSubMessageId.safeParse(c).success) return c as string;
  return undefined;
}

/**
 * Decodes a Pub/Sub message whose data is JSON (base64 text as pushed, or raw bytes as pulled) with a zod
 * schema. Empty data decodes as `{}` (Cloud Scheduler may send none). Never throws: a bad message (any field of
 * the envelope or the payload) is poison, with a reason `path: problem` that never contains the received values.
 */
export function decodePubSubJson<S extends z.ZodType>(schema: S, message: PubSubMessageLike): Decoded<z.output<S>> {
  return decodeMessage(schema, message, '');
}

function decodeMessage<S extends z.ZodType>(schema: S, message: unknown, root: string): Decoded<z.output<S>> {
  const at = (p: string) => (root ? `${root}.${p}` : p);
  const m = message as Record<string, unknown> | null;
  try {
    const envelope = PubSubMessageSchema.safeParse(message);
    if (!envelope.success)
      return poison(formatIssues(envelope.error, root).join('; '), validId(m?.messageId, m?.message_id));
    const { data, attributes } = envelope.data;
    const messageId = envelope.data.messageId ?? envelope.data.message_id ?? '';
    let text = '';
    if (typeof data === 'string') text = Buffer.from(data, 'base64').toString('utf8');
    else if (data instanceof Uint8Array)
      text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
    let json: unknown = {};
    if (text.trim() !== '') {
      try {
        json = JSON.parse(text);
      } catch {
        return poison(`${at('data')}: not valid JSON`, messageId);
      }
    }
    const result = schema.safeParse(json);
    if (!result.success) return poison(formatIssues(result.error, at('data')).join('; '), messageId);
    return { payload: result.data, messageId, attributes: { ...(attributes ?? {}) } };
  } catch {
    // Nothing above should throw; if something does, the message is still poison, never a redelivery loop.
    return poison(`${root || 'message'}: could not be decoded`, validId(m?.messageId, m?.message_id));
  }
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
  const decoded = decodePubSubJson(OpsEvent, { data, attributes, ...(messageId ? { messageId } : {}) });
  if ('poison' in decoded) return decoded;
  return { event: decoded.payload, messageId: decoded.messageId, attributes: decoded.attributes };
}

/**
 * Decodes the CloudEvent a 2nd-gen function receives for a Pub/Sub message
 * (type google.cloud.pubsub.topic.v1.messagePublished; data.message.{data, attributes, messageId}).
 * The message id falls back to the CloudEvent id (they are the same for Pub/Sub triggers). Never throws.
 */
export function decodeCloudEvent<S extends z.ZodType>(schema: S, event: unknown): Decoded<z.output<S>> {
  try {
    if (event === null || typeof event !== 'object' || Array.isArray(event)) return poison('event: not a CloudEvent');
    let candidate = event as Record<string, unknown>;
    // Some transports hand the body over unparsed.
    if (typeof candidate.data === 'string' || Buffer.isBuffer(candidate.data)) {
      try {
        candidate = { ...candidate, data: JSON.parse(String(candidate.data)) };
      } catch {
        return poison('data: not valid JSON', validId(candidate.id));
      }
    }
    const envelope = PubSubCloudEvent.safeParse(candidate);
    const message = (candidate.data as { message?: Record<string, unknown> } | null)?.message;
    const id = validId(message?.messageId, message?.message_id, candidate.id);
    if (!envelope.success) return poison(formatIssues(envelope.error).join('; '), id);
    const decoded = decodeMessage(schema, envelope.data.data.message, 'data.message');
    if ('poison' in decoded) return id ? { ...decoded, messageId: id } : decoded;
    return { ...decoded, messageId: decoded.messageId || envelope.data.id || '' };
  } catch {
    return poison('event: could not be decoded');
  }
}

/**
 * The CloudEvent in which Pub/Sub delivers a message to a 2nd-gen function: what decodeCloudEvent reads. The local
 * runtime uses it to play Scheduler -> Pub/Sub -> function in-process with the same envelope.
 */
export function encodeCloudEvent(options: {
  topic: string;
  /** JSON payload of the message. */
  payload: unknown;
  /** A Pub/Sub message id: decimal digits. */
  messageId: string;
  attributes?: Record<string, string>;
  subscription?: string;
  project?: string;
  time?: Date;
}): {
  specversion: '1.0';
  id: string;
  source: string;
  type: typeof PUBSUB_CLOUDEVENT_TYPE;
  time: string;
  data: { message: { data: string; messageId: string; attributes: Record<string, string> }; subscription: string };
} {
  const project = options.project ?? 'local';
  return {
    specversion: '1.0',
    id: options.messageId,
    source: `//pubsub.googleapis.com/projects/${project}/topics/${options.topic}`,
    type: PUBSUB_CLOUDEVENT_TYPE,
    time: (options.time ?? new Date()).toISOString(),
    data: {
      message: {
        data: Buffer.from(JSON.stringify(options.payload)).toString('base64'),
        messageId: options.messageId,
        attributes: options.attributes ?? {},
      },
      subscription: options.subscription ?? `projects/${project}/subscriptions/local-${options.topic}`,
    },
  };
}
