import { PubSub, type ClientConfig } from '@google-cloud/pubsub';
import { OpsEvent, TOPICS, attributesOf, type EventBus, type OpsEventInput } from './events';
import { parseOrThrow } from '../errors';

export { decodeCloudEvent, decodePubSubJson } from './decode';

/** The suite's events on Google Pub/Sub (the client honours PUBSUB_EMULATOR_HOST by itself). */
export class PubSubBus implements EventBus {
  private readonly client: PubSub;
  private readonly topicName: string;

  constructor(options: { projectId?: string; topic?: string; clientConfig?: ClientConfig } = {}) {
    this.client = new PubSub({ projectId: options.projectId, ...options.clientConfig });
    this.topicName = options.topic ?? TOPICS.events;
  }

  async publish(input: OpsEventInput): Promise<string> {
    const event = parseOrThrow(OpsEvent, input, 'event');
    return this.client.topic(this.topicName).publishMessage({ json: event, attributes: attributesOf(event) });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
