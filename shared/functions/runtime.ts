/** What a function needs at run time (config, store, bus with its outbox, logger), built once per instance. */
import { startDeadline, type Deadline } from '../deadline';
import { loadConfig, type Config, type ConfigCheck } from '../config/load';
import { openStore } from '../storage/open';
import { storeOptions } from '../storage/config';
import { openBus, type ReliableBus } from '../bus/open';
import { flushOutbox, keepInOutbox, POISON_PRUNE_EVERY_MS } from '../bus/outbox';
import { createLogger, type Logger } from '../log/logger';
import type { ObjectStore } from '../storage/types';
import type { EventBus } from '../bus/events';
import { UsageError } from '../errors';

/** What a function needs at run time, built once per instance from the environment. */
export interface Runtime {
  config: Config;
  store: ObjectStore;
  bus: EventBus;
  logger: Logger;
  env: string;
  /**
   * Publishes the events earlier runs could not (see shared/bus/outbox.ts), and now and then removes the poison entries
   * kept long enough; never throws.
   */
  flushOutbox?: () => Promise<void>;
  /**
   * Aborted when the instance stops (`npm start` on SIGINT/SIGTERM), with an InterruptedError: long work stops
   * cleanly (a backup removes what it wrote and releases its lease; retention finishes the deletion under way).
   */
  signal?: AbortSignal;
}

export function runtimeFromEnvironment(component: string, load: { check?: ConfigCheck } = {}): () => Runtime {
  let runtime: Runtime | undefined;
  return () => {
    if (!runtime) {
      // a relative OPS_CONFIG (deploy-commands sets the bundled copy's name) is found beside the bundle
      runtime = functionRuntime(loadConfig(process.env, { ...load, besideModule: import.meta.url }), component);
    }
    return runtime;
  };
}

/**
 * Builds the runtime at a function's start-up (its index.ts), so that a bad configuration refuses the start rather
 * than fails each delivery. Refused, it is one error line (every problem, each with its field path; no stack, whatever
 * LOG_LEVEL says: the level may be the bad setting) and exit 2, before the Functions Framework loads the entry points:
 * thrown, the framework printed its own "Provided module can't be loaded. Is there a syntax error in your code?" and
 * the stack, over a dozen lines.
 */
export function startOrRefuse(runtime: () => Runtime, component: string): void {
  try {
    runtime();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const logger = createLogger({ level: 'info', labels: { component } });
    logger.error({ issues: err.issues }, `${component} refuses to start: ${err.issues.join('; ')}`);
    process.exit(2);
  }
}

/** The runtime of a function (or of `npm start`): the bus saves what it cannot publish to the bucket's outbox. */
export function functionRuntime(
  config: Config,
  component: string,
  options: { logger?: Logger; signal?: AbortSignal } = {},
): Runtime & { bus: ReliableBus } {
  const store = openStore(config.env.BACKUP_BUCKET, storeOptions(config.file.storage));
  const env = config.env.OPS_ENV;
  const logger = options.logger ?? createLogger({ level: config.env.LOG_LEVEL, labels: { env, component } });
  // An event that could not be published waits in the bucket for the next run of any function.
  const bus = openBus(config, { logger, onUndelivered: keepInOutbox(store, env, logger) });
  // Poison entries past their keep are removed by the instance's first drain, then by one drain an hour: not by every
  // one (the fan-out drains before each message), which would list their folder once a message.
  let pruneAfter = 0;
  const prunes = () => {
    const now = Date.now();
    if (now < pruneAfter) return false;
    pruneAfter = now + POISON_PRUNE_EVERY_MS;
    return true;
  };
  // one drain at a time: a run that finds the previous run's drain still going (a bucket that stopped answering)
  // waits for that one rather than starting another beside it
  let draining: Promise<void> | undefined;
  const drain = () =>
    (draining ??= flushOutbox(store, env, bus.deliver, logger, { prunePoison: prunes() })
      .then(() => {})
      .finally(() => (draining = undefined)));
  return {
    config,
    store,
    bus,
    logger,
    env,
    flushOutbox: drain,
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/**
 * The deadline of one run of a long job (backup, verify, retention): MT_OPS_TIME_LIMIT_SECONDS, which
 * deploy-commands sets from the function's timeout in infra/; none when unset (`npm start`, the CLI).
 */
export function startRunDeadline(rt: Pick<Runtime, 'config'>): Deadline | undefined {
  const limit = rt.config.env.MT_OPS_TIME_LIMIT_SECONDS;
  return limit ? startDeadline(limit) : undefined;
}
