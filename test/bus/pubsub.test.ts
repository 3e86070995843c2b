/** The Pub/Sub event bus against the real emulator, and decoding of received messages. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';
import { emulatorJar, emulatorSkipReason, startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator';
import { PubSubBus, decodeCloudEvent, decodePubSubMessage, PUBSUB_CLOUDEVENT_TYPE } from '../../shared/bus/pubsub-bus';
import { openBus } from '../../shared/bus/open';
import { OpsEvent, type OpsEventInput } from '../../shared/bus/events';
import { eventsTopic } from '../../shared/infra/schedules';
import { UsageError } from '../../shared/errors';
import { loadConfig } from '../../shared/config/load';

const TOPICS = { events: eventsTopic() };

const skip = emulatorSkipReason();
if (skip) console.warn(`skipping the Pub/Sub emulator tests: ${skip}`);

const succeeded: OpsEventInput = {
  type: 'backup.succeeded',
  severity: 'info',
  env: 'prod',
  time: '2026-11-29T03:00:41.000Z',
  backupId: '20261129T030000Z-7f3a',
  trigger: 'scheduled',
  bytes: 123456,
  rows: 9876,
  tables: 27,
  durationMs: 41000,
};
const failed: OpsEventInput = {
  type: 'backup.failed',
  severity: 'critical',
  env: 'prod',
  time: '2026-11-29T03:00:09.000Z',
  trigger: 'scheduled',
  reason: 'disk full',
};

/** Collects the messages a subscription receives; `next()` waits for the next one. */
function listen(subscription: Subscription, onMessage: (m: Message) => void = (m) => m.ack()) {
  const queue: Message[] = [];
  const waiters: Array<(m: Message) => void> = [];
  let failure: unknown;
  subscription.on('message', (m: Message) => {
    onMessage(m);
    const waiter = waiters.shift();
    if (waiter) waiter(m);
    else queue.push(m);
  });
  subscription.on('error', (err) => (failure = err));
  return {
    next(timeoutMs = 20_000): Promise<Message> {
      if (failure) return Promise.reject(failure);
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no message on ${subscription.name} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push((m) => {
          clearTimeout(timer);
          resolve(m);
        });
      });
    },
    close: () => subscription.close(),
  };
}

describe.skipIf(!emulatorJar())('Pub/Sub bus on the emulator', () => {
  let emulator: PubSubEmulator;
  let client: PubSub;
  let bus: PubSubBus;
  const projectId = 'mt-ops-test';

  beforeAll(async () => {
    emulator = await startPubSubEmulator();
    // The emulator host goes to the client explicitly; process.env is left alone.
    client = new PubSub({ projectId, apiEndpoint: emulator.host, emulatorMode: true });
    await client.createTopic(TOPICS.events);
    await client.createTopic('mt-ops-events-staging');
    bus = new PubSubBus({ projectId, emulatorHost: emulator.host });
  }, 60_000);

  afterAll(async () => {
    await bus?.close();
    await client?.close();
    await emulator?.stop();
  });

  /** A new subscription: it receives only what is published from now on. */
  let n = 0;
  async function subscribe(topic: string = TOPICS.events, onMessage?: (m: Message) => void) {
    const [subscription] = await client.topic(topic).createSubscription(`test-${++n}`);
    return listen(subscription, onMessage);
  }

  it('publishes a JSON event with routing attributes that a subscriber receives intact', async () => {
    const sub = await subscribe();
    try {
      const id = await bus.publish(succeeded);
      expect(id).toMatch(/^\d+$/);
      const message = await sub.next();
      expect(message.id).toBe(id);
      expect(message.attributes).toEqual({ type: 'backup.succeeded', severity: 'info', env: 'prod' });
      expect(JSON.parse(message.data.toString('utf8'))).toEqual(succeeded);
      expect(decodePubSubMessage(message.data, message.attributes, message.id)).toEqual({
        event: succeeded,
        attributes: message.attributes,
        messageId: id,
      });

      // An invalid event is refused before it leaves: the next message on the subscription is the next valid one.
      const err = await bus
        .publish({ ...failed, severity: 'info', time: 'yesterday' } as never)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).issues).toEqual([
        expect.stringMatching(/^severity: /),
        expect.stringMatching(/^time: /),
      ]);
      const id2 = await bus.publish(failed);
      const message2 = await sub.next();
      expect(message2.id).toBe(id2);
      expect(message2.attributes).toEqual({ type: 'backup.failed', severity: 'critical', env: 'prod' });
    } finally {
      await sub.close();
    }
  });

  it('a redelivered message (same id) decodes identically', async () => {
    let deliveries = 0;
    const sub = await subscribe(TOPICS.events, (m) => (++deliveries === 1 ? m.nack() : m.ack()));
    try {
      const id = await bus.publish(failed);
      const first = await sub.next();
      const second = await sub.next();
      expect([first.id, second.id]).toEqual([id, id]);
      const a = decodePubSubMessage(first.data, first.attributes, first.id);
      const b = decodePubSubMessage(second.data, second.attributes, second.id);
      expect(a).toEqual(b);
      expect(a).toMatchObject({ event: { type: 'backup.failed', reason: 'disk full' }, messageId: id });
    } finally {
      await sub.close();
    }
  });

  it('a received message wrapped as a 2nd-gen function CloudEvent decodes to the same payload', async () => {
    const sub = await subscribe();
    try {
      const id = await bus.publish(succeeded);
      const m = await sub.next();
      const cloudEvent = {
        id: m.id,
        type: PUBSUB_CLOUDEVENT_TYPE,
        source: `//pubsub.googleapis.com/projects/${projectId}/topics/${TOPICS.events}`,
        data: {
          message: {
            data: m.data.toString('base64'),
            attributes: m.attributes,
            messageId: m.id,
            publishTime: m.publishTime.toISOString(),
          },
          subscription: 'x',
        },
      };
      expect(decodeCloudEvent(OpsEvent, cloudEvent)).toEqual({
        payload: succeeded,
        attributes: m.attributes,
        messageId: id,
      });
    } finally {
      await sub.close();
    }
  });

  it('publishes to a configurable topic', async () => {
    const staging = new PubSubBus({ projectId, emulatorHost: emulator.host, topic: 'mt-ops-events-staging' });
    const sub = await subscribe('mt-ops-events-staging');
    try {
      const id = await staging.publish({ ...failed, env: 'staging' });
      const m = await sub.next();
      expect([m.id, m.attributes.env]).toEqual([id, 'staging']);
    } finally {
      await sub.close();
      await staging.close();
    }
  });

  it('openBus uses the emulator named in the configuration (not only in process.env)', async () => {
    expect(process.env.PUBSUB_EMULATOR_HOST).toBeUndefined();
    const opened = openBus(
      loadConfig({ OPS_CONFIG: undefined, PUBSUB_EMULATOR_HOST: emulator.host, GOOGLE_CLOUD_PROJECT: projectId }),
    );
    const sub = await subscribe();
    try {
      const id = await opened.publish(succeeded);
      expect((await sub.next()).id).toBe(id);
    } finally {
      await sub.close();
      await opened.close();
    }
  });
});

