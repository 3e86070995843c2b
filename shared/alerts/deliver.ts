/** Fan-out delivery to one channel: bounded retries with backoff within one invocation. */
import type { Channel, Notification, SendResult } from './channels/types';

/** How hard one invocation tries a channel before leaving it to the next delivery (Pub/Sub redelivers). */
export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per send; a server that hangs counts as a retryable failure. */
  timeoutMs: number;
  /** A Retry-After longer than this is not waited out here: the failure is left to redelivery. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  timeoutMs: 10_000,
  maxRetryAfterMs: 30_000,
};

export interface DeliveryAttempt {
  result: SendResult;
  attempts: number;
}

/** Waits `ms`, or less if `signal` aborts meanwhile. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Stage 6, deliver with retry: sends, and on a retryable failure waits (the server's Retry-After when it gave
 * one, else exponential backoff) and tries again, up to `attempts`. A failure that is not retryable stops at once.
 * Once `signal` aborts (the instance is stopping) no further attempt is made and no backoff is waited out: the send
 * under way finishes (within `timeoutMs`; cutting it could send twice) and the failure is left to the next delivery,
 * so a stop waited for 4 attempts against a channel that hangs (over 40 s) and now for one.
 */
export async function deliverWithRetry(
  channel: Channel,
  n: Notification,
  policy: RetryPolicy = DEFAULT_RETRY,
  signal?: AbortSignal,
): Promise<DeliveryAttempt> {
  let result: SendResult = { ok: false, retryable: true, error: 'not attempted' };
  let attempt = 0;
  while (attempt < policy.attempts) {
    if (attempt > 0 && signal?.aborted) break;
    attempt += 1;
    try {
      result = await channel.send(n, AbortSignal.timeout(policy.timeoutMs));
    } catch (err) {
      result = { ok: false, retryable: true, error: `${channel.name}: ${(err as Error)?.message ?? String(err)}` };
    }
    if (result.ok || !result.retryable || attempt >= policy.attempts) break;
    const wait = result.retryAfterMs ?? Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
    if (wait > policy.maxRetryAfterMs) break;
    await sleep(wait, signal);
  }
  return { result, attempts: attempt };
}
