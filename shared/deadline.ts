/**
 * The time limit of one run (a function's timeout from infra/, a Cloud Run job's task timeout), as a deadline: an
 * AbortSignal that fires a margin before the platform would kill the process, so the work stops cleanly (lease
 * released, nothing complete-looking left) and reports a TimeLimitError that names the limit.
 */
import { TimeLimitError } from './errors';

export interface Deadline {
  limitSeconds: number;
  startedAt: number;
  /** When the work is stopped (the limit less the margin), ms since the epoch. */
  stopAt: number;
  /** Aborts with a TimeLimitError at stopAt. */
  signal: AbortSignal;
  /** The share of the limit used so far (0-1+). */
  used(now?: number): number;
  /** Clears the timer (always call it when the run ends). */
  dispose(): void;
}

/** Time kept for the cleanup: a tenth of the limit, at least 5 s and at most 60 s (never more than half the limit). */
export function defaultMarginSeconds(limitSeconds: number): number {
  return Math.min(limitSeconds / 2, Math.max(5, Math.min(60, limitSeconds / 10)));
}

export function startDeadline(limitSeconds: number, options: { marginSeconds?: number; now?: number } = {}): Deadline {
  const startedAt = options.now ?? Date.now();
  const margin = options.marginSeconds ?? defaultMarginSeconds(limitSeconds);
  const stopAt = startedAt + Math.max(0, limitSeconds - margin) * 1000;
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new TimeLimitError(limitSeconds, (Date.now() - startedAt) / 1000)),
    Math.max(0, stopAt - Date.now()),
  );
  timer.unref();
  return {
    limitSeconds,
    startedAt,
    stopAt,
    signal: controller.signal,
    used: (now = Date.now()) => (now - startedAt) / (limitSeconds * 1000),
    dispose: () => clearTimeout(timer),
  };
}

/** Combines the caller's signal (a shutdown, Ctrl-C) with the deadline's. */
export function withDeadlineSignal(
  signal: AbortSignal | undefined,
  deadline: Deadline | undefined,
): AbortSignal | undefined {
  const signals = [signal, deadline?.signal].filter((s): s is AbortSignal => s !== undefined);
  return signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
}

/**
 * `work`'s outcome, or, when it has not settled within `ms`, `onTimeout()`'s (its value, or what it throws). The work
 * is not stopped (the caller may have no way to): it finishes or fails on its own, and a late rejection is not
 * unhandled. `unref`: the timer alone does not keep the process alive.
 */
export function settleWithin<T>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => T,
  options: { unref?: boolean } = {},
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (err) {
        reject(err as Error);
      }
    }, ms);
    if (options.unref) timer.unref();
  });
  work.catch(() => {});
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
