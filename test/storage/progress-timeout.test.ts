/**
 * The storage progress timeout from the operator file (`storage.progressTimeoutSeconds`), through the real CLI against
 * the GCS fake: a server that stops answering mid-upload or mid-download fails the command with one line, in bounded
 * time, leaving nothing behind (no objects, no verify record, the target unchanged) and the lease released.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';
import { openStore } from '../../shared/storage/open';
import { readLease } from '../../shared/storage/lease';
import { runBackup } from '../../shared/backup/run';
import { keys } from '../../shared/backup/layout';
import { loadConfig } from '../../shared/config/load';

let db: TestDatabase;
let fake: FakeGcs;
let env: Record<string, string>;
let target: string;
const BUCKET = 'gs://progress-bucket/p';

beforeAll(async () => {
  db = await createTestDatabase('mt_progress_timeout');
  await db.query(
    `CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t SELECT g, md5(g::text) FROM generate_series(1, 20000) g`,
  );
  target = await db.createDatabase('mt_progress_timeout_t');
  const c = new pg.Client({ connectionString: target });
  await c.connect();
  await c.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t VALUES (7, 'target row')`);
  await c.end();
  fake = await startFakeGcs();
  const config = join(tempDir('mt-progress-config-'), 'ops.yaml');
  writeFileSync(config, 'storage:\n  progressTimeoutSeconds: 1\n');
  env = {
    BACKUP_BUCKET: BUCKET,
    OPS_ENV: 'prod',
    OPS_CONFIG: config,
    GCS_API_ENDPOINT: fake.url,
    DATABASE_URL: db.url,
  };
});

afterAll(async () => {
  await fake?.close();
});

const store = () => openStore(BUCKET, { gcsApiEndpoint: fake.url });

describe('storage.progressTimeoutSeconds', () => {
  it('is read from the operator file (default 60) and refused when not a positive whole number', () => {
    expect(loadConfig({ OPS_CONFIG: '' }).file.storage.progressTimeoutSeconds).toBe(60);
    expect(loadConfig({ OPS_CONFIG: env.OPS_CONFIG }).file.storage.progressTimeoutSeconds).toBe(1);
    const bad = join(tempDir('mt-progress-bad-'), 'ops.yaml');
    writeFileSync(bad, 'storage:\n  progressTimeoutSeconds: 0\n');
    expect(() => loadConfig({ OPS_CONFIG: bad })).toThrow(/storage\.progressTimeoutSeconds/);
  });

  it('a stalled upload fails `mt-ops backup` with one line; nothing is left in the bucket, the lease is released', async () => {
    fake.stallUploads();
    let r;
    try {
      r = await runCli(['backup', '--no-progress'], { env });
    } finally {
      fake.stallUploads(false);
    }
    expect(r.signal).toBeNull(); // ended by itself, not by the test's kill
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /^mt-ops: .*storage upload of prod\/\S+\/data\/0001\.copy\.gz stalled: the server took no bytes and did not answer for 1 s\n$/,
    );
    expect(fake.objectNames('progress-bucket')).toEqual([]);
    expect(await readLease(store(), keys.lease('prod'))).toBeUndefined();
  });

  it('a stalled download fails `mt-ops verify` with one line and records nothing against the backup; restore leaves the target unchanged', async () => {
    const result = await runBackup({ databaseUrl: db.url, store: store(), env: 'prod' });
    if (result.status !== 'completed') throw new Error(result.status);
    const id = result.manifest.id;
    const before = fake.objectNames('progress-bucket');
    fake.stallDownloads({ nameIncludes: '/data/' });
    try {
      const verify = await runCli(['verify', id, '--no-progress'], { env });
      expect(verify.signal).toBeNull();
      expect(verify.code, verify.stderr).toBe(1);
      expect(verify.stderr).toBe(
        `mt-ops: storage read of prod/${id}/data/0001.copy.gz stalled: the server sent no bytes and did not answer for 1 s\n`,
      );
      expect(await store().stat(keys.verify('prod', id))).toBeUndefined();

      const restore = await runCli(
        ['restore', id, '--database-url', target, '--yes', '--no-safety-backup', '--no-progress'],
        { env },
      );
      expect(restore.signal).toBeNull();
      expect(restore.code, restore.stderr).toBe(1);
      expect(restore.stderr).toContain(
        `storage read of prod/${id}/data/0001.copy.gz stalled: the server sent no bytes and did not answer for 1 s`,
      );
    } finally {
      fake.stallDownloads(false);
    }
    expect(fake.objectNames('progress-bucket')).toEqual(before);
    const c = new pg.Client({ connectionString: target });
    await c.connect();
    const { rows } = await c.query('SELECT id, v FROM public.t ORDER BY id');
    await c.end();
    expect(rows).toEqual([{ id: 7, v: 'target row' }]);
  });
});
