/**
 * The local runtime's schedules (functions/local/schedules.ts): one run at a time per job, and a tick that finds the
 * previous run still going (a store that stopped answering, a hung probe run) is skipped and said, never silently.
 */
import { describe, it, expect } from 'vitest';
import { startSchedules, type PlannedSchedule } from '../../functions/local/schedules';
import { Work } from '../../functions/local/work';
import type { Delivery, Job } from '../../functions/local/delivery';
import { capturedLogger } from '../support/logs';

describe('local schedules', () => {
  it('a tick while the previous run is still going is skipped with a warning naming the job and since when', async () => {
    const { logger, records } = capturedLogger();
    const triggered: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const delivery: Delivery = {
      description: 'test',
      trigger: async (job) => {
        triggered.push(job.name);
        await held; // the first run does not end until released
      },
      close: async () => {},
    };
    const job = { name: 'mt-ops-probe-minutely' } as unknown as Job;
    const planned: PlannedSchedule[] = [{ job, cron: '* * * * * *', timeZone: 'UTC', overridden: false }];
    const running = startSchedules(planned, delivery, new Work(), logger);
    try {
      await new Promise((r) => setTimeout(r, 2_600));
    } finally {
      running.stop();
      release();
    }
    expect(triggered).toEqual(['mt-ops-probe-minutely']); // one run at a time
    const skips = records().filter((r) => String(r.message).startsWith('scheduled mt-ops-probe-minutely skipped'));
    expect(skips.length).toBeGreaterThanOrEqual(1);
    expect(skips[0]).toMatchObject({ severity: 'WARNING', job: 'mt-ops-probe-minutely' });
    expect(String(skips[0]!.message)).toMatch(/its previous run is still going \(running since \d{4}-\d\d-\d\dT/);
  });

  it("a skipped tick's warning says when that tick was due (skippedAt), not when the run still going started", async () => {
    const { logger, records } = capturedLogger();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let startedAt: Date | undefined;
    const delivery: Delivery = {
      description: 'test',
      trigger: async () => {
        startedAt ??= new Date();
        await held;
      },
      close: async () => {},
    };
    const job = { name: 'mt-ops-probe-minutely' } as unknown as Job;
    const planned: PlannedSchedule[] = [{ job, cron: '* * * * * *', timeZone: 'UTC', overridden: false }];
    const running = startSchedules(planned, delivery, new Work(), logger);
    try {
      await new Promise((r) => setTimeout(r, 3_600));
    } finally {
      running.stop();
      release();
    }
    const skips = records().filter((r) => String(r.message).startsWith('scheduled mt-ops-probe-minutely skipped'));
    expect(skips.length).toBeGreaterThanOrEqual(2);
    const ticks = skips.map((r) => Date.parse(String(r.skippedAt)));
    for (const [i, at] of ticks.entries()) {
      expect(at % 1000, `skip ${i}: ${String(skips[i]!.skippedAt)} is a tick of the schedule (a whole second)`).toBe(0);
      expect(at, `skip ${i} is after the run still going started`).toBeGreaterThan(startedAt!.getTime());
      expect(Date.parse(String(skips[i]!.time)) - at, `skip ${i} is said within a second of its tick`).toBeLessThan(
        1_000,
      );
      if (i > 0) expect(at - ticks[i - 1]!, 'each skip its own tick').toBeGreaterThanOrEqual(1_000);
    }
  });
});
