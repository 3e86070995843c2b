/** Backups into a GCS bucket (the protocol fake), including storage that fails at the Nth write. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema, AWKWARD_ROWS } from '../support/fixtures';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import { verifyBackup } from '../../shared/backup/verify';
import { listBackups } from '../../shared/backup/catalog';

let db: TestDatabase;
let fake: FakeGcs;
const open = () =>
  openStore('gs://mt-backups/missing-table', {
    gcsApiEndpoint: fake.url,
    gcsRetry: { maxRetries: 1, maxDelaySeconds: 1 },
  });

beforeAll(async () => {
  db = await createTestDatabase('mt_gcs');
  await loadAwkwardSchema(db);
  fake = await startFakeGcs();
});
afterAll(() => fake.close());

describe('backup to GCS', () => {
  it('writes every table and the manifest under the prefix, and verifies', async () => {
    const store = open();
    const result = await runBackup({ databaseUrl: db.url, store, env: 'prod', jobs: 2 });
    if (result.status !== 'completed') throw new Error(result.status);
    const names = fake.objectNames('mt-backups');
    expect(names.every((n) => n.startsWith('missing-table/prod/'))).toBe(true);
    expect(names.filter((n) => n.endsWith('.copy.gz'))).toHaveLength(Object.keys(AWKWARD_ROWS).length);
    expect(names).toContain(`missing-table/prod/${result.manifest.id}/manifest.json`);
    expect((await verifyBackup(store, result.manifest)).ok).toBe(true);
  });

  it('storage failing at the Nth write fails the whole backup, naming the table; nothing incomplete is listed', async () => {
    const store = open();
    const before = (await listBackups(store, 'prod')).length;
    // the 3rd upload of table data (and its retries) fail
    fake.failNext({ method: 'POST', pathIncludes: '.copy.gz', afterN: 2, count: 50, status: 503 });
    const err = await runBackup({ databaseUrl: db.url, store, env: 'prod', jobs: 1 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^table [^ ]+\.[^ ]+ \(storage\): /);
    const after = await listBackups(store, 'prod', { includeIncomplete: true });
    expect(after.filter((e) => e.kind === 'complete')).toHaveLength(before);
    // partial objects were removed (best effort), so not even an incomplete entry remains
    expect(after).toHaveLength(before);
    // and the next backup, with storage healthy again, succeeds
    fake.clearFailures();
    const next = await runBackup({ databaseUrl: db.url, store, env: 'prod' });
    expect(next.status).toBe('completed');
  });

  it('a corrupted object in the bucket is caught by verify', async () => {
    const store = open();
    const result = await runBackup({ databaseUrl: db.url, store, env: 'corrupt' });
    if (result.status !== 'completed') throw new Error(result.status);
    const victim = result.manifest.tables.find((t) => t.name === 'everything')!;
    fake.corrupt('mt-backups', `missing-table/corrupt/${result.manifest.id}/${victim.object}`);
    const record = await verifyBackup(store, result.manifest);
    expect(record.ok).toBe(false);
    expect(record.problems.join('\n')).toMatch(/public\.everything/);
  });
});
