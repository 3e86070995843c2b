// A backup under a time limit (MT_OPS_TIME_LIMIT_SECONDS, from infra/): stopped cleanly before the platform would
// kill it (lease released, no manifest, one backup.failed naming the limit); a run that used more than half of its
// limit raises a warning; backup.succeeded carries the duration and the limit.
import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { backupJob } from '../../shared/backup/job';
import { listBackups } from '../../shared/backup/catalog';
import { MemoryBus } from '../../shared/bus/memory-bus';
import { createLogger } from '../../shared/log/logger';
import { keys } from '../../shared/backup/layout';
import { startDeadline } from '../../shared/deadline';
import { TimeLimitError } from '../../shared/errors';
import type { ObjectStore } from '../../shared/storage/types';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('mt_time_limit');
  await loadAwkwardSchema(db);
});

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}
const logger = createLogger({ level: 'silent' });

describe('backup under a time limit', () => {
  it('stops before the limit: lease released, nothing complete-looking, one backup.failed naming the limit', async () => {
    const store = openStore(`file://${tempDir()}`);
    const bus = new MemoryBus();
    // a 2 s limit, stopped 1.5 s early: the backup is held after its snapshot until the deadline fires
    const deadline = startDeadline(2, { marginSeconds: 1.5 });
    const held = new Promise<void>((resolve) =>
      deadline.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    const run = backupJob(
      { bus, logger },
      { databaseUrl: db.url, store, env: 'test', deadline, afterSnapshot: () => held },
    );
    const err = await run.catch((e: unknown) => e);
    deadline.dispose();
    expect(err).toBeInstanceOf(TimeLimitError);
    expect((err as Error).message).toMatch(/^stopped after \d+ s, before the 2 s time limit would kill it/);
    expect(bus.published.map((m) => m.event)).toEqual([
      expect.objectContaining({
        type: 'backup.failed',
        severity: 'critical',
        reason: expect.stringMatching(/2 s time limit/),
      }),
    ]);
    expect(await store.stat(keys.lease('test'))).toBeUndefined();
    expect((await keysUnder(store, 'test/')).filter((k) => k.endsWith('manifest.json'))).toEqual([]);
    expect(await listBackups(store, 'test', { includeIncomplete: false })).toEqual([]);
    // and the next run is not blocked by anything it left
    const next = await backupJob({ bus, logger }, { databaseUrl: db.url, store, env: 'test' });
    expect(next.status).toBe('completed');
  }, 60_000);

  it('backup.succeeded carries the duration and the limit; more than half of the limit used raises a warning', async () => {
    const store = openStore(`file://${tempDir()}`);
    const bus = new MemoryBus();
    // the run (the function's invocation) started 60 s into a 100 s limit before the backup itself began
    const late = startDeadline(100, { now: Date.now() - 60_000 });
    await backupJob({ bus, logger }, { databaseUrl: db.url, store, env: 'test', deadline: late });
    late.dispose();
    const [succeeded, alert] = bus.published.map((m) => m.event);
    expect(succeeded).toMatchObject({
      type: 'backup.succeeded',
      timeLimitSeconds: 100,
      durationMs: expect.any(Number),
    });
    expect(alert).toMatchObject({
      type: 'alert',
      severity: 'warning',
      status: 'firing',
      fingerprint: 'mt-ops/test/backup-time-limit',
      summary: expect.stringMatching(/6\d% of its 100 s time limit/),
    });

    const early = startDeadline(100);
    await backupJob({ bus, logger }, { databaseUrl: db.url, store, env: 'test', deadline: early });
    early.dispose();
    expect(bus.published.at(-1)!.event).toMatchObject({
      type: 'alert',
      status: 'resolved',
      fingerprint: 'mt-ops/test/backup-time-limit',
    });
  }, 60_000);
});
