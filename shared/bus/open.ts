/**
 * Which event bus a process uses, chosen explicitly, and a publish that never crashes the work: a failed publish
 * is handed to `onUndelivered` (the CLI prints one warning line; a function saves the event to the outbox) and the
 * caller carries on with its result.
 */
import type { Config } from '../config/load';
import { OpsEvent, type EventBus, type OpsEventInput, type PublishOptions } from './events';
import { MemoryBus } from './memory-bus';
import { eventsTopic } from '../infra/schedules';
import { parseOrThrow, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { log, type Logger } from '../log/logger';
import { settleWithin } from '../deadline';

export type BusChoice =
  | { kind: 'pubsub'; topic: string; projectId: string; emulatorHost?: string; reason: string }
  | { kind: 'memory'; reason: string };

type BusEnv = Pick<Config['env'], 'PUBSUB_EMULATOR_HOST' | 'GOOGLE_CLOUD_PROJECT' | 'EVENTS_TOPIC' | 'OPS_EVENTS'>;

/**
 * Pub/Sub when OPS_EVENTS=pubsub, EVENTS_TOPIC or PUBSUB_EMULATOR_HOST says so (the cloud deployment sets them);
 * otherwise (or OPS_EVENTS=memory) the in-process bus. GOOGLE_CLOUD_PROJECT alone does NOT choose Pub/Sub: a laptop
 * with gcloud configured is not a deployment.
 */
export function chooseBus(env: BusEnv, options: { topic?: string } = {}): BusChoice {
  const { PUBSUB_EMULATOR_HOST: emulatorHost, GOOGLE_CLOUD_PROJECT, EVENTS_TOPIC, OPS_EVENTS } = env;
  if (OPS_EVENTS === 'memory') return { kind: 'memory', reason: 'OPS_EVENTS=memory' };
  const reason =
    OPS_EVENTS === 'pubsub'
      ? 'OPS_EVENTS=pubsub'
      : EVENTS_TOPIC
        ? 'EVENTS_TOPIC is set'
        : emulatorHost
          ? 'PUBSUB_EMULATOR_HOST is set'
          : undefined;
  if (!reason)
    return { kind: 'memory', reason: 'neither OPS_EVENTS=pubsub, EVENTS_TOPIC nor PUBSUB_EMULATOR_HOST is set' };
  const topic = options.topic ?? eventsTopic(EVENTS_TOPIC);
  return {
    kind: 'pubsub',
    topic,
    projectId: GOOGLE_CLOUD_PROJECT ?? 'local-emulator',
    ...(emulatorHost ? { emulatorHost } : {}),
    reason,
  };
}

export function describeBus(choice: BusChoice): string {
  if (choice.kind === 'memory') return `events: in-process bus (${choice.reason})`;
  return `events: Pub/Sub topic ${choice.topic} in project ${choice.projectId}${choice.emulatorHost ? ` on the emulator at ${choice.emulatorHost}` : ''} (${choice.reason})`;
}

export interface OpenBusOptions {
  topic?: string;
  logger?: Logger;
  /** Gives up on one publish after this long: its retries and its request in flight end then. */
  publishTimeoutMs?: number;
  /** What to do with an event that could not be published. Default: one warning line. */
  onUndelivered?: (event: OpsEvent, err: unknown) => Promise<void> | void;
  /**
   * Nothing in this process subscribes to the in-process bus (a CLI command; `npm start` has the fan-out): with it,
   * each event is undelivered (handed to onUndelivered), never published to no one.
   */
  noSubscriber?: boolean;
}

/** Why an event of a process without subscribers was not delivered (its message is the reason the bus gives). */
const NO_SUBSCRIBER = 'no event bus here: the in-process bus, and nothing in this process delivers alerts';

/** A bus whose publish never rejects for a delivery failure (an invalid event still rejects: that is a bug). */
export interface ReliableBus extends EventBus {
  readonly choice: BusChoice;
  /** The bus underneath (the in-process one can be subscribed to). */
  readonly inner: EventBus;
  /** Publishes or rejects (the outbox's flush uses it). */
  deliver(event: OpsEventInput): Promise<string>;
}

export function openBus(config: Pick<Config, 'env'>, options: OpenBusOptions = {}): ReliableBus {
  const choice = chooseBus(config.env, options);
  const timeoutMs = options.publishTimeoutMs ?? 10_000;
  let inner: EventBus;
  if (choice.kind === 'pubsub') {
    // The publisher is loaded on first publish only, so commands that publish nothing start fast.
    let bus: Promise<EventBus> | undefined;
    const get = () =>
      (bus ??= import('./pubsub-bus').then(
        ({ PubSubBus }) =>
          new PubSubBus({ projectId: choice.projectId, emulatorHost: choice.emulatorHost, topic: choice.topic }),
      ));
    inner = {
      publish: async (event: OpsEventInput, publishOptions?: PublishOptions) =>
        (await get()).publish(event, publishOptions),
      close: async () => {
        if (bus) await (await bus).close();
      },
    };
  } else if (options.noSubscriber) {
    inner = {
      publish: async () => {
        throw new Error(NO_SUBSCRIBER);
      },
      close: async () => {},
    };
  } else {
    inner = new MemoryBus();
  }
  const logger = () => options.logger ?? log();
  const onUndelivered =
    options.onUndelivered ??
    ((event: OpsEvent, err: unknown) =>
      logger().warn(`event ${event.type} not published (the work itself is done): ${redactString(errorMessage(err))}`));
  let failed = false;
  const deliver = (input: OpsEventInput) =>
    withDeadline(
      (signal) => inner.publish(input, { signal }),
      timeoutMs,
      `publishing to ${choice.kind === 'pubsub' ? choice.topic : 'the in-process bus'} took over ${timeoutMs / 1000} s`,
    );
  return {
    choice,
    inner,
    deliver,
    async publish(input) {
      const event = parseOrThrow(OpsEvent, input, 'event');
      try {
        return await deliver(event);
      } catch (err) {
        failed = true;
        await onUndelivered(event, err);
        return '';
      }
    },
    async close() {
      // A publish in flight ends by its own deadline; after a failed one, do not wait long for anything else.
      const ms = failed ? Math.min(timeoutMs, 2_000) : timeoutMs;
      const timedOut = () => {
        throw new Error('closing the event bus timed out');
      };
      await settleWithin(inner.close(), ms, timedOut, { unref: true }).catch((err) =>
        logger().debug({ err }, 'closing the event bus failed'),
      );
    },
  };
}

/**
 * Runs `work` with a signal that aborts after `ms` with `message`: the work ends itself then, with what it met (the
 * publisher says what its last attempt saw); should it not, the deadline rejects with the message alone.
 */
function withDeadline<T>(work: (signal: AbortSignal) => Promise<T>, ms: number, message: string): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(new Error(message));
      // after the work's own rejection, which the abort settles within the same turn
      setImmediate(() => reject(new Error(message)));
    }, ms);
    timer.unref();
  });
  const promise = work(controller.signal);
  promise.catch(() => {}); // a late rejection after the deadline is not unhandled
  deadline.catch(() => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
