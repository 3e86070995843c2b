/** What every CLI command that touches the bucket starts from: configuration, store, environment, logger. */
import { loadConfig, type Config } from '../config/load';
import { openStore } from '../storage/open';
import { storeOptions } from '../storage/config';
import type { ObjectStore } from '../storage/types';
import { createLogger, setRootLogger, type Logger } from '../log/logger';

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
