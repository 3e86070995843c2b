/** The CLI program: its subcommands, exit codes and the one-line error report. */
import { Command, CommanderError } from 'commander';
import { InterruptedError, UsageError } from '../errors';
import { shownText } from './failure';
import { registerCommands } from './commands/index';
import { VERSION } from '../version';
import { dropMetadataLookupWarnings } from '../credentials';

/** Exit codes: 0 success, 1 runtime failure, 2 usage (bad flags, bad values, bad configuration). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export function buildProgram(): Command {
  const program = new Command('mt-ops')
    .description('Operations for Missing Table: backups, verify, restore, retention.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      // commander prints "error: ..." itself; we print our own one-line reason instead.
      outputError: () => {},
    });
  registerCommands(program);
  for (const command of program.commands) command.exitOverride().configureOutput({ outputError: () => {} });
  return program;
}

/** Runs the CLI; never throws: prints one line and sets the exit code. */
export async function main(argv: string[]): Promise<number> {
  dropMetadataLookupWarnings();
  const program = buildProgram();
  let code: number = EXIT.ok;
  try {
    await program.parseAsync(argv);
  } catch (err) {
    code = reportError(err);
  }
  process.exitCode = code;
  return code;
}

/**
 * Called by the CLI's entry points once main() has returned: the command's own cleanup is done, so a request a stalled
 * storage server never answers (the GCS client does not abort the socket of a resumable upload it gives up on) must not
 * keep the process alive. A process with nothing left exits by itself before this fires.
 */
export function exitWhenDone(code: number): void {
  setTimeout(() => process.exit(code), 1000).unref();
}

export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
      return EXIT.ok;
    }
    // One line: commander's "(Did you mean ...?)" comes on a line of its own.
    process.stderr.write(`mt-ops: ${oneLine(err.message.replace(/^error: /, ''))}\n`);
    return EXIT.usage;
  }
  process.stderr.write(`mt-ops: ${shownText(err)}\n`);
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof InterruptedError) return err.exitCode;
  return EXIT.failure;
}

/** Lines joined by a space (split, not a `\s*\n\s*` pattern: that is quadratic on a long run of tabs). */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}
