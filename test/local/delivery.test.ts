/**
 * The local runtime's in-process delivery plays Pub/Sub's redelivery: a run that fails is delivered the same message
 * again after a backoff, up to the subscription's maxDeliveryAttempts (infra/topics.yaml), then given up (the cloud
 * dead-letters it). The wiring is infra/'s own; only the digest's entry point is replaced by one that fails on cue.
 */
import { describe, it, expect } from 'vitest';
import { inProcessDelivery } from '../../functions/local/delivery';
import { wiring, type EventHandler } from '../../functions/local/wiring';
import { Work } from '../../functions/local/work';
import { openBus } from '../../shared/bus/open';
import { eventsTopic } from '../../shared/infra/schedules';
import { capturedLogger } from '../support/logs';
import { testRuntime } from '../support/runtime';
import { tempDir } from '../support/temp';

const DIGEST_TOPIC = 'mt-ops-digest-trigger';

function setup(handler: EventHandler) {
  const rt = testRuntime({ BACKUP_BUCKET: `file://${tempDir('mt-delivery-')}` });
  const real = wiring(() => rt);
  const wired = {
    ...real,
    topics: { ...real.topics, [DIGEST_TOPIC]: handler },
    subscriptions: real.subscriptions.map((s) => (s.topic === DIGEST_TOPIC ? { ...s, handler } : s)),
  };
  const job = wired.jobs.find((j) => j.topic === DIGEST_TOPIC)!;
  const { logger, lines } = capturedLogger();
  const work = new Work();
  const bus = openBus(rt.config);
  const delivery = inProcessDelivery(wired, bus, eventsTopic(undefined), work, logger, {
    minimumBackoffMs: 1,
    maximumBackoffMs: 4,
  });
  return {
    job,
    delivery,
    lines,
    bus,
    maxDeliveryAttempts: real.subscriptions.find((s) => s.topic === DIGEST_TOPIC)!.maxDeliveryAttempts,
  };
}

describe('in-process delivery: a failed run is delivered again, as Pub/Sub does', () => {
  it('a digest that failed twice is delivered a third time, the same message each time, and then left alone', async () => {
    const ids: string[] = [];
    let third!: () => void;
    const done = new Promise<void>((r) => (third = r));
    const { job, delivery, lines, bus } = setup(async (event) => {
      ids.push((event as { id: string }).id);
      if (ids.length < 3) throw new Error('daily digest 2026-11-30 still owed to email');
      third();
    });
    await delivery.trigger(job, '1764478800000');
    await done;
    expect(ids).toEqual(['1764478800000', '1764478800000', '1764478800000']);
    expect(lines.filter((l) => l.includes('delivered again'))).toHaveLength(2);
    expect(lines.some((l) => l.includes('(delivery 3)'))).toBe(false); // the third one succeeded: nothing logged
    await delivery.close();
    await bus.close();
  });

  it("one that always fails is given up after the subscription's maxDeliveryAttempts, saying so", async () => {
    let calls = 0;
    let gaveUp!: () => void;
    const over = new Promise<void>((r) => (gaveUp = r));
    const { job, delivery, lines, bus, maxDeliveryAttempts } = setup(async () => {
      calls += 1;
      throw new Error('SMTP: connect ECONNREFUSED');
    });
    expect(maxDeliveryAttempts).toBe(5); // infra/topics.yaml: mt-ops-digest
    const check = setInterval(() => {
      if (lines.some((l) => l.includes('given up'))) gaveUp();
    }, 5);
    await delivery.trigger(job, '1764478800001');
    await over;
    clearInterval(check);
    expect(calls).toBe(5);
    expect(lines.filter((l) => l.includes('given up after 5 deliveries'))).toHaveLength(1);
    await delivery.close();
    await bus.close();
  });
});
