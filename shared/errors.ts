/** The error kinds (bad input, failed work, interrupted) and how their messages are formatted. */
import type { z } from 'zod';

/** Bad input from an operator or a caller: CLI exit 2, HTTP 400, an acknowledged poison message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly issues: string[] = [message],
    /**
     * The message was scrubbed where it was built (outside text masked at its source): print it as it is, with only
     * the registered secrets masked. The `token: value` patterns would otherwise mask the first word of our own
     * reason about a secret-named variable (`OPS_API_TOKEN: at least 16 characters`).
     */
    readonly scrubbed = false,
  ) {
    super(message);
  }
}

/** A failure while doing the work (database, storage, integrity): CLI exit 1, HTTP 500. */
export class OpsError extends Error {
  override readonly name: string = 'OpsError';
  constructor(
    message: string,
    readonly code: string = 'failed',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Work stopped by a signal (SIGINT, SIGTERM) after undoing what it had done: CLI exit 130 or 143, one line.
 * Not a failure of the work: it pages nobody.
 */
export class InterruptedError extends OpsError {
  override readonly name = 'InterruptedError';
  constructor(
    readonly signal: 'SIGINT' | 'SIGTERM',
    message = `interrupted by ${signal}`,
  ) {
    super(message, 'interrupted');
  }
  /** 128 + the signal's number, as shells report a process killed by it. */
  get exitCode(): number {
    return this.signal === 'SIGINT' ? 130 : 143;
  }
}

/** Cuts text that came from outside (a key, a path) to `max` characters, marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Formats a zod path as `probes[2].url`. Keys come from the input, so each is cut to 64 characters. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? truncate(String(part), 64) : `.${truncate(String(part), 64)}`;
  }
  return out;
}

/**
 * One line per problem, each `path: reason`. Never includes the received value, so secrets stay out. Bounded:
 * zod quotes unknown keys in its message (a key can be megabytes long), so a reason is cut to 200 characters
 * and at most 20 problems are listed.
 */
export function formatIssues(error: z.ZodError, root = ''): string[] {
  const lines = error.issues.slice(0, 20).map((issue) => {
    const path = formatPath([...(root ? [root] : []), ...issue.path]);
    const message = truncate(issue.message, 200);
    return path ? `${path}: ${message}` : message;
  });
  if (error.issues.length > 20) lines.push(`... and ${error.issues.length - 20} more problems`);
  return lines;
}

/** Parses `value` with `schema`, or throws a UsageError listing every problem at once. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, root = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = formatIssues(result.error, root);
  throw new UsageError(`invalid ${what}: ${issues.join('; ')}`, issues);
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Work stopped on purpose before the platform's time limit would kill it (a function at 540 s or 3,600 s, a Cloud
 * Run job at its task timeout), after undoing what it had done. A failure of the work: it is reported, naming the limit.
 */
export class TimeLimitError extends OpsError {
  override readonly name = 'TimeLimitError';
  constructor(
    readonly limitSeconds: number,
    readonly stoppedAfterSeconds: number,
  ) {
    super(
      `stopped after ${Math.round(stoppedAfterSeconds)} s, before the ${limitSeconds} s time limit would kill it (nothing kept; if this recurs, run it as a Cloud Run job: README, Deploy)`,
      'time-limit',
    );
  }
}
