import { createServer, type AddressInfo } from 'node:net';
import { describe, it, expect } from 'vitest';
import { MemoryBus, type Selector } from '../../shared/bus/memory-bus';
import { openBus } from '../../shared/bus/open';
import { PubSubBus } from '../../shared/bus/pubsub-bus';
import { type OpsEventInput, type ReceivedEvent } from '../../shared/bus/events';
import { UsageError } from '../../shared/errors';
import { capturedLogger } from '../support/logs';
import { loadConfig } from '../../shared/config/load';

const alert = (title: string, severity: 'critical' | 'warning' | 'info' = 'warning'): OpsEventInput => ({
  type: 'alert',
  severity,
  env: 'local',
  time: '2026-11-29T03:00:00Z',
  status: 'firing',
  fingerprint: `test/${title}`,
  title,
  startsAt: '2026-11-29T02:59:00Z',
  source: 'test',
});
const failed: OpsEventInput = {
  type: 'backup.failed',
  severity: 'critical',
  env: 'prod',
  time: '2026-11-29T03:00:09Z',
  trigger: 'scheduled',
  reason: 'disk full',
};
const succeeded: OpsEventInput = {
  type: 'backup.succeeded',
  severity: 'info',
  env: 'prod',
  time: '2026-11-29T03:00:41Z',
  backupId: 'b1',
  trigger: 'scheduled',
  bytes: 1,
  rows: 1,
  tables: 1,
  durationMs: 1,
};
const events = [alert('slow'), alert('down', 'critical'), failed, succeeded];

describe('in-process bus', () => {
  it.each<[string, Selector, string[]]>([
    ['no selector (every event)', '*', ['alert', 'alert', 'backup.failed', 'backup.succeeded']],
    ['an event type', 'backup.failed', ['backup.failed']],
    ['a type prefix', 'backup.*', ['backup.failed', 'backup.succeeded']],
    ['attributes, like a subscription filter', { severity: 'critical' }, ['alert', 'backup.failed']],
    ['attributes, several', { severity: 'critical', env: 'prod' }, ['backup.failed']],
    ['a predicate', (e) => e.type === 'alert' && e.title === 'slow', ['alert']],
  ])('subscribe by %s', async (_name, selector, expected) => {
    const bus = new MemoryBus();
    const got: string[] = [];
    bus.subscribe(selector, (m) => void got.push(m.event.type));
    for (const e of events) await bus.publish(e);
    await bus.drain();
    expect(got).toEqual(expected);
  });

  it('delivers validated events with attributes and unique ids; subscribe(handler) gets everything', async () => {
    const bus = new MemoryBus();
    const all: ReceivedEvent[] = [];
    bus.subscribe((m) => void all.push(m));
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => bus.publish(alert(`a${i}`))));
    await bus.drain();
    expect(new Set(ids).size).toBe(50);
    expect(all.map((m) => m.messageId)).toEqual(ids);
    // defaults applied by validation: the alert's summary, evidence, labels and links; status and source as attributes
    expect(all[0]).toEqual({
      messageId: ids[0],
      attributes: { type: 'alert', severity: 'warning', env: 'local', status: 'firing', source: 'test' },
      event: { ...alert('a0'), summary: '', evidence: [], labels: {}, links: [] },
    });
  });

  it('an unsubscribed handler gets nothing more', async () => {
    const bus = new MemoryBus();
    const got: string[] = [];
    const off = bus.subscribe('alert', (m) => void got.push(m.messageId));
    await bus.publish(alert('one'));
    off();
    await bus.publish(alert('two'));
    await bus.drain();
    expect(got).toHaveLength(1);
  });

  it('refuses an invalid event with the field path, and delivers nothing', async () => {
    const bus = new MemoryBus();
    const got: unknown[] = [];
    bus.subscribe((m) => void got.push(m));
    const err = await bus
      .publish({ ...alert('x'), severity: 'loud', time: 'at three' } as never)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).issues).toEqual([
      expect.stringMatching(/^severity: /),
      expect.stringMatching(/^time: /),
    ]);
    const missing = await bus
      .publish({
        type: 'backup.failed',
        severity: 'critical',
        env: 'prod',
        time: '2026-11-29T03:00:00Z',
        trigger: 'manual',
      } as never)
      .catch((e: unknown) => e);
    expect((missing as UsageError).issues).toEqual([expect.stringMatching(/^reason: /)]);
    await bus.drain();
    expect(bus.published).toHaveLength(0);
    expect(got).toHaveLength(0);
  });

  it('a failing subscriber is logged and does not stop the others; each gets its own copy', async () => {
    const { logger, lines } = capturedLogger();
    const bus = new MemoryBus({ logger });
    const got: string[] = [];
    bus.subscribe((m) => {
      if (m.event.type === 'alert') m.event.title = 'mutated';
      throw new Error('subscriber bug');
    });
    bus.subscribe(async (m) => {
      await new Promise((r) => setTimeout(r, 5));
      got.push(m.event.type === 'alert' ? m.event.title : '');
    });
    const id = await bus.publish(alert('original'));
    await bus.drain();
    expect(got).toEqual(['original']);
    const record = JSON.parse(lines.find((l) => l.includes('event subscriber failed'))!) as Record<string, unknown>;
    expect(record).toMatchObject({
      severity: 'ERROR',
      messageId: id,
      type: 'alert',
      err: { message: 'subscriber bug' },
    });
  });

  it('a rejected async handler is logged too, and drain waits for slow handlers', async () => {
    const { logger, lines } = capturedLogger();
    const bus = new MemoryBus({ logger });
    let done = false;
    bus.subscribe(async () => Promise.reject(new Error('async bug')));
    bus.subscribe(async () => {
      await new Promise((r) => setTimeout(r, 30));
      done = true;
    });
    await bus.publish(alert('x'));
    expect(done).toBe(false);
    await bus.close();
    expect(done).toBe(true);
    expect(lines.join('\n')).toContain('async bug');
  });
});

