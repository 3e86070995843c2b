/** One captured logger for tests: the real pino logger writing JSON lines into an array. */
import { Writable } from 'node:stream';
import { createLogger, type Logger, type LoggerOptions } from '../../shared/log/logger';

export interface CapturedLogger {
  logger: Logger;
  /** Every line written, in order. */
  lines: string[];
  /** The lines parsed as JSON records. */
  records(): Array<Record<string, unknown>>;
}

/** The level is `info` unless given (an explicit `undefined` means "from LOG_LEVEL"); JSON, never pretty, unless asked. */
export function capturedLogger(options: Omit<LoggerOptions, 'destination'> = {}): CapturedLogger {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const level = 'level' in options ? options.level : 'info';
  const logger = createLogger({ pretty: false, ...options, level, destination });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
