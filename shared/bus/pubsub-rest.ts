/**
 * Publishing to Pub/Sub over its documented REST API (`POST /v1/projects/P/topics/T:publish`), with Node's fetch:
 * a function's first publish then costs one HTTPS request, not the load of the gRPC client (google-gax, grpc-js,
 * protobufjs) and its channel set-up, which put ~300 ms on the cold start of every function whose first request
 * publishes (README, the dependency note). The official client stays for everything else (subscriptions, infra).
 *
 * Failures: 429, 5xx and network errors are retried with exponential backoff (a 429's Retry-After honoured) until the
 * caller's signal ends it; any other answer (400, 403, 404, ...) fails at once in one line naming the topic and the
 * status.
 */
import { errorMessage } from '../errors';

/** Where the requests go, resolved as the official client resolves its endpoint. */
export interface PubSubEndpoint {
  /** `https://pubsub.googleapis.com`, or `http://host:port` for the emulator. */
  url: string;
  /** The emulator: plain HTTP, no credentials. */
  emulator: boolean;
}

export interface EndpointOptions {
  /** `host:port` (or a URL); default PUBSUB_EMULATOR_HOST, then CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB. */
  apiEndpoint?: string;
  /** true: emulator mode whatever the host; false: never (credentials are sent); default: any host but *.googleapis.com. */
  emulatorMode?: boolean;
}

/**
 * The endpoint as @google-cloud/pubsub's determineBaseUrl_ sees it: the explicit endpoint, else PUBSUB_EMULATOR_HOST,
 * else CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB; a leading http(s):// and trailing slashes dropped; no port means 443
 * for https://, 80 for http://; emulator mode (plain, no credentials) unless the host ends in .googleapis.com, or as
 * emulatorMode says. Emulator mode speaks http; the real service https (http only when the endpoint says http://).
 */
export function pubsubEndpoint(options: EndpointOptions = {}, env = process.env): PubSubEndpoint {
  const given = options.apiEndpoint || env.PUBSUB_EMULATOR_HOST || env.CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB;
  if (!given) return { url: 'https://pubsub.googleapis.com', emulator: options.emulatorMode === true };
  const [host = '', portText] = given
    .replace(/^https?:\/\//, '')
    .replace(/(?<!\/)\/+$/, '')
    .split(':');
  const emulator =
    options.emulatorMode === true || (options.emulatorMode !== false && !host.endsWith('.googleapis.com'));
  const scheme = emulator || given.startsWith('http://') ? 'http' : 'https';
  const port = portText ? Number.parseInt(portText, 10) : undefined;
  return { url: `${scheme}://${host}${port === undefined ? '' : `:${port}`}`, emulator };
}

/** What gives the Authorization header: google-auth-library's GoogleAuth (the storage client's; see pubsub-bus.ts). */
export interface RequestAuth {
  getRequestHeaders(url?: string): Promise<unknown>;
}

export interface PublishTarget {
  endpoint: PubSubEndpoint;
  projectId: string;
  topic: string;
  /** Required off the emulator. */
  auth?: RequestAuth;
}

export interface OutgoingMessage {
  data: Buffer;
  attributes: Record<string, string>;
}

/** First retry after ~100 ms, doubling, at most 5 s apart. */
const BACKOFF = { initialMs: 100, maxMs: 5_000 };

/**
 * Publishes one message and resolves to its id. Retries as the header says until `signal` aborts, then rejects with
 * the signal's reason and what the last attempt met, in one line.
 */
export async function publishMessage(
  target: PublishTarget,
  message: OutgoingMessage,
  signal?: AbortSignal,
): Promise<string> {
  const { endpoint, projectId, topic } = target;
  const url = `${endpoint.url}/v1/projects/${encodeURIComponent(projectId)}/topics/${encodeURIComponent(topic)}:publish`;
  const body = JSON.stringify({
    messages: [{ data: message.data.toString('base64'), attributes: message.attributes }],
  });
  let last: string | undefined;
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw ended(signal, last && `last attempt: ${last}`);
    const headers = new Headers({ 'content-type': 'application/json' });
    if (!endpoint.emulator) {
      if (!target.auth) throw new Error(`no credentials to publish to topic ${topic}`);
      let auth: unknown;
      try {
        auth = await target.auth.getRequestHeaders(url);
      } catch (err) {
        throw new Error(`no access token to publish to topic ${topic}: ${oneLine(errorMessage(err))}`);
      }
      for (const [name, value] of new Headers(auth as ConstructorParameters<typeof Headers>[0]))
        headers.set(name, value);
    }
    let delayMs = backoff(attempt);
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal });
      const text = await res.text();
      if (res.ok) return messageId(text, topic);
      const why = describeAnswer(res.status, text);
      if (res.status !== 429 && res.status < 500)
        throw new PublishRefused(`Pub/Sub refused publishing to topic ${topic} in project ${projectId}: ${why}`);
      last = why;
      delayMs = retryAfter(res.headers.get('retry-after')) ?? delayMs;
    } catch (err) {
      if (err instanceof PublishRefused) throw err;
      // cut in flight: what the last answered attempt met says more than the cut itself
      if (signal?.aborted) throw ended(signal, last ? `last attempt: ${last}` : `no answer from ${endpoint.url}`);
      last = `no answer (${networkReason(err)})`;
    }
    await sleep(delayMs, signal).catch(() => {});
  }
}

class PublishRefused extends Error {}

function backoff(attempt: number): number {
  const ms = Math.min(BACKOFF.maxMs, BACKOFF.initialMs * 2 ** attempt);
  return ms / 2 + (Math.random() * ms) / 2;
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
function retryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function messageId(text: string, topic: string): string {
  let ids: unknown;
  try {
    ids = (JSON.parse(text) as { messageIds?: unknown }).messageIds;
  } catch {
    // reported below
  }
  if (!Array.isArray(ids) || typeof ids[0] !== 'string')
    throw new PublishRefused(`Pub/Sub answered publishing to topic ${topic} without a message id`);
  return ids[0];
}

/** `HTTP 403 PERMISSION_DENIED: User not authorized ...` from Google's JSON error, else the status and the text. */
function describeAnswer(status: number, text: string): string {
  let detail = text;
  try {
    const { error } = JSON.parse(text) as { error?: { status?: string; message?: string } };
    if (error) detail = [error.status, error.message].filter(Boolean).join(': ');
  } catch {
    // not JSON: the text itself
  }
  detail = oneLine(detail).slice(0, 300);
  return `HTTP ${status}${detail ? ` ${detail}` : ''}`;
}

/** fetch's "fetch failed" says nothing: its cause does (ECONNREFUSED, other side closed, ...). */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return oneLine(cause?.code ?? cause?.message ?? errorMessage(err));
}

function ended(signal: AbortSignal, detail: string | undefined): Error {
  const reason: unknown = signal.reason;
  const message = reason instanceof Error && reason.name !== 'AbortError' ? reason.message : 'publishing was aborted';
  return new Error(detail ? `${message} (${detail})` : message);
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      if (signal?.aborted) reject(signal.reason);
      else resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
