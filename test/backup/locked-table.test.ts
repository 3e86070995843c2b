import { describe, it, expect, beforeAll } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';

/** A table another session holds ACCESS EXCLUSIVE on: the backup fails after its lock timeout, naming table and holder. */
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('mt_locked_table');
  await db.query(
    `CREATE TABLE public.free (id int PRIMARY KEY); CREATE TABLE public.held (id int PRIMARY KEY); INSERT INTO public.held VALUES (1)`,
  );
});

describe('a locked source table', () => {
  it('fails the backup naming the table and the session holding the lock (pid, application, state)', async () => {
    const locker = new pg.Client({ connectionString: db.url, application_name: 'locker' });
    await locker.connect();
    try {
      await locker.query('BEGIN; LOCK TABLE public.held IN ACCESS EXCLUSIVE MODE');
      const pid = (locker as unknown as { processID: number }).processID;
      const store = openStore(`file://${tempDir()}`);
      const err = await runBackup({ databaseUrl: db.url, store, env: 'test', lockTimeoutSeconds: 1 }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toBe(
        `backup failed: canceling statement due to lock timeout: public.held is locked by pid ${pid} (application "locker", state "idle in transaction", AccessExclusiveLock)`,
      );
    } finally {
      await locker.end();
    }
  });

  it('names a session queued ahead for ACCESS EXCLUSIVE (an ALTER TABLE waiting on a reader), and whom it waits for', async () => {
    const reader = new pg.Client({ connectionString: db.url, application_name: 'reader' });
    const alter = new pg.Client({ connectionString: db.url, application_name: 'alter' });
    await reader.connect();
    await alter.connect();
    alter.on('error', () => {});
    try {
      await reader.query('BEGIN; SELECT count(*) FROM public.held');
      const readerPid = (reader as unknown as { processID: number }).processID;
      const alterPid = (alter as unknown as { processID: number }).processID;
      const altered = alter.query('ALTER TABLE public.held ADD COLUMN extra int').catch((e: Error) => e);
      // handshake: the ALTER is queued on the lock before the backup starts
      for (;;) {
        const { rows } = await db.query(`SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted`, [alterPid]);
        if (rows.length > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const store = openStore(`file://${tempDir()}`);
      const err = await runBackup({ databaseUrl: db.url, store, env: 'test', lockTimeoutSeconds: 1 }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toBe(
        `backup failed: canceling statement due to lock timeout: public.held is awaited by pid ${alterPid} (application "alter", state "active", AccessExclusiveLock, queued ahead, itself waiting for pid ${readerPid})`,
      );
      await reader.query('ROLLBACK');
      expect(await altered).not.toBeInstanceOf(Error);
      await db.query('ALTER TABLE public.held DROP COLUMN extra');
    } finally {
      await reader.end();
      await alter.end();
    }
  });
});
