/**
 * How the local runtime moves messages, as Cloud Scheduler -> Pub/Sub -> function does in the cloud:
 * - in-process (the default): a Scheduler job calls the entry point its topic is pushed to, with the same CloudEvent
 *   envelope, and every event published on the in-process bus reaches the events topic's entry point (the fan-out);
 *   a run that fails is delivered again with a backoff, as Pub/Sub redelivers;
 * - through the Pub/Sub emulator (PUBSUB_EMULATOR_HOST): the topics and subscriptions of infra/ are created there when
 *   missing, a Scheduler job publishes its payload to its topic, and each subscription is pulled and handed to its
 *   entry point (acknowledged when it returns, nacked when it throws, so the emulator redelivers).
 * Every delivery is tracked work: once the runtime stops, nothing new is taken.
 */
import type { PubSub, Message, Subscription } from '@google-cloud/pubsub';
import { encodeCloudEvent, PUBSUB_CLOUDEVENT_TYPE } from '../../shared/bus/decode';
import { MemoryBus } from '../../shared/bus/memory-bus';
import type { ReliableBus } from '../../shared/bus/open';
import { errorMessage, InterruptedError } from '../../shared/errors';
import { assertReachable } from '../../shared/reachable';
import type { Logger } from '../../shared/log/logger';
import type { LocalWiring, EventHandler } from './wiring';
import type { Work } from './work';

export type Job = LocalWiring['jobs'][number];

export interface Delivery {
  /** One line for the start-up banner. */
  readonly description: string;
  /** Plays a Scheduler job once (`messageId`: decimal digits, as Pub/Sub's). */
  trigger(job: Job, messageId: string): Promise<void>;
  /** Stops taking messages (in-flight ones are the Work's to wait for) and closes what it opened. */
  close(): Promise<void>;
}

/** Calls an entry point as tracked work; a failure is logged in one line (an interrupted run at info). */
async function invoke(
  work: Work,
  logger: Logger,
  what: string,
  handler: EventHandler,
  event: unknown,
): Promise<boolean> {
  try {
    await work.run(what, () => handler(event as never));
    return true;
  } catch (err) {
    if (work.stopping && work.signal.reason instanceof InterruptedError)
      logger.info(`${what} stopped: ${errorMessage(work.signal.reason)}`);
    else logger.error({ err }, `${what} failed: ${errorMessage(err)}`);
    return false;
  }
}

/** How a failed in-process delivery is delivered again: the retry policy the emulator's subscriptions get. */
export interface Redelivery {
  minimumBackoffMs: number;
  maximumBackoffMs: number;
}

export const REDELIVERY: Redelivery = { minimumBackoffMs: 10_000, maximumBackoffMs: 600_000 };

export function inProcessDelivery(
  wired: LocalWiring,
  bus: ReliableBus,
  eventsTopic: string,
  work: Work,
  logger: Logger,
  redelivery: Redelivery = REDELIVERY,
): Delivery {
  const memory = bus.inner instanceof MemoryBus ? bus.inner : undefined;
  const unsubscribe: Array<() => void> = [];
  const onEvents = wired.topics[eventsTopic];
  // A function that fails (a delivery still owed, a digest not sent, a backup that failed) is delivered the same
  // message again, as Pub/Sub does in the cloud: after a backoff (10 s doubling to 10 min), up to the subscription's
  // maxDeliveryAttempts (then the cloud dead-letters it). Without this a failed run was never retried here: a daily
  // digest whose SMTP server was down at 09:00 waited for the next day, though the log said Pub/Sub would redeliver.
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  const deliver = async (what: string, topic: string, handler: EventHandler, event: unknown, attempt = 1) => {
    const ok = await invoke(work, logger, attempt > 1 ? `${what} (delivery ${attempt})` : what, handler, event);
    if (ok || closed || work.stopping) return;
    const max = wired.subscriptions.find((s) => s.topic === topic)?.maxDeliveryAttempts;
    if (max !== undefined && attempt >= max) {
      logger.error(`${what}: given up after ${attempt} deliveries (in the cloud it goes to the dead-letter topic)`);
      return;
    }
    const wait = Math.min(redelivery.maximumBackoffMs, redelivery.minimumBackoffMs * 2 ** (attempt - 1));
    logger.info(
      `${what}: delivered again in ${Math.round(wait / 1000)} s (delivery ${attempt + 1}${max ? ` of ${max}` : ''})`,
    );
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed && !work.stopping) void deliver(what, topic, handler, event, attempt + 1);
    }, wait);
    timers.add(timer);
  };
  if (memory) {
    unsubscribe.push(
      memory.subscribe((m) => logger.info({ event: m.event, messageId: m.messageId }, `event ${m.event.type}`)),
    );
    // The in-process bus is the events topic: its events reach whatever infra/ pushes that topic to (the fan-out).
    if (onEvents) {
      unsubscribe.push(
        memory.subscribe(async (m) => {
          const event = encodeCloudEvent({
            topic: eventsTopic,
            payload: m.event,
            messageId: m.messageId,
            attributes: m.attributes,
          });
          await deliver(`delivery of ${m.event.type} to ${eventsTopic}`, eventsTopic, onEvents, event);
        }),
      );
    }
  }
  return {
    description:
      bus.choice.kind === 'memory'
        ? 'schedules and events delivered in-process'
        : 'schedules run in-process; events are not delivered back here',
    async trigger(job, messageId) {
      const handler = wired.topics[job.topic];
      if (!handler) return;
      const event = encodeCloudEvent({
        topic: job.topic,
        payload: job.payload,
        messageId,
        attributes: { job: job.name },
      });
      await deliver(`scheduled ${job.name}`, job.topic, handler, event);
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const u of unsubscribe) u();
    },
  };
}

