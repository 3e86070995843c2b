import type { Config } from '../config/load';
import type { EventBus, OpsEventInput } from './events';
import { MemoryBus } from './memory-bus';

/**
 * Pub/Sub when a project or the emulator is configured (GOOGLE_CLOUD_PROJECT, PUBSUB_EMULATOR_HOST);
 * otherwise the in-process bus. The emulator host is passed to the client explicitly, so a configuration
 * loaded from something other than process.env is honoured too.
 */
export function openBus(config: Pick<Config, 'env'>, options: { topic?: string } = {}): EventBus {
  const { PUBSUB_EMULATOR_HOST: emulatorHost, GOOGLE_CLOUD_PROJECT } = config.env;
  if (emulatorHost || GOOGLE_CLOUD_PROJECT) {
    const projectId = GOOGLE_CLOUD_PROJECT ?? 'local-emulator';
    // The Pub/Sub client is loaded on first publish only, so commands that publish nothing start fast.
    let bus: Promise<EventBus> | undefined;
    const get = () => (bus ??= import('./pubsub-bus').then(({ PubSubBus }) => new PubSubBus({ projectId, emulatorHost, topic: options.topic })));
    return {
      publish: async (event: OpsEventInput) => (await get()).publish(event),
      close: async () => {
        if (bus) await (await bus).close();
      },
    };
  }
  return new MemoryBus();
}
