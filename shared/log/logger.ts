import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import { redactString, redactValue } from './redact';

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
  const common = {
    level,
    base,
    messageKey: 'message',
    errorKey: 'err',
    hooks: {
      logMethod(this: PinoLogger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? redactString(a) : a)),
        );
      },
    },
    serializers: { err: (e: unknown) => redactValue(e) },
  };
  if (isPretty) {
    const stream = pretty({
      destination: destination as NodeJS.WritableStream,
      messageKey: 'message',
      colorize: true,
      sync: true,
      ignore: 'pid,hostname,logging.googleapis.com/labels',
      translateTime: 'SYS:HH:MM:ss',
    });
    return pino({ ...common, formatters: { log: (o) => redactValue(o) as Record<string, unknown> } }, stream);
  }
  return pino(
    {
      ...common,
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: {
        level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }),
        log: (o) => redactValue(o) as Record<string, unknown>,
      },
    },
    destination as DestinationStream,
  );
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
