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
  let client: Promise<import('@google-cloud/pubsub').PubSub> | undefined;
  const get = () =>
    (client ??= import('@google-cloud/pubsub').then(
      ({ PubSub }) =>
        new PubSub({
          projectId: GOOGLE_CLOUD_PROJECT ?? 'local-emulator',
          ...(emulatorHost ? { apiEndpoint: emulatorHost, emulatorMode: true } : {}),
        }),
    ));
  return {
    publish: async (letter) => {
      await (await get()).topic(alertTopics().deadLetter).publishMessage({
        json: letter,
        attributes: {
          type: 'alert.undeliverable',
          channel: letter.channel,
          env: letter.env,
          severity: letter.alert?.severity ?? 'info',
        },
      });
    },
    close: async () => {
      if (client) await (await client).close();
    },
  };
}
