/** What every CLI command that touches the bucket starts from: configuration, store, environment, logger. */
import { loadConfig, type Config } from '../config/load';
import { openStore } from '../storage/open';
import { storeOptions } from '../storage/config';
import type { ObjectStore } from '../storage/types';
import { FileStore } from '../storage/file-store';
import { createLogger, setRootLogger, type Logger } from '../log/logger';
import { answerWithin } from '../storage/answer-within';

export interface CommandContext {
  config: Config;
  store: ObjectStore;
  env: string;
  logger: Logger;
}

/** What every command that touches the bucket needs: configuration, the store, the environment, a logger. */
export function commandContext(
  options: { bucket?: string; env?: string },
  load: Parameters<typeof loadConfig>[1] = {},
): CommandContext {
  const config = loadConfig(process.env, load);
  const logger = createLogger({ level: config.env.LOG_LEVEL, labels: { env: options.env ?? config.env.OPS_ENV } });
  setRootLogger(logger);
  return {
    config,
    store: openStore(options.bucket ?? config.env.BACKUP_BUCKET, storeOptions(config.file.storage)),
    env: options.env ?? config.env.OPS_ENV,
    logger,
  };
}

/**
 * How long a command that only reads the bucket (list, uptime, alerts status and log, silence list) waits for each
 * answer of a GCS bucket before it fails (the client's retries would wait about 50 s, or minutes for a server that
 * takes requests and never answers): a read-only look at 3 am fails within seconds, in one line, not a minute later.
 */
export const READ_ONLY_ANSWER_SECONDS = 10;

/**
 * What a command that only reads the bucket starts from: commandContext, with a GCS bucket's every request bounded by
 * READ_ONLY_ANSWER_SECONDS (after one has gone unanswered, the rest fail at once, saying the same). A folder bucket
 * answers or fails by itself.
 */
export function readOnlyContext(
  options: { bucket?: string; env?: string },
  load: Parameters<typeof loadConfig>[1] = {},
): CommandContext {
  const ctx = commandContext(options, load);
  if (ctx.store instanceof FileStore) return ctx;
  return { ...ctx, store: answerWithin(ctx.store, READ_ONLY_ANSWER_SECONDS * 1000) };
}

/**
 * For a command that only reads the bucket: a folder bucket that is not there is said on stderr (one line; the
 * command goes on and exits as it would). An empty report from a mistyped path read as all clear: no backups, no
 * firing alerts, every probe unknown.
 */
export async function noteMissingBucket(store: ObjectStore): Promise<void> {
  if (store instanceof FileStore && (await store.folderMissing()))
    process.stderr.write(
      `mt-ops: note: the bucket folder ${store.root} does not exist: nothing has been written there (is BACKUP_BUCKET right?)\n`,
    );
}
