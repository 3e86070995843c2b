/** The event bus on Google Pub/Sub (production and the emulator). */
import { PubSub, type ClientConfig, type Topic } from '@google-cloud/pubsub';
import { OpsEvent, attributesOf, type EventBus, type OpsEventInput } from './events';
import { parseOrThrow } from '../errors';
import { eventsTopic } from '../infra/schedules';

export { decodeCloudEvent, decodePubSubJson, decodePubSubMessage, PUBSUB_CLOUDEVENT_TYPE } from './decode';
export type { Decoded, DecodedEvent, PubSubMessageLike } from './decode';

export interface PubSubBusOptions {
  projectId?: string;
  /** Topic to publish to; default the events topic infra/topics.yaml marks. */
  topic?: string;
  /**
   * `host:port` of the Pub/Sub emulator. Without it the client still honours PUBSUB_EMULATOR_HOST from
   * process.env by itself; pass it explicitly when the configuration came from somewhere else.
   */
  emulatorHost?: string;
  /** Anything else for the client (credentials, apiEndpoint, ...). */
  clientConfig?: ClientConfig;
}

/**
 * The suite's events on Google Pub/Sub: JSON body, attributes `type`, `severity`, `env` for subscription
 * filters. Events are validated before they leave; an invalid one rejects with a UsageError naming the field.
 */
export class PubSubBus implements EventBus {
  readonly client: PubSub;
  readonly topicName: string;
  private topic?: Topic;

  constructor(options: PubSubBusOptions = {}) {
    const emulator = options.emulatorHost ? { apiEndpoint: options.emulatorHost, emulatorMode: true } : {};
    this.client = new PubSub({ projectId: options.projectId, ...emulator, ...options.clientConfig });
    this.topicName = options.topic ?? eventsTopic();
  }

  async publish(input: OpsEventInput): Promise<string> {
    const event = parseOrThrow(OpsEvent, input, 'event');
    this.topic ??= this.client.topic(this.topicName);
    return this.topic.publishMessage({ json: event, attributes: attributesOf(event) });
  }

  async close(): Promise<void> {
    if (this.topic) await this.topic.flush();
    await this.client.close();
  }
}
