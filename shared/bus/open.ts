import type { Config } from '../config/load';
import type { EventBus, OpsEventInput } from './events';
import { MemoryBus } from './memory-bus';

/** Pub/Sub when a project or the emulator is configured; otherwise the in-process bus. */
export function openBus(config: Config): EventBus {
  if (config.env.PUBSUB_EMULATOR_HOST || config.env.GOOGLE_CLOUD_PROJECT) {
    const projectId = config.env.GOOGLE_CLOUD_PROJECT ?? 'local-emulator';
    // The Pub/Sub client is loaded on first publish only, so commands that publish nothing start fast.
    let bus: Promise<EventBus> | undefined;
    const get = () => (bus ??= import('./pubsub-bus').then(({ PubSubBus }) => new PubSubBus({ projectId })));
    return {
      publish: async (event: OpsEventInput) => (await get()).publish(event),
      close: async () => {
        if (bus) await (await bus).close();
      },
    };
  }
  return new MemoryBus();
}
