/** Deliveries the fan-out gave up on, kept in the bucket for an operator. */
import type { Config } from '../config/load';
import type { Digest } from './channels/types';
import type { Alert, ChannelName } from './model';
import { alertTopics } from './topics';

/** A delivery given up on: what, where, and why. */
export interface DeadLetter {
  env: string;
  channel: ChannelName;
  kind: string;
  seq: number;
  reason: string;
  /** The alert given up on; or, for the daily digest (`kind: digest`), the digest. */
  alert?: Alert;
  digest?: Digest;
  at: string;
}

export interface DeadLetterSink {
  publish(letter: DeadLetter): Promise<void>;
  close(): Promise<void>;
}

/** The dead-letter topic when Pub/Sub is configured (project or emulator); otherwise the outbox record and the log line are all. */
export function openDeadLetter(config: Pick<Config, 'env'>): DeadLetterSink {
  const { PUBSUB_EMULATOR_HOST: emulatorHost, GOOGLE_CLOUD_PROJECT } = config.env;
  if (!emulatorHost && !GOOGLE_CLOUD_PROJECT) return { publish: async () => {}, close: async () => {} };
  // over Pub/Sub's REST API, as the suite's events (shared/bus/pubsub-bus.ts): no gRPC client in the fan-out
  let publisher: Promise<import('../bus/pubsub-bus').PubSubPublisher> | undefined;
  const get = () =>
    (publisher ??= import('../bus/pubsub-bus').then(
      ({ PubSubPublisher }) =>
        new PubSubPublisher({
          projectId: GOOGLE_CLOUD_PROJECT ?? 'local-emulator',
          topic: alertTopics().deadLetter,
          ...(emulatorHost ? { emulatorHost } : {}),
        }),
    ));
  return {
    publish: async (letter) => {
      const topic = await get();
      await topic.publish({
        data: Buffer.from(JSON.stringify(letter)),
        attributes: {
          type: 'alert.undeliverable',
          channel: letter.channel,
          env: letter.env,
          severity: letter.alert?.severity ?? 'info',
        },
      });
    },
    close: async () => {
      if (publisher) await (await publisher).close();
    },
  };
}
