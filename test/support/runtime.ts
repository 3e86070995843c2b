/** A function runtime for tests: real config and store, the in-process bus, captured logs. */
import { capturedLogger } from './logs';
import { loadConfig } from '../../shared/config/load';
import { openStore } from '../../shared/storage/open';
import { MemoryBus } from '../../shared/bus/memory-bus';
import type { Runtime } from '../../shared/functions/runtime';

/** A function runtime for tests: real config loading from the given variables, a real store, the in-process bus, captured logs. */
export function testRuntime(env: Record<string, string>): Runtime & { bus: MemoryBus; logs: string[] } {
  const config = loadConfig({ OPS_CONFIG: undefined, ...env });
  const { logger, lines: logs } = capturedLogger();
  return {
    config,
    store: openStore(config.env.BACKUP_BUCKET),
    bus: new MemoryBus(),
    logger,
    env: config.env.OPS_ENV,
    logs,
  };
}
