/**
 * The benchmark dataset's table names do not sort in foreign-key order, so the restore benchmark's plain
 * `pg_restore --data-only` of a full `pg_dump -Fc` archive fails while its anchor (`--disable-triggers
 * --single-transaction`) loads: the difference README's restore row is about.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { findPostgresBinDir } from '../support/postgres-server';
import { tempDir } from '../support/temp';
import { DATASET_TABLES, createDataset } from '../../bench/support';

const BIN = findPostgresBinDir();
let db: TestDatabase;
let target: string;
let archive: string;

function run(tool: string, args: string[]) {
  return spawnSync(join(BIN!, tool), args, { encoding: 'utf8' });
}

beforeAll(async () => {
  if (!BIN) return;
  db = await createTestDatabase('mt_bench_ds');
  await createDataset(db.url, 0.001);
  target = await db.createDatabase('mt_bench_ds_dst');
  const schema = run('pg_dump', ['--schema-only', '-n', 'bench', db.url]);
  expect(schema.status, schema.stderr).toBe(0);
  const load = spawnSync(join(BIN, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', target], {
    input: schema.stdout,
    encoding: 'utf8',
  });
  expect(load.status, load.stderr).toBe(0);
  archive = join(tempDir(), 'bench.fc');
  const dump = run('pg_dump', ['-Fc', '-n', 'bench', '-f', archive, db.url]);
  expect(dump.status, dump.stderr).toBe(0);
});

describe.skipIf(!BIN)('bench dataset (PostgreSQL client tools needed)', () => {
  it('has a foreign key whose table sorts before the table it references', async () => {
    const { rows } = await db.query(
      `SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent FROM pg_constraint WHERE contype = 'f' AND connamespace = 'bench'::regnamespace`,
    );
    expect(rows.length).toBe(4);
    expect(rows.filter((r: { child: string; parent: string }) => r.child < r.parent).length).toBeGreaterThan(0);
    expect([...DATASET_TABLES].sort()).toEqual(DATASET_TABLES);
  });

  it('plain pg_restore --data-only of a full archive breaks a foreign key; the anchor loads every row', async () => {
    const plain = run('pg_restore', ['--data-only', '-Fc', '-d', target, archive]);
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toMatch(/violates foreign key constraint/);
    const { Client } = await import('pg');
    const c = new Client({ connectionString: target });
    await c.connect();
    try {
      await c.query(`TRUNCATE ${DATASET_TABLES.join(', ')}`);
      const anchor = run('pg_restore', [
        '--data-only',
        '-Fc',
        '--disable-triggers',
        '--single-transaction',
        '-d',
        target,
        archive,
      ]);
      expect(anchor.status, anchor.stderr).toBe(0);
      const counts = await c.query(
        `SELECT ${DATASET_TABLES.map((t) => `(SELECT count(*) FROM ${t})::int`).join(' + ')} AS n`,
      );
      expect(counts.rows[0].n).toBe(1000);
    } finally {
      await c.end();
    }
  });
});
