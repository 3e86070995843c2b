/** The event bus on Google Pub/Sub (production and the emulator), published over Pub/Sub's REST API. */
import { OpsEvent, attributesOf, type EventBus, type OpsEventInput, type PublishOptions } from './events';
import { OpsError, errorMessage, parseOrThrow } from '../errors';
import { CREDENTIALS_HINT, findCredentials } from '../credentials';
import { eventsTopic } from '../infra/schedules';
import {
  publishMessage,
  pubsubEndpoint,
  type OutgoingMessage,
  type PubSubEndpoint,
  type RequestAuth,
} from './pubsub-rest';

export { decodeCloudEvent, decodePubSubJson, decodePubSubMessage, PUBSUB_CLOUDEVENT_TYPE } from './decode';
export type { Decoded, DecodedEvent, PubSubMessageLike } from './decode';

export interface PubSubBusOptions {
  projectId?: string;
  /** Topic to publish to; default the events topic infra/topics.yaml marks. */
  topic?: string;
  /**
   * `host:port` of the Pub/Sub emulator. Without it PUBSUB_EMULATOR_HOST from process.env is honoured, as the
   * official client does; pass it explicitly when the configuration came from somewhere else.
   */
  emulatorHost?: string;
  /** Another endpoint (a URL or `host:port`), and whether it is an emulator (see pubsubEndpoint). */
  apiEndpoint?: string;
  emulatorMode?: boolean;
  /** Default: the GoogleAuth of the storage client (application default credentials). */
  auth?: RequestAuth & { getClient(): Promise<unknown> };
}

/**
 * Publishes messages to one topic over Pub/Sub's REST API (shared/bus/pubsub-rest.ts): credentials looked for before
 * the first publish to the real service, each publish ended by its caller's signal or after 10 s.
 */
export class PubSubPublisher {
  readonly topicName: string;
  readonly endpoint: PubSubEndpoint;
  /** Credentials found, looked for before the first publish to the real service. */
  private credentials?: Promise<RequestAuth>;
  private readonly projectId?: string;
  private readonly auth?: PubSubBusOptions['auth'];
  private readonly pending = new Set<Promise<unknown>>();

  constructor(options: PubSubBusOptions & { topic: string }) {
    this.endpoint = pubsubEndpoint({
      apiEndpoint: options.apiEndpoint ?? options.emulatorHost,
      emulatorMode: options.emulatorMode ?? (options.emulatorHost ? true : undefined),
    });
    this.topicName = options.topic;
    this.projectId = options.projectId ?? process.env.PUBSUB_PROJECT_ID;
    this.auth = options.auth;
  }

  /** Publishes; retries end with `options.signal` (openBus's deadline), or after 10 s without one. */
  publish(message: OutgoingMessage, options: PublishOptions = {}): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    let signal = options.signal;
    if (!signal) {
      const controller = new AbortController();
      timer = setTimeout(() => controller.abort(new Error(`publishing to ${this.topicName} took over 10 s`)), 10_000);
      timer.unref();
      signal = controller.signal;
    }
    const sent = this.send(message, signal).finally(() => clearTimeout(timer));
    this.pending.add(sent);
    void sent.catch(() => {}).finally(() => this.pending.delete(sent));
    return sent;
  }

  private async send(message: OutgoingMessage, signal: AbortSignal): Promise<string> {
    const auth = this.endpoint.emulator ? undefined : await this.credentialsFound();
    const projectId = this.projectId ?? (await this.projectOf(auth));
    return publishMessage({ endpoint: this.endpoint, projectId, topic: this.topicName, auth }, message, signal);
  }

  /**
   * Credentials are looked for before the first publish to the real service, so that their absence fails the
   * publish in one line; only success is kept: a failed look (a metadata server slow to answer) is tried again at
   * the next publish.
   */
  private credentialsFound(): Promise<RequestAuth> {
    const project = this.projectId ?? 'the default project';
    this.credentials ??= (async () => {
      const auth = this.auth ?? (await import('./storage-auth')).storageAuth(this.projectId);
      await findCredentials(project, auth);
      return auth;
    })().catch((err) => {
      this.credentials = undefined;
      throw new OpsError(
        `no Google Cloud credentials for Pub/Sub in project ${project} (${errorMessage(err)}): ${CREDENTIALS_HINT}`,
      );
    });
    return this.credentials;
  }

  private async projectOf(auth: RequestAuth | undefined): Promise<string> {
    const id = await (auth as { getProjectId?(): Promise<string> } | undefined)?.getProjectId?.();
    if (!id) throw new OpsError('no Google Cloud project for Pub/Sub: set GOOGLE_CLOUD_PROJECT');
    return id;
  }

  /** Waits for the publishes in flight (each ends by its deadline). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}

/**
 * The suite's events on Google Pub/Sub: JSON body, attributes `type`, `severity`, `env` for subscription
 * filters. Events are validated before they leave; an invalid one rejects with a UsageError naming the field.
 */
export class PubSubBus implements EventBus {
  private readonly publisher: PubSubPublisher;

  constructor(options: PubSubBusOptions = {}) {
    this.publisher = new PubSubPublisher({ ...options, topic: options.topic ?? eventsTopic() });
  }

  get topicName(): string {
    return this.publisher.topicName;
  }

  get endpoint(): PubSubEndpoint {
    return this.publisher.endpoint;
  }

  async publish(input: OpsEventInput, options: PublishOptions = {}): Promise<string> {
    const event = parseOrThrow(OpsEvent, input, 'event');
    return this.publisher.publish(
      { data: Buffer.from(JSON.stringify(event)), attributes: attributesOf(event) },
      options,
    );
  }

  close(): Promise<void> {
    return this.publisher.close();
  }
}
