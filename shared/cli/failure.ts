/** How a command's failure is shown: its line on stderr (main.ts) and, with --json, its JSON object on stdout. */
import { OpsError, UsageError, errorMessage } from '../errors';
import { redactRegistered, redactString } from '../log/redact';

/**
 * An error's text as the CLI shows it (its message, or one of its issues): a UsageError scrubbed where it was built
 * gets only the registered secrets masked (the `token: value` patterns would eat our own reason about a secret-named
 * variable); any other is masked here.
 */
export function shownText(err: unknown, text = errorMessage(err)): string {
  return err instanceof UsageError && err.scrubbed ? redactRegistered(text) : redactString(text);
}

/**
 * A failure as a command prints it on stdout with --json, beside its line on stderr and its exit code: the HTTP API's
 * error shape, `{"error":"...","issues":[...],"code":"..."}`; `error` is the text of the stderr line, `issues` a bad
 * input's problems (`field.path: why`, none for a failure of the work), `code` `usage` for bad input, else the failure's.
 */
export function jsonFailure(err: unknown): { error: string; issues: string[]; code: string } {
  return {
    error: shownText(err),
    issues: err instanceof UsageError ? err.issues.map((i) => shownText(err, i)) : [],
    code: err instanceof UsageError ? 'usage' : err instanceof OpsError ? err.code : 'failed',
  };
}
