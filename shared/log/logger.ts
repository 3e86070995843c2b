/** Structured logging: Cloud Logging JSON lines, pretty on a TTY, secrets masked. */
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import { Writable } from 'node:stream';
import { redactRegistered, redactString, redactValue } from './redact';

export type Logger = PinoLogger;

/** pino level names -> Cloud Logging LogSeverity. */
const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

export interface LoggerOptions {
  level?: string;
  /** Where lines go; default stderr (stdout stays free for command output). */
  destination?: DestinationStream | NodeJS.WritableStream;
  /** Human-readable lines; default: when the destination is a TTY. */
  pretty?: boolean;
  /** Cloud Logging labels, sent as `logging.googleapis.com/labels`. */
  labels?: Record<string, string>;
}

/**
 * Structured JSON lines Cloud Logging understands (`severity`, `message`, `time`, fields),
 * pretty on a TTY, with every field and message scrubbed of secrets.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr;
  const isPretty = options.pretty ?? Boolean((destination as { isTTY?: boolean }).isTTY);
  const level = (options.level ?? process.env.LOG_LEVEL ?? 'info').toLowerCase();
  const base = options.labels ? { 'logging.googleapis.com/labels': options.labels } : undefined;
  // Stacks belong at debug: at the default level a failure is one line (its message), not forty.
  let logger: Logger | undefined;
  const stacks = () => logger?.isLevelEnabled('debug') ?? false;
  const scrub = (o: unknown) => redactValue(o, 0, stacks()) as Record<string, unknown>;
  const common = {
    level,
    base,
    messageKey: 'message',
    errorKey: 'err',
    hooks: {
      logMethod(this: PinoLogger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(this, redactArgs(args));
      },
      // Last line of defence: registered secret values anywhere in the finished line (child bindings included).
      streamWrite: (line: string) => redactRegistered(line),
    },
    serializers: { err: (e: unknown) => scrub(e) },
  };
  if (isPretty) {
    const stream = pretty({
      destination: clearingLine(destination as NodeJS.WritableStream),
      messageKey: 'message',
      colorize: true,
      // one line per record: an operator's terminal, where a warning is one line beside the command's own output
      singleLine: true,
      sync: true,
      ignore: 'pid,hostname,logging\\.googleapis\\.com/labels', // dots escaped: a key, not a path
      translateTime: 'SYS:HH:MM:ss',
    });
    logger = redactChildren(
      pino(
        { ...common, formatters: { log: scrub, bindings: (b) => redactValue(b) as Record<string, unknown> } },
        stream,
      ),
    );
    return logger;
  }
  logger = redactChildren(
    pino(
      {
        ...common,
        timestamp: () => `,"time":"${new Date().toISOString()}"`,
        formatters: {
          level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }),
          log: scrub,
          bindings: (b) => redactValue(b) as Record<string, unknown>,
        },
      },
      destination as DestinationStream,
    ),
  );
  return logger;
}

/**
 * On a terminal each record first clears the line it lands on: a progress bar (`shared/cli/progress.ts`) redraws its
 * line in place without a newline, and a record written after it would otherwise continue that line.
 */
function clearingLine(destination: NodeJS.WritableStream): NodeJS.WritableStream {
  if (!(destination as { isTTY?: boolean }).isTTY) return destination;
  return new Writable({
    write(chunk, _encoding, done) {
      destination.write(`\r\x1b[2K${String(chunk)}`);
      done();
    },
  });
}

/** pino applies no formatter to a child's bindings: scrub them on the way in (grandchildren inherit this). */
function redactChildren(logger: Logger): Logger {
  const child = logger.child;
  logger.child = function (this: Logger, bindings: Record<string, unknown>, options?: unknown) {
    return child.call(this, redactValue(bindings) as Record<string, unknown>, options as never);
  } as Logger['child'];
  return logger;
}

/**
 * Scrubs a log call's arguments: the message and format arguments; and when pino would take the message from
 * an error (`log.error(err)`, `log.error({ err })`), that message is scrubbed and passed explicitly.
 */
function redactArgs(args: unknown[]): unknown[] {
  const [first, ...rest] = args;
  if (typeof first === 'string') return [redactString(first), ...rest.map((a) => redactValue(a))];
  const out = [first, ...rest.map((a) => (typeof a === 'string' ? redactString(a) : redactValue(a)))];
  if (out.length === 1 && first !== null && typeof first === 'object') {
    if (first instanceof Error) out.push(redactString(first.message));
    else {
      const err = (first as { err?: { message?: unknown } }).err;
      const message = (first as { message?: unknown }).message;
      if (message === undefined && err && typeof err.message === 'string') out.push(redactString(err.message));
    }
  }
  return out;
}

let rootLogger: Logger | undefined;

/** The process-wide logger (JSON to stderr, pretty on a TTY). */
export function log(): Logger {
  rootLogger ??= createLogger();
  return rootLogger;
}

export function setRootLogger(logger: Logger): void {
  rootLogger = logger;
}