describe('decoding received messages', () => {
  const valid = {
    type: 'alert',
    severity: 'warning',
    env: 'prod',
    time: '2026-11-29T03:00:00Z',
    status: 'firing',
    fingerprint: 'probe/prod/api',
    title: 'API slow',
    startsAt: '2026-11-29T02:58:00Z',
    source: 'probe',
  };
  const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');

  it.each<[string, Parameters<typeof decodePubSubMessage>[0], RegExp]>([
    ['bytes that are not JSON', Buffer.from('not json'), /^data: not valid JSON$/],
    ['base64 that is not JSON', b64('{"type": "alert", '), /^data: not valid JSON$/],
    ['text that is not base64', '{"type":"alert"}', /^data: not base64$/],
    ['an unknown event type', b64({ ...valid, type: 'backup.exploded' }), /^data\.type: /],
    ['missing fields', b64({ type: 'backup.succeeded', severity: 'info' }), /^data\.env: .*; data\.time: /],
    ['a wrong severity', b64({ ...valid, severity: 'loud' }), /^data\.severity: /],
    ['a JSON array', b64([valid]), /^data: /],
    ['no data at all', undefined, /^data\.type: /],
  ])('%s is poison with the path, never a throw', (_name, data, reason) => {
    const decoded = decodePubSubMessage(data, { type: 'alert' }, '41');
    expect(decoded).toMatchObject({ poison: true, messageId: '41' });
    expect((decoded as { reason: string }).reason).toMatch(reason);
  });

  it('a poison reason never echoes the received values', () => {
    const decoded = decodePubSubMessage(b64({ ...valid, severity: 'postgres://u:hunter2@db/x' }), {}, '1');
    expect(JSON.stringify(decoded)).not.toContain('hunter2');
  });

  it('a redelivered message (same id, same data) decodes identically, with defaults applied', () => {
    const data = b64(valid);
    const first = decodePubSubMessage(data, { type: 'alert', severity: 'warning', env: 'prod' }, '77');
    const again = decodePubSubMessage(
      Buffer.from(data, 'base64'),
      { type: 'alert', severity: 'warning', env: 'prod' },
      '77',
    );
    expect(first).toEqual(again);
    expect(first).toEqual({
      event: { ...valid, summary: '', evidence: [], labels: {}, links: [] },
      attributes: { type: 'alert', severity: 'warning', env: 'prod' },
      messageId: '77',
    });
  });

  it.each<[string, unknown, RegExp]>([
    [
      'another CloudEvent type',
      { id: '1', type: 'google.cloud.storage.object.v1.finalized', data: {} },
      /^type: expected google\.cloud\.pubsub/,
    ],
    ['no data.message', { id: '1', type: PUBSUB_CLOUDEVENT_TYPE, data: { nope: true } }, /^data\.message: missing/],
    [
      'an invalid payload',
      {
        id: '1',
        type: PUBSUB_CLOUDEVENT_TYPE,
        data: { message: { data: b64({ ...valid, title: 5 }), messageId: '1' } },
      },
      /^data\.message\.data\.title: /,
    ],
  ])('a CloudEvent with %s is poison', (_name, event, reason) => {
    const decoded = decodeCloudEvent(OpsEvent, event as never);
    expect(decoded).toMatchObject({ poison: true, messageId: '1' });
    expect((decoded as { reason: string }).reason).toMatch(reason);
  });

  it('a CloudEvent without messageId in the message takes the CloudEvent id', () => {
    expect(
      decodeCloudEvent(OpsEvent, { id: '9', type: PUBSUB_CLOUDEVENT_TYPE, data: { message: { data: b64(valid) } } }),
    ).toMatchObject({
      payload: { title: 'API slow' },
      messageId: '9',
      attributes: {},
    });
  });
});
