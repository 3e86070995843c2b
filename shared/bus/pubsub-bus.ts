/** The event bus on Google Pub/Sub (production and the emulator). */
import { PubSub, type ClientConfig, type Topic } from '@google-cloud/pubsub';
import { OpsEvent, attributesOf, type EventBus, type OpsEventInput } from './events';
import { OpsError, errorMessage, parseOrThrow } from '../errors';
import { CREDENTIALS_HINT, findCredentials } from '../credentials';
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
  /** Credentials found, looked for before the first publish to the real service. */
  private credentials?: Promise<void>;
  private readonly needsCredentials: boolean;
  private readonly projectId?: string;

  constructor(options: PubSubBusOptions = {}) {
    const emulator = options.emulatorHost ? { apiEndpoint: options.emulatorHost, emulatorMode: true } : {};
    this.client = new PubSub({ projectId: options.projectId, ...emulator, ...options.clientConfig });
    this.topicName = options.topic ?? eventsTopic();
    this.projectId = options.projectId;
    this.needsCredentials = !options.emulatorHost && !process.env.PUBSUB_EMULATOR_HOST && !options.clientConfig;
  }

  async publish(input: OpsEventInput): Promise<string> {
    const event = parseOrThrow(OpsEvent, input, 'event');
    // Without credentials the client's publish fails and also leaves a rejected promise behind that ends the
    // process with a stack trace after the work is done: look for them first, and fail this publish in one line.
    if (this.needsCredentials) {
      const project = this.projectId ?? 'the default project';
      // only success is kept: a failed look (a metadata server slow to answer) is tried again at the next publish
      this.credentials ??= findCredentials(project, this.client.auth).catch((err) => {
        this.credentials = undefined;
        throw new OpsError(
          `no Google Cloud credentials for Pub/Sub in project ${project} (${errorMessage(err)}): ${CREDENTIALS_HINT}`,
        );
      });
      await this.credentials;
    }
    this.topic ??= this.client.topic(this.topicName);
    return this.topic.publishMessage({ json: event, attributes: attributesOf(event) });
  }

  async close(): Promise<void> {
    if (this.topic) await this.topic.flush();
    await this.client.close();
  }
}
