/** The Pub/Sub event bus against the real emulator. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { emulatorJar, startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator';
import { PubSubBus } from '../../shared/bus/pubsub-bus';
import { decodePubSubJson } from '../../shared/bus/decode';
import { OpsEvent } from '../../shared/bus/events';
import { UsageError } from '../../shared/errors';

const jar = emulatorJar();
if (!jar) console.warn('skipping Pub/Sub emulator tests: the emulator jar is not installed (gcloud components install pubsub-emulator)');

describe.skipIf(!jar)('Pub/Sub bus on the emulator', () => {
  let emulator: PubSubEmulator;
  let client: PubSub;
  let bus: PubSubBus;
  const projectId = 'mt-ops-test';

  beforeAll(async () => {
    emulator = await startPubSubEmulator();
    const clientConfig = { apiEndpoint: emulator.host, emulatorMode: true } as const;
    client = new PubSub({ projectId, ...clientConfig });
    await client.createTopic('mt-ops-events');
    await client.topic('mt-ops-events').createSubscription('all-events');
    bus = new PubSubBus({ projectId, clientConfig });
  }, 60_000);

  afterAll(async () => {
    await bus?.close();
    await client?.close();
    await emulator?.stop();
  });

  function receiveOne(subscription: string): Promise<Message> {
    return new Promise((resolve, reject) => {
      const sub = client.subscription(subscription);
      const timer = setTimeout(() => reject(new Error('no message within 20 s')), 20_000);
      sub.once('message', (m: Message) => {
        clearTimeout(timer);
        m.ack();
        void sub.close();
        resolve(m);
      });
      sub.once('error', reject);
    });
  }

  it('publishes a JSON event with routing attributes that a subscriber receives intact', async () => {
    const received = receiveOne('all-events');
    const id = await bus.publish({
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
    });
    expect(id).toMatch(/^\d+$/);
    const message = await received;
    expect(message.id).toBe(id);
    expect(message.attributes).toEqual({ type: 'backup.succeeded', severity: 'info', env: 'prod' });
    const decoded = decodePubSubJson(OpsEvent, { data: message.data, attributes: message.attributes, messageId: message.id });
    expect('payload' in decoded && decoded.payload).toMatchObject({ backupId: '20261129T030000Z-7f3a', rows: 9876 });
  });

  it('refuses an invalid event at publish, naming the field', async () => {
    const err = await bus
      .publish({ type: 'backup.failed', severity: 'info', env: 'prod', time: 'yesterday', trigger: 'manual', reason: 'x' } as never)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).issues.join('\n')).toMatch(/severity/);
    expect((err as UsageError).issues.join('\n')).toMatch(/time/);
  });
});

describe('decoding received messages', () => {
  it('a garbage payload is poison with a reason, never a throw', () => {
    expect(decodePubSubJson(OpsEvent, { data: Buffer.from('not json'), messageId: '1' })).toEqual({ poison: true, reason: 'data: not valid JSON', messageId: '1' });
    const invalid = decodePubSubJson(OpsEvent, { data: Buffer.from(JSON.stringify({ type: 'backup.succeeded', severity: 'info' })), messageId: '2' });
    expect(invalid).toMatchObject({ poison: true, messageId: '2' });
    expect((invalid as { reason: string }).reason).toMatch(/^data\.env: /m);
  });

  it('a redelivered message (same id, same data) decodes identically', () => {
    const message = {
      data: Buffer.from(JSON.stringify({ type: 'alert', severity: 'warning', env: 'prod', time: '2026-11-29T03:00:00Z', title: 'API slow' })).toString('base64'),
      messageId: '77',
      attributes: { type: 'alert' },
    };
    expect(decodePubSubJson(OpsEvent, message)).toEqual(decodePubSubJson(OpsEvent, { ...message }));
    expect(decodePubSubJson(OpsEvent, message)).toMatchObject({ payload: { title: 'API slow', text: '' }, messageId: '77' });
  });
});