describe('openBus', () => {
  it('is the in-process bus without OPS_EVENTS, EVENTS_TOPIC or an emulator, even with GOOGLE_CLOUD_PROJECT', () => {
    expect(openBus(loadConfig({ OPS_CONFIG: undefined })).inner).toBeInstanceOf(MemoryBus);
    expect(openBus(loadConfig({ OPS_CONFIG: undefined, GOOGLE_CLOUD_PROJECT: 'mt-prod' })).inner).toBeInstanceOf(
      MemoryBus,
    );
  });

  it.each([
    ['OPS_EVENTS=pubsub', { OPS_EVENTS: 'pubsub' }],
    ['EVENTS_TOPIC', { EVENTS_TOPIC: 'mt-ops-events' }],
    ['PUBSUB_EMULATOR_HOST', {}],
  ])(
    'is Pub/Sub with %s (the client loaded lazily), and an invalid event never reaches the network',
    async (_name, env) => {
      // A listener standing in for Pub/Sub: it counts every connection the client opens.
      let connections = 0;
      const server = createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const bus = openBus(
          loadConfig({ OPS_CONFIG: undefined, GOOGLE_CLOUD_PROJECT: 'mt-prod', PUBSUB_EMULATOR_HOST: host, ...env }),
          { publishTimeoutMs: 3_000, onUndelivered: () => {} },
        );
        expect(bus.inner).not.toBeInstanceOf(MemoryBus);
        expect(bus.choice).toMatchObject({ kind: 'pubsub', emulatorHost: host });
        // validates first: nothing goes to the network for an invalid event
        await expect(bus.publish({ type: 'nope' } as never)).rejects.toBeInstanceOf(UsageError);
        await new Promise((r) => setTimeout(r, 300));
        expect(connections).toBe(0);
        // the listener does see a valid event's attempt (so the check above can fail); the failure is not thrown
        await expect(bus.publish(alert('x'))).resolves.toBe('');
        expect(connections).toBeGreaterThan(0);
        await bus.close();
      } finally {
        server.close();
      }
    },
  );

  it('PubSubBus takes the emulator host explicitly', async () => {
    const bus = new PubSubBus({ projectId: 'p', emulatorHost: '127.0.0.1:1', topic: 'custom' });
    expect(bus.endpoint).toEqual({ url: 'http://127.0.0.1:1', emulator: true });
    expect(bus.topicName).toBe('custom');
    await bus.close();
  });
});
