import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import { backupJob } from '../../shared/backup/job';
import { MemoryBus } from '../../shared/bus/memory-bus';
import { createLogger } from '../../shared/log/logger';
import { verifyBackup } from '../../shared/backup/verify';
import { keys } from '../../shared/backup/layout';
import { acquireLease } from '../../shared/storage/lease';
import type { ObjectStore } from '../../shared/storage/types';

let db: TestDatabase;
const role = `mt_limited_${randomBytes(4).toString('hex')}`;

function limitedUrl(): string {
  const u = new URL(db.url);
  u.username = role;
  u.password = 'not-a-real-secret-9137';
  return u.toString();
}

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

beforeAll(async () => {
  db = await createTestDatabase('mt_faults');
  await loadAwkwardSchema(db);
  await db.query(`CREATE ROLE ${role} LOGIN PASSWORD 'not-a-real-secret-9137'`);
  await db.query(`GRANT USAGE ON SCHEMA public, league, "Stats Schema" TO ${role}`);
  await db.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public, league, "Stats Schema" TO ${role}`);
  await db.query(`GRANT SELECT ON ALL SEQUENCES IN SCHEMA public, league, "Stats Schema" TO ${role}`);
});

afterAll(async () => {
  await db.query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`).catch(() => {});
});

describe('a table the backup cannot read fails the whole backup, by name', () => {
  it('no SELECT privilege', async () => {
    await db.query(`REVOKE SELECT ON league.matches FROM ${role}`);
    const store = openStore(`file://${tempDir()}`);
    try {
      await expect(runBackup({ databaseUrl: limitedUrl(), store, env: 'test' })).rejects.toThrow(
        /league\.matches.*permission denied/,
      );
      // through the service, the backup.failed event names the table (critical)
      const bus = new MemoryBus();
      await expect(
        backupJob(
          { bus, logger: createLogger({ level: 'silent' }) },
          { databaseUrl: limitedUrl(), store, env: 'test' },
        ),
      ).rejects.toThrow();
      expect(bus.published.map((m) => m.event)).toEqual([
        expect.objectContaining({ type: 'backup.failed', severity: 'critical', table: 'league.matches' }),
      ]);
      // nothing incomplete is left behind, and no manifest exists
      expect(await keysUnder(store, 'test/2')).toEqual([]);
    } finally {
      await db.query(`GRANT SELECT ON league.matches TO ${role}`);
    }
  });

  it('row-level security that would hide rows is an error, not a quietly smaller table', async () => {
    const store = openStore(`file://${tempDir()}`);
    const err = await runBackup({ databaseUrl: limitedUrl(), store, env: 'test', jobs: 2 }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/public\.private_notes.*row-level security/);
    expect((err as Error).message).not.toContain('not-a-real-secret-9137');
    expect(await keysUnder(store, 'test/2')).toEqual([]);
  });

  it('an unreachable database is a clear error without the password', async () => {
    const store = openStore(`file://${tempDir()}`);
    const err = await runBackup({
      databaseUrl: 'postgres://someone:hunter2-secret@127.0.0.1:1/nowhere',
      store,
      env: 'test',
    }).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/cannot connect to the database/);
    expect((err as Error).message).not.toContain('hunter2-secret');
  });
});

describe('lease and redelivery', () => {
  it('two concurrent backups of one environment: exactly one runs', async () => {
    const store = openStore(`file://${tempDir()}`);
    const results = await Promise.all([
      runBackup({ databaseUrl: db.url, store, env: 'prod' }),
      runBackup({ databaseUrl: db.url, store, env: 'prod' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['busy', 'completed']);
    const manifests = (await keysUnder(store, 'prod/')).filter((k) => k.endsWith('manifest.json'));
    expect(manifests).toHaveLength(1);
    // the lease was released: the next backup runs
    expect((await runBackup({ databaseUrl: db.url, store, env: 'prod' })).status).toBe('completed');
  });

  it('a live lease from a dead run blocks until it expires, then the next backup succeeds', async () => {
    const store = openStore(`file://${tempDir()}`);
    await acquireLease(store, keys.lease('prod'), { ttlMs: 1500, holder: 'killed-run' });
    const busy = await runBackup({ databaseUrl: db.url, store, env: 'prod' });
    expect(busy).toMatchObject({ status: 'busy', holder: 'killed-run' });
    await new Promise((r) => setTimeout(r, 1600));
    expect((await runBackup({ databaseUrl: db.url, store, env: 'prod' })).status).toBe('completed');
  });

  it('a redelivered trigger whose message already produced a complete backup does nothing', async () => {
    const store = openStore(`file://${tempDir()}`);
    const first = await runBackup({
      databaseUrl: db.url,
      store,
      env: 'prod',
      trigger: { kind: 'scheduled', messageId: 'msg-42' },
    });
    expect(first.status).toBe('completed');
    const again = await runBackup({
      databaseUrl: db.url,
      store,
      env: 'prod',
      trigger: { kind: 'scheduled', messageId: 'msg-42' },
    });
    expect(again).toEqual({
      status: 'duplicate',
      backupId: first.status === 'completed' ? first.manifest.id : '',
      messageId: 'msg-42',
    });
    const manifests = (await keysUnder(store, 'prod/')).filter((k) => k.endsWith('manifest.json'));
    expect(manifests).toHaveLength(1);
  });
});

describe('verify detects damage', () => {
  it('a corrupted object fails verification with a precise report, and the result is recorded', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    const result = await runBackup({ databaseUrl: db.url, store, env: 'test' });
    if (result.status !== 'completed') throw new Error('backup did not complete');
    const m = result.manifest;
    const victim = m.tables.find((t) => t.name === 'teams')!;
    const file = join(root, keys.backupPrefix('test', m.id), victim.object);
    const bytes = readFileSync(file);
    bytes[bytes.length - 12] = bytes[bytes.length - 12]! ^ 0xff; // inside the gzip body/trailer
    writeFileSync(file, bytes);
    const record = await verifyBackup(store, m);
    expect(record.ok).toBe(false);
    expect(record.problems.some((p) => p.startsWith('league.teams: sha256'))).toBe(true);
    expect(record.problems.every((p) => p.startsWith('league.teams'))).toBe(true);
    expect((await store.readJson(keys.verify('test', m.id)))?.value).toMatchObject({ ok: false });
  });

  it('a missing object fails verification', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    const result = await runBackup({ databaseUrl: db.url, store, env: 'test' });
    if (result.status !== 'completed') throw new Error('backup did not complete');
    const victim = result.manifest.tables[0]!;
    await store.delete(`${keys.backupPrefix('test', result.manifest.id)}${victim.object}`);
    const record = await verifyBackup(store, result.manifest, { record: false });
    expect(record.ok).toBe(false);
    // reported once (it was three problems: cannot read, size 0, sha256 of nothing)
    expect(record.problems).toEqual([`${victim.schema}.${victim.name}: ${victim.object} is missing from the backup`]);
    expect(readdirSync(root)).toContain('test');
  });
});
