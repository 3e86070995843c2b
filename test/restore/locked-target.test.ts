import { describe, it, expect, beforeAll } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';

/** A target table held ACCESS EXCLUSIVE by another session: restore (and --dry-run) stops after --lock-timeout, naming it. */
let db: TestDatabase;
let target: string;
let id: string;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase('mt_locked_target');
  await db.query(
    `CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t VALUES (1, 'backed up'), (2, 'backed up')`,
  );
  const bucket = tempDir('mt-locked-bucket-');
  const result = await runBackup({ databaseUrl: db.url, store: openStore(`file://${bucket}`), env: 'lk' });
  if (result.status !== 'completed') throw new Error('no backup');
  id = result.manifest.id;
  env = { BACKUP_BUCKET: `file://${bucket}`, OPS_ENV: 'lk' };
  target = await db.createDatabase('mt_locked_target_t');
  const c = new pg.Client({ connectionString: target });
  await c.connect();
  await c.query(`CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t VALUES (7, 'target row')`);
  await c.end();
});

describe('a locked target table', () => {
  it('restore --dry-run and restore stop after --lock-timeout naming the table and the holder; the target is unchanged', async () => {
    const locker = new pg.Client({ connectionString: target, application_name: 'locker' });
    await locker.connect();
    try {
      await locker.query('BEGIN; LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE');
      const pid = (locker as unknown as { processID: number }).processID;
      const holder = `public.t is locked by pid ${pid} (application "locker", state "idle in transaction", AccessExclusiveLock)`;
      for (const args of [['--dry-run'], ['--yes', '--no-safety-backup']]) {
        const r = await runCli(
          ['restore', id, '--database-url', target, '--lock-timeout', '1', '--no-progress', ...args],
          { env },
        );
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toBe(
          `mt-ops: restore stopped: a table stayed locked for 1 s (--lock-timeout): ${holder}; the target is unchanged\n`,
        );
      }
    } finally {
      await locker.end();
    }
    const c = new pg.Client({ connectionString: target });
    await c.connect();
    const { rows } = await c.query('SELECT id, v FROM public.t ORDER BY id');
    await c.end();
    expect(rows).toEqual([{ id: 7, v: 'target row' }]);
  });

  it('names the session whose weaker lock (SHARE ROW EXCLUSIVE) blocks the TRUNCATE, and not one holding a lock on another table', async () => {
    const locker = new pg.Client({ connectionString: target, application_name: 'share-row-locker' });
    const bystander = new pg.Client({ connectionString: target, application_name: 'bystander' });
    await locker.connect();
    await bystander.connect();
    try {
      await bystander.query('CREATE TABLE IF NOT EXISTS public.other (id int)');
      await bystander.query('BEGIN; LOCK TABLE public.other IN ACCESS SHARE MODE');
      // preflight reads public.t (ACCESS SHARE: no conflict); only the TRUNCATE waits
      await locker.query('BEGIN; LOCK TABLE public.t IN SHARE ROW EXCLUSIVE MODE');
      const pid = (locker as unknown as { processID: number }).processID;
      const r = await runCli(
        [
          'restore',
          id,
          '--database-url',
          target,
          '--lock-timeout',
          '1',
          '--no-progress',
          '--yes',
          '--no-safety-backup',
        ],
        { env },
      );
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toBe(
        `mt-ops: restore stopped: a table stayed locked for 1 s (--lock-timeout): public.t is locked by pid ${pid} (application "share-row-locker", state "idle in transaction", ShareRowExclusiveLock); the target is unchanged\n`,
      );
    } finally {
      await locker.end();
      await bystander.end();
    }
    const c = new pg.Client({ connectionString: target });
    await c.connect();
    const { rows } = await c.query('SELECT id, v FROM public.t ORDER BY id');
    await c.query('DROP TABLE public.other');
    await c.end();
    expect(rows).toEqual([{ id: 7, v: 'target row' }]);
  });
});
