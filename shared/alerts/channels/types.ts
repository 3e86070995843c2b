/** What every alert channel takes and answers: the notification, the result, the Channel interface. */
import type { Alert, ChannelName, Notice } from '../model';
import type { TransitionKind } from '../lifecycle';

/** What a channel is asked to send: one incident transition, or the daily digest. */
export type Notification =
  { kind: TransitionKind | 'test'; alert: Alert; seq: number } | { kind: 'digest'; digest: Digest };

export interface Digest {
  env: string;
  /** The period covered (ISO). */
  from: string;
  to: string;
  notices: Notice[];
}

/** The outcome of one send. A failure says whether trying again can help (429, 5xx, a timeout) or not (400). */
export type SendResult =
  | { ok: true; detail?: string }
  | {
      ok: false;
      retryable: boolean;
      error: string;
      /** The server asked to wait this long (Retry-After). */ retryAfterMs?: number;
    };

/** One notification channel (one file each under channels/). */
export interface Channel {
  readonly name: ChannelName;
  /** Whether it can send this notification at all (PagerDuty does not take digests). */
  accepts(n: Notification): boolean;
  send(n: Notification, signal: AbortSignal): Promise<SendResult>;
  close?(): Promise<void>;
}

/** Severity colours (Slack attachments, email). */
export const COLOUR = { critical: '#d40e0d', warning: '#f2c744', info: '#439fe0', resolved: '#2eb886' } as const;

export function statusWord(n: Notification): string {
  if (n.kind === 'digest') return 'DIGEST';
  if (n.kind === 'resolved') return 'RESOLVED';
  if (n.kind === 'test') return 'TEST';
  return n.kind === 'reminder' ? 'STILL FIRING' : 'FIRING';
}

/** Maps an HTTP answer onto a SendResult: 2xx ok; 408, 429 and 5xx retryable (honouring Retry-After); other 4xx not. */
export async function httpResult(res: Response, what: string): Promise<SendResult> {
  const body = (await res.text().catch(() => '')).slice(0, 300);
  if (res.ok) return { ok: true, detail: body };
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
  return {
    ok: false,
    retryable,
    error: `${what} answered ${res.status}${body ? `: ${body.replace(/\s+/g, ' ')}` : ''}`,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/** Retry-After: seconds, or an HTTP date. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A network error or timeout is always worth retrying. */
export function networkFailure(err: unknown, what: string): SendResult {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const reason =
    e?.name === 'TimeoutError' || e?.name === 'AbortError'
      ? 'timed out'
      : (e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err));
  return { ok: false, retryable: true, error: `${what}: ${reason}` };
}

export async function postJson(url: string, body: unknown, signal: AbortSignal, what: string): Promise<SendResult> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    return await httpResult(res, what);
  } catch (err) {
    return networkFailure(err, what);
  }
}
