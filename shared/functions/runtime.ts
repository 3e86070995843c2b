import { loadConfig, type Config } from '../config/load';
import { openStore } from '../storage/open';
import { openBus } from '../bus/open';
import { createLogger, type Logger } from '../log/logger';
import type { ObjectStore } from '../storage/types';
import type { EventBus } from '../bus/events';

/** What a function needs at run time, built once per instance from the environment. */
export interface Runtime {
  config: Config;
  store: ObjectStore;
  bus: EventBus;
  logger: Logger;
  env: string;
}

export function runtimeFromEnvironment(component: string): () => Runtime {
  let runtime: Runtime | undefined;
  return () => {
    if (!runtime) {
      const config = loadConfig();
      runtime = {
        config,
        store: openStore(config.env.BACKUP_BUCKET),
        bus: openBus(config),
        logger: createLogger({ level: config.env.LOG_LEVEL, labels: { env: config.env.OPS_ENV, component } }),
        env: config.env.OPS_ENV,
      };
    }
    return runtime;
  };
}
