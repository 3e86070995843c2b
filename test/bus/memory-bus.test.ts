import { describe, it, expect } from 'vitest';
import { MemoryBus } from '../../shared/bus/memory-bus';
import { UsageError } from '../../shared/errors';
import type { ReceivedEvent } from '../../shared/bus/events';

const alert = (title: string, severity: 'critical' | 'warning' | 'info' = 'warning') => ({
  type: 'alert' as const,
  severity,
  env: 'local',
  time: '2026-11-29T03:00:00Z',
  title,
});

describe('in-process bus', () => {
  it('delivers validated events with attributes to matching subscribers only', async () => {
    const bus = new MemoryBus();
    const all: ReceivedEvent[] = [];
    const critical: ReceivedEvent[] = [];
    bus.subscribe((m) => void all.push(m));
    bus.subscribe((m) => void critical.push(m), (e) => e.severity === 'critical');
    const id1 = await bus.publish(alert('slow'));
    const id2 = await bus.publish(alert('down', 'critical'));
    await bus.drain();
    expect(id1).not.toBe(id2);
    expect(all.map((m) => m.event.type === 'alert' && m.event.title)).toEqual(['slow', 'down']);
    expect(critical.map((m) => m.messageId)).toEqual([id2]);
    expect(all[1]!.attributes).toEqual({ type: 'alert', severity: 'critical', env: 'local' });
  });

  it('refuses an invalid event with the field path', async () => {
    const bus = new MemoryBus();
    const err = await bus.publish({ ...alert('x'), severity: 'loud' } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/severity/);
    expect(bus.published).toHaveLength(0);
  });

  it('a failing subscriber does not stop the others', async () => {
    const bus = new MemoryBus();
    const got: string[] = [];
    bus.subscribe(() => {
      throw new Error('subscriber bug');
    });
    bus.subscribe((m) => void got.push(m.messageId));
    const id = await bus.publish(alert('x'));
    await bus.drain();
    expect(got).toEqual([id]);
  });
});
