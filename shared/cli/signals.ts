/** How the long CLI commands (backup, restore, cleanup, verify, probe) stop on SIGINT/SIGTERM: an abort signal, and the one-line error. */
import { InterruptedError } from '../errors';

let controller: AbortController | undefined;

/**
 * The signal a long command (backup, restore, cleanup) stops on: SIGINT (Ctrl-C) or SIGTERM aborts it with an
 * InterruptedError, and the command undoes its work (lease released, objects removed, transaction rolled back) and
 * exits 130/143 with one line. A second signal exits at once. Installed on first use, so short commands keep the
 * default behaviour.
 */
export function interruptSignal(): AbortSignal {
  if (!controller) {
    const c = (controller = new AbortController());
    for (const name of ['SIGINT', 'SIGTERM'] as const) {
      process.on(name, () => {
        if (c.signal.aborted) process.exit((c.signal.reason as InterruptedError).exitCode);
        c.abort(new InterruptedError(name));
      });
    }
  }
  return controller.signal;
}

/** When `signal` stopped the command: the error to end it with, its one line saying what was undone. */
export function interruptedBecause(signal: AbortSignal, say: (signal: string) => string): InterruptedError | undefined {
  const reason: unknown = signal.reason;
  if (!signal.aborted || !(reason instanceof InterruptedError)) return undefined;
  return new InterruptedError(reason.signal, say(reason.signal));
}
