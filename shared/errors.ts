import type { z } from 'zod';

/** Bad input from an operator or a caller: CLI exit 2, HTTP 400, an acknowledged poison message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly issues: string[] = [message],
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

/** Formats a zod path as `probes[2].url`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** One line per problem, each `path: reason`. Never includes the received value, so secrets stay out. */
export function formatIssues(error: z.ZodError, root = ''): string[] {
  return error.issues.map((issue) => {
    const path = formatPath([...(root ? [root] : []), ...issue.path]);
    return path ? `${path}: ${issue.message}` : issue.message;
  });
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
