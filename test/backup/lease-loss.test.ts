import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { openStore } from '../../shared/storage/open';
import { readLease } from '../../shared/storage/lease';
import { runBackup, type BackupProgress } from '../../shared/backup/run';
import { listBackups } from '../../shared/backup/catalog';
import { keys } from '../../shared/backup/layout';
import type { ObjectStore } from '../../shared/storage/types';

/**
 * A backup that loses its lease stops at once: the COPY is cut off, its connections are closed, no manifest is
 * written and what it wrote is removed, before anyone else could take the lease over.
 */
let db: TestDatabase;
let fake: FakeGcs;

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/** Sessions of this database that a backup opened (SnapshotSession sets the application name). */
async function backupSessions(): Promise<number> {
  const { rows } = await db.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'mt-ops backup' AND datname = current_database()`,
  );
  return Number(rows[0]!.n);
}

/** Polls until the server has seen every backup connection go (a cut-off backend ends within moments). */
async function expectNoBackupSessions(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await backupSessions()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(await backupSessions()).toBe(0);
}

beforeAll(async () => {
  db = await createTestDatabase('mt_lease_loss');
  // big enough that its COPY is still running when the lease is found lost (a few hundred ms in)
  await db.query(`CREATE TABLE public.big (id bigint PRIMARY KEY, payload text);
                  INSERT INTO public.big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 250000) g;
                  CREATE TABLE public.small (id int PRIMARY KEY); INSERT INTO public.small VALUES (1), (2)`);
  fake = await startFakeGcs();
});

afterAll(async () => {
  await fake?.close();
});

describe('a backup that loses its lease stops at once', () => {
  it('stolen lease: the COPY is cut off, no manifest, nothing left, connections closed, the thief keeps the lease', async () => {
    // the data objects' uploads never complete (the fake GCS takes no resumable upload data), so no table can finish
    // whatever the machine's speed; the lease object is a simple upload and still goes through
    const store = openStore('gs://stolen-bucket/backups', { gcsApiEndpoint: fake.url, gcsRetry: { maxRetries: 0 } });
    fake.stallUploads();
    const events: BackupProgress[] = [];
    const err = await runBackup({
      databaseUrl: db.url,
      store,
      env: 'prod',
      jobs: 2,
      leaseTtlMs: 900, // found at the first renewal (ttl/3), well before the big table's COPY can end
      onProgress: (p) => events.push(p),
      // another holder overwrites the lease object once the snapshot is taken
      afterSnapshot: async () => {
        const doc = (await store.readJson(keys.lease('prod')))!;
        const expiresAt = new Date(Date.now() + 60_000).toISOString();
        await store.writeJson(
          keys.lease('prod'),
          { holder: 'other-host:4242:abcdef', acquiredAt: new Date().toISOString(), expiresAt },
          { ifGeneration: doc.generation },
        );
      },
    }).then(
      () => undefined,
      (e: Error) => e,
    );
    fake.stallUploads(false);
    // found at the next renewal (or, on a machine too loaded to renew in time, by the deadline ttl/4 before expiry)
    expect(err?.message).toMatch(
      /backup stopped: lease prod\/\.lease\/backup\.json (was lost to another holder|expires at .* and could not be renewed .*); no manifest was written/,
    );
    // the big table never finished: its COPY was cut off, not read to the end
    expect(events.some((e) => e.phase === 'table' && e.table === 'public.big' && e.done)).toBe(false);
    expect(events.some((e) => e.phase === 'finished')).toBe(false);
    expect(await keysUnder(store, 'prod/2')).toEqual([]);
    expect(await listBackups(store, 'prod', { includeIncomplete: true })).toEqual([]);
    await expectNoBackupSessions();
    // the lease is the thief's: not released, not overwritten
    expect((await readLease(store, keys.lease('prod')))?.holder).toBe('other-host:4242:abcdef');
  });

  it('a lease that cannot be renewed (store failing): stops before the lease expires, so no second backup overlaps it', async () => {
    const store = openStore('gs://lease-bucket/backups', { gcsApiEndpoint: fake.url, gcsRetry: { maxRetries: 0 } });
    let lastWork = 0;
    let leaseExpiry = 0;
    const err = await runBackup({
      databaseUrl: db.url,
      store,
      env: 'prod',
      leaseTtlMs: 3000,
      onProgress: () => (lastWork = Date.now()),
      afterSnapshot: async () => {
        leaseExpiry = (await readLease(store, keys.lease('prod')))!.expiresAt.getTime();
        // every write of the lease fails from now on: renewals, and the release
        fake.failNext({ method: 'POST', pathIncludes: 'prod/.lease/backup.json', count: 1_000_000, status: 503 });
        fake.failNext({ method: 'DELETE', pathIncludes: 'prod/.lease/backup.json', count: 1_000_000, status: 503 });
        // Hold the backup here until it gives up the lease (its connections close then), however fast the machine
        // would read the tables: the give-up deadline (ttl/4 before expiry) must be what stops it, not the data's size.
        const deadline = Date.now() + 10_000;
        while ((await backupSessions()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      },
    }).then(
      () => undefined,
      (e: Error) => e,
    );
    fake.clearFailures();
    expect(err?.message).toMatch(
      /backup stopped: lease prod\/\.lease\/backup\.json expires at .* and could not be renewed \(storage write of prod\/\.lease\/backup\.json failed: injected failure\)/,
    );
    const lease = (await readLease(store, keys.lease('prod')))!;
    // The last lease written is the one in force: the backup did no work past its expiry (when another may take over).
    expect(lease.expiresAt.getTime()).toBeGreaterThanOrEqual(leaseExpiry);
    expect(lastWork).toBeLessThan(lease.expiresAt.getTime());
    expect(fake.objectNames('lease-bucket').filter((n) => !n.includes('.lease/'))).toEqual([]);
    await expectNoBackupSessions();
    // once it has expired, the next backup runs
    await new Promise((r) => setTimeout(r, Math.max(0, lease.expiresAt.getTime() - Date.now()) + 100));
    const next = await runBackup({ databaseUrl: db.url, store, env: 'prod', scope: { excludeTables: ['public.big'] } });
    expect(next.status).toBe('completed');
  });
});
