// Retention and the scheduled verify under a time limit (MT_OPS_TIME_LIMIT_SECONDS): they stop before the platform
// would kill them, leave nothing half-done or falsely recorded, and the failure event names the limit.
import { describe, it, expect } from 'vitest';
import { tempDir } from '../support/temp';
import { writeSyntheticBackup } from '../support/synthetic-backup';
import { testRuntime } from '../support/runtime';
import { retentionEventHandler } from '../../functions/retention/handlers';
import { verifyJob, verifyOptions } from '../../shared/restore/verify-job';
import { listBackups } from '../../shared/backup/catalog';
import { keys } from '../../shared/backup/layout';
import { startDeadline } from '../../shared/deadline';
import type { ObjectStore } from '../../shared/storage/types';

const ENV = 'prod';
const backup = (store: ObjectStore, iso: string) =>
  writeSyntheticBackup(store, ENV, iso, { columns: [{ name: 'id', type: 'integer' }] });

describe('retention under a time limit', () => {
  it('finishes the deletion under way, starts no other, and publishes retention.failed naming the limit', async () => {
    const rt = testRuntime({ BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: ENV, MT_OPS_TIME_LIMIT_SECONDS: '1' });
    for (const d of ['2025-01-01', '2025-02-01', '2025-03-01', '2025-04-01', '2026-11-28'])
      await backup(rt.store, `${d}T03:00:00.000Z`);
    // the bucket is slow: each deletion waits until the run is past its stop time (0.5 s into a 1 s limit)
    const started = Date.now();
    const store = rt.store;
    const slow: ObjectStore = Object.assign(
      Object.create(Object.getPrototypeOf(store) as object) as ObjectStore,
      store,
      {
        delete: async (key: string, options?: { ifGeneration?: string }) => {
          while (Date.now() - started < 600) await new Promise((r) => setTimeout(r, 50));
          return store.delete(key, options);
        },
      },
    );
    const file = { retention: { policy: { keepLast: 1 }, minKeep: 1, deleteConcurrency: 1 } };
    const dir = tempDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir}/ops.json`, JSON.stringify(file));
    const limited = {
      ...testRuntime({
        BACKUP_BUCKET: `file://${dir}`,
        OPS_ENV: ENV,
        MT_OPS_TIME_LIMIT_SECONDS: '1',
        OPS_CONFIG: `${dir}/ops.json`,
      }),
      store: slow,
    };
    await retentionEventHandler(() => limited)({ id: '7', data: { message: { data: '', messageId: '7' } } } as never);
    const events = limited.bus.published.map((m) => m.event);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'retention.failed',
        severity: 'warning',
        reason: expect.stringMatching(/before the 1 s time limit would kill it.*1 backup\(s\) removed before stopping/),
      }),
    ]);
    // one removed (the one under way finished), the others left for the next run; none half-deleted
    const left = await listBackups(store, ENV, { includeIncomplete: true });
    expect(left.filter((e) => e.kind !== 'complete')).toEqual([]);
    expect(left).toHaveLength(4);
  }, 30_000);
});

describe('the scheduled verify under a time limit', () => {
  it('records nothing and publishes verify.failed naming the limit', async () => {
    const rt = testRuntime({ BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: ENV });
    const id = await backup(rt.store, '2026-11-28T03:00:00.000Z');
    const deadline = startDeadline(1, { marginSeconds: 1 }); // already at its stop time
    await new Promise<void>((resolve) => deadline.signal.addEventListener('abort', () => resolve(), { once: true }));
    const result = await verifyJob(rt, { ...verifyOptions(rt, { trigger: 'scheduled' }), deadline });
    expect(result.ok).toBe(false);
    expect(rt.bus.published.map((m) => m.event)).toEqual([
      expect.objectContaining({
        type: 'verify.failed',
        backupId: id,
        reason: expect.stringMatching(/before the 1 s time limit/),
      }),
    ]);
    expect(await rt.store.stat(keys.verify(ENV, id))).toBeUndefined();
  });
});
