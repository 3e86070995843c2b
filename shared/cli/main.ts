/** The CLI program: its subcommands, exit codes and the one-line error report. */
import { Command, CommanderError } from 'commander';
import { InterruptedError, UsageError } from '../errors';
import { jsonFailure, shownText } from './failure';
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

/**
 * Runs the CLI; never throws: prints one line and sets the exit code. With `--json`, a failure that left stdout empty
 * (bad flags or configuration, or work that failed before the command printed its report) is also printed there as
 * JSON (jsonFailure), for every command that takes `--json`: a script reading stdout gets the error, not empty input.
 * A command that printed its report before failing (a probe that failed, an unreadable state) adds nothing after it.
 */
export async function main(argv: string[]): Promise<number> {
  dropMetadataLookupWarnings();
  const program = buildProgram();
  let code: number = EXIT.ok;
  const stdout = watchStdout();
  try {
    await program.parseAsync(argv);
  } catch (thrown) {
    const err = reported(thrown);
    code = reportError(err);
    if (code !== EXIT.ok && !stdout.written() && jsonWanted(program, argv.slice(2)))
      process.stdout.write(`${JSON.stringify(jsonFailure(err), null, 2)}\n`);
  } finally {
    stdout.stop();
  }
  process.exitCode = code;
  return code;
}

/** Notes whether anything is written to stdout (by whatever command runs) until stop(). */
function watchStdout(): { written(): boolean; stop(): void } {
  const write = process.stdout.write;
  let written = false;
  process.stdout.write = function (this: typeof process.stdout, ...args: Parameters<typeof write>) {
    written = true;
    return write.apply(this, args);
  } as typeof write;
  return {
    written: () => written,
    stop: () => void (process.stdout.write = write),
  };
}

/**
 * Whether the command the arguments name takes `--json` and was given it: as commander parsed it, or (it stopped
 * before, at a bad value) as the arguments say, before any `--`.
 */
function jsonWanted(program: Command, args: string[]): boolean {
  let command = program;
  let i = 0;
  for (; i < args.length; i++) {
    const sub = command.commands.find((c) => c.name() === args[i] || c.aliases().includes(args[i]!));
    if (!sub) break;
    command = sub;
  }
  if (!command.options.some((o) => o.long === '--json')) return false;
  if (command.opts().json === true) return true;
  const rest = args.slice(i);
  const end = rest.indexOf('--');
  return (end === -1 ? rest : rest.slice(0, end)).includes('--json');
}

/**
 * Called by the CLI's entry points once main() has returned: the command's own cleanup is done, so a request a stalled
 * storage server never answers (the GCS client does not abort the socket of a resumable upload it gives up on) must not
 * keep the process alive. A process with nothing left exits by itself before this fires.
 */
export function exitWhenDone(code: number): void {
  setTimeout(() => process.exit(code), 1000).unref();
}

/** Reports a failure: its one line on stderr; returns the exit code (0 for --help and --version). */
export function reportError(err: unknown): number {
  if (isHelp(err)) return EXIT.ok;
  process.stderr.write(`mt-ops: ${shownText(err)}\n`);
  if (err instanceof UsageError) return EXIT.usage;
  if (err instanceof InterruptedError) return err.exitCode;
  return EXIT.failure;
}

function isHelp(err: unknown): boolean {
  return (
    err instanceof CommanderError &&
    (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
  );
}

/**
 * A failure as the CLI reports it: commander's (an unknown flag, a bad value) is bad input, a UsageError of one line
 * (its "(Did you mean ...?)" comes on a line of its own), printed as it is but for the registered secrets.
 */
function reported(err: unknown): unknown {
  if (!(err instanceof CommanderError) || isHelp(err)) return err;
  const text = oneLine(err.message.replace(/^error: /, ''));
  return new UsageError(text, [text], true);
}

/** Lines joined by a space (split, not a `\s*\n\s*` pattern: that is quadratic on a long run of tabs). */
function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}
