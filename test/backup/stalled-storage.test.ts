import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { openStore } from '../../shared/storage/open';
import { readLease } from '../../shared/storage/lease';
import { runBackup } from '../../shared/backup/run';
import { keys } from '../../shared/backup/layout';

/** A storage server that accepts a resumable upload and then stops answering fails the backup; it never hangs. */
let db: TestDatabase;
let fake: FakeGcs;

beforeAll(async () => {
  db = await createTestDatabase('mt_stalled_storage');
  await db.query(
    `CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, md5(g::text) FROM generate_series(1, 5000) g`,
  );
  fake = await startFakeGcs();
});

afterAll(async () => {
  await fake?.close();
});

describe('a stalled upload', () => {
  it('fails the backup after the progress timeout, removes what was written, releases the lease, closes the connections', async () => {
    const store = openStore('gs://stall-bucket/b', {
      gcsApiEndpoint: fake.url,
      gcsRetry: { maxRetries: 0 },
      progressTimeoutSeconds: 1,
    });
    fake.stallUploads();
    try {
      const err = await runBackup({ databaseUrl: db.url, store, env: 'prod' }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(
        /table public\.t \(storage\): storage upload of prod\/.*\/data\/0001\.copy\.gz stalled: the server took no bytes and did not answer for 1 s/,
      );
    } finally {
      fake.stallUploads(false);
    }
    expect(await readLease(store, keys.lease('prod'))).toBeUndefined();
    expect(fake.objectNames('stall-bucket')).toEqual([]);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'mt-ops backup' AND datname = current_database()`,
    );
    await c.end();
    expect(rows[0].n).toBe(0);
    // the same store works again once the server answers
    expect((await runBackup({ databaseUrl: db.url, store, env: 'prod' })).status).toBe('completed');
  });

  it('a stop (Ctrl-C, a shutdown) during a stalled upload stops the backup at once, not after the progress timeout', async () => {
    const store = openStore('gs://stall-bucket/c', {
      gcsApiEndpoint: fake.url,
      gcsRetry: { maxRetries: 0 },
      progressTimeoutSeconds: 600,
    });
    const stop = new AbortController();
    fake.stallUploads();
    try {
      const seen = fake.requests.length;
      const running = runBackup({ databaseUrl: db.url, store, env: 'prod', signal: stop.signal }).then(
        () => undefined,
        (e: Error) => e,
      );
      // handshake: the table's data is on its way to a server that takes none of it
      while (!fake.requests.slice(seen).some((r) => r.method === 'PUT' && r.path.includes('upload_id=')))
        await new Promise((r) => setTimeout(r, 20));
      stop.abort(new Error('stopped by the test'));
      expect((await running)?.message).toBe('stopped by the test');
    } finally {
      fake.stallUploads(false);
    }
    expect(await readLease(store, keys.lease('prod'))).toBeUndefined();
    expect(fake.objectNames('stall-bucket').filter((n) => n.startsWith('c/'))).toEqual([]);
  });
});