/** The CloudEvent a 2nd-gen function receives for a pulled message (data kept as sent: a bad one is poison to the handler). */
function cloudEventOf(m: Message, project: string, topic: string, subscription: string) {
  return {
    specversion: '1.0',
    id: m.id,
    source: `//pubsub.googleapis.com/projects/${project}/topics/${topic}`,
    type: PUBSUB_CLOUDEVENT_TYPE,
    time: m.publishTime.toISOString(),
    data: {
      message: {
        data: m.data.toString('base64'),
        messageId: m.id,
        attributes: { ...m.attributes },
        publishTime: m.publishTime.toISOString(),
      },
      subscription: `projects/${project}/subscriptions/${subscription}`,
    },
  };
}

async function exists(check: () => Promise<[boolean]>): Promise<boolean> {
  const [found] = await check();
  return found;
}

export async function emulatorDelivery(
  wired: LocalWiring,
  options: { emulatorHost: string; projectId: string; topics: string[] },
  work: Work,
  logger: Logger,
): Promise<Delivery> {
  // nothing there: one line, not a client retrying its first call for minutes
  await assertReachable(
    options.emulatorHost,
    'PUBSUB_EMULATOR_HOST',
    'is the emulator running? unset it for the in-process bus',
  );
  const { PubSub } = await import('@google-cloud/pubsub');
  const client: PubSub = new PubSub({
    projectId: options.projectId,
    apiEndpoint: options.emulatorHost,
    emulatorMode: true,
  });
  // The emulator starts empty: create what infra/ declares (a topic or subscription that exists is left as it is).
  for (const name of options.topics) {
    if (!(await exists(() => client.topic(name).exists()))) await client.createTopic(name).catch(alreadyExists);
  }
  const subscriptions: Subscription[] = [];
  for (const sub of wired.subscriptions) {
    const subscription = client.subscription(sub.name);
    if (!(await exists(() => subscription.exists()))) {
      await client
        .topic(sub.topic)
        .createSubscription(sub.name, {
          ackDeadlineSeconds: sub.ackDeadlineSeconds,
          // a failing run is retried with a backoff, not at once in a loop
          retryPolicy: { minimumBackoff: { seconds: 10 }, maximumBackoff: { seconds: 600 } },
        })
        .catch(alreadyExists);
    }
    subscription.on('message', (m: Message) => {
      if (work.stopping) {
        m.nack(); // the next runtime (or this one, restarted) gets it
        return;
      }
      const event = cloudEventOf(m, options.projectId, sub.topic, sub.name);
      void invoke(work, logger, `${sub.entryPoint} (message ${m.id} on ${sub.name})`, sub.handler, event).then((ok) =>
        ok ? m.ack() : m.nack(),
      );
    });
    subscription.on('error', (err: unknown) => logger.error({ err }, `subscription ${sub.name}: ${errorMessage(err)}`));
    subscriptions.push(subscription);
  }
  return {
    description: `schedules published and events delivered through the emulator (${wired.subscriptions.length} subscriptions of infra/ pulled here)`,
    async trigger(job, _messageId) {
      // As Cloud Scheduler does: the job's payload to its topic; the subscription brings it back to the entry point.
      await work.run(`scheduled ${job.name}`, () =>
        client.topic(job.topic).publishMessage({ json: job.payload, attributes: { job: job.name } }),
      );
    },
    async close() {
      for (const s of subscriptions) {
        s.removeAllListeners('message');
        await s.close().catch((err: unknown) => logger.debug({ err }, 'closing a subscription failed'));
      }
      await client.close().catch((err: unknown) => logger.debug({ err }, 'closing the Pub/Sub client failed'));
    },
  };
}

function alreadyExists(err: unknown): void {
  // created meanwhile by another runtime on the same emulator
  if ((err as { code?: number }).code !== 6) throw err;
}
