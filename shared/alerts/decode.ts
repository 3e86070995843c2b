/** Fan-out stage 1, decode: a Pub/Sub message or an operator's file to a typed input, or the reason it is poison. */
import { z } from 'zod';
import { OpsEvent } from '../bus/events';
import { formatIssues } from '../errors';
import { redactThenCut } from '../log/redact';
import type { PubSubMessageLike } from '../bus/decode';

/**
 * Stage 1, decode: a Pub/Sub message (or a file an operator feeds to `mt-ops alerts send`) becomes one of the
 * suite's events or a Cloud Monitoring incident notification. Never throws: anything else is poison, with a
 * reason (`path: problem`) and a redacted excerpt, to be logged, counted and acknowledged.
 */

const text = z.string();
const labelMap = z
  .record(z.string(), z.unknown())
  .nullish()
  .transform((m) =>
    Object.fromEntries(
      Object.entries(m ?? {})
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => [k, String(v)]),
    ),
  );
const seconds = z.union([
  z.number(),
  z
    .string()
    .regex(/^\d+(\.\d+)?$/)
    .transform(Number),
]);

/** Cloud Monitoring incident, schema 1.2 (../shared/reference/cloud-monitoring-incident.md). Lenient: case, nulls, unknown fields. */
export const CmIncident = z.looseObject({
  incident_id: z.string().min(1),
  state: text.transform((s) => s.toLowerCase()).pipe(z.enum(['open', 'closed'])),
  started_at: seconds.nullish(),
  ended_at: seconds.nullish(),
  policy_name: text.nullish(),
  condition_name: text.nullish(),
  summary: text.nullish(),
  url: text.nullish(),
  severity: text.nullish(),
  scoping_project_id: text.nullish(),
  resource_display_name: text.nullish(),
  resource: z.looseObject({ type: text.nullish(), labels: labelMap }).nullish(),
  metric: z.looseObject({ type: text.nullish(), displayName: text.nullish(), labels: labelMap }).nullish(),
  observed_value: z.union([text, z.number()]).nullish(),
  threshold_value: z.union([text, z.number()]).nullish(),
  documentation: z.looseObject({ content: text.nullish(), subject: text.nullish() }).nullish(),
  policy_user_labels: labelMap,
  metadata: z.looseObject({ user_labels: labelMap }).nullish(),
});
export type CmIncident = z.output<typeof CmIncident>;

export const CmNotification = z.looseObject({
  version: z.union([text, z.number()]).transform(String),
  incident: CmIncident,
});
export type CmNotification = z.output<typeof CmNotification>;

export type DecodedInput =
  | { kind: 'event'; event: OpsEvent; messageId: string }
  | { kind: 'incident'; notification: CmNotification; messageId: string }
  | { kind: 'poison'; reason: string; excerpt: string; messageId: string };

const EXCERPT_CHARS = 200;

/** The first characters of a bad message, secrets masked, for the log line. */
export function excerptOf(raw: string): string {
  // masked before it is cut: a secret cut in two is no longer recognised
  return redactThenCut(raw, EXCERPT_CHARS, { prepare: (t) => t.replace(/\s+/g, ' ').trim() });
}

/** Decodes a Pub/Sub message whose data is base64 text (push, CloudEvent) or bytes (pull). */
export function decodeMessage(message: PubSubMessageLike): DecodedInput {
  const messageId = message.messageId ?? message.message_id ?? '';
  let raw: string;
  if (message.data == null) raw = '';
  else if (typeof message.data === 'string') {
    if (!/^[A-Za-z0-9+/\-_\s]*={0,2}\s*$/.test(message.data))
      return { kind: 'poison', reason: 'data: not base64', excerpt: excerptOf(message.data), messageId };
    raw = Buffer.from(message.data, 'base64').toString('utf8');
  } else raw = Buffer.from(message.data).toString('utf8');
  return decodeText(raw, messageId);
}

/** Decodes a JSON document: one of our events or a Cloud Monitoring notification. */
export function decodeText(raw: string, messageId: string): DecodedInput {
  if (raw.trim() === '') return { kind: 'poison', reason: 'data: empty', excerpt: '', messageId };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { kind: 'poison', reason: 'data: not valid JSON', excerpt: excerptOf(raw), messageId };
  }
  return decodeJson(json, messageId, raw);
}

export function decodeJson(json: unknown, messageId: string, raw = JSON.stringify(json) ?? ''): DecodedInput {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return { kind: 'poison', reason: 'data: expected a JSON object', excerpt: excerptOf(raw), messageId };
  }
  if ('incident' in json) {
    const result = CmNotification.safeParse(json);
    if (result.success) return { kind: 'incident', notification: result.data, messageId };
    return {
      kind: 'poison',
      reason: formatIssues(result.error, 'data').join('; '),
      excerpt: excerptOf(raw),
      messageId,
    };
  }
  const result = OpsEvent.safeParse(json);
  if (result.success) return { kind: 'event', event: result.data, messageId };
  const reason =
    'type' in json
      ? formatIssues(result.error, 'data').join('; ')
      : 'data: neither a suite event (no "type") nor a Cloud Monitoring notification (no "incident")';
  return { kind: 'poison', reason, excerpt: excerptOf(raw), messageId };
}

/**
 * A document an operator hands to `mt-ops alerts send`: the message itself (our event or a Cloud Monitoring
 * notification), a Pub/Sub push envelope (`{message: {data, messageId}}`) or a Pub/Sub CloudEvent (`{data: {message}}`).
 * Without a message id, the content's hash stands in for one (sending the same file twice notifies once).
 */
export function decodeDocument(raw: string, fallbackId: string): DecodedInput {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { kind: 'poison', reason: 'file: not valid JSON', excerpt: excerptOf(raw), messageId: fallbackId };
  }
  const obj = json as { message?: unknown; data?: { message?: unknown }; id?: string };
  const message =
    obj && typeof obj === 'object'
      ? isMessage(obj.message)
        ? obj.message
        : isMessage(obj.data?.message)
          ? obj.data!.message
          : undefined
      : undefined;
  if (message) {
    const decoded = decodeMessage(message);
    return decoded.messageId ? decoded : { ...decoded, messageId: obj.id ?? fallbackId };
  }
  return decodeJson(json, fallbackId, raw);
}

function isMessage(value: unknown): value is PubSubMessageLike {
  return value !== null && typeof value === 'object' && 'data' in value;
}
