/**
 * Issue 9, item 23: a legacy file's key as `list` shows it is a restore source (streamed from the bucket, at the
 * root or under <env>/), and `--tables` naming a table that is not in the backup is bad input (exit 2).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { fixturePath } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';
import { openStore } from '../../shared/storage/open';
import { snapshotOf, exec } from './helpers';

const LEGACY_SCHEMA = `CREATE TYPE match_status AS ENUM ('scheduled', 'completed');
  CREATE TABLE age_groups (id int PRIMARY KEY, name text, created_at timestamptz, updated_at timestamptz);
  CREATE TABLE seasons (id int PRIMARY KEY, name text, start_date date, end_date date, created_at timestamptz);
  CREATE TABLE clubs (id int PRIMARY KEY, name text, city text, website text, logo_url text, is_active boolean);
  CREATE TABLE teams (id int PRIMARY KEY, name text, club_id int REFERENCES clubs, age_group_id int, division_id int, academy_team boolean, aliases text[]);
  CREATE TABLE matches (id int PRIMARY KEY, home_team_id int REFERENCES teams, away_team_id int, match_date date, season_id int, age_group_id int,
                        home_score int, away_score int, match_status match_status, created_by uuid, details jsonb, created_at timestamptz);
  CREATE TABLE tournament_age_groups (tournament_id int, age_group_id int);
  CREATE TABLE login_events (id int PRIMARY KEY);`;

let db: TestDatabase;
let env: Record<string, string>;
let cwd: string;

beforeAll(async () => {
  db = await createTestDatabase('mt_legacy_key');
  const dir = tempDir('mt-legacy-key-');
  const store = openStore(`file://${dir}`);
  const json = readFileSync(fixturePath('database_backup_20260420_030001.json'));
  await store.put('database_backup_20260420_030001.json.gz', gzipSync(json));
  await store.put('lkey/database_backup_20260421_030001.json', json);
  env = { BACKUP_BUCKET: `file://${dir}`, OPS_ENV: 'lkey', OPS_CONFIG: '' };
  cwd = tempDir('mt-legacy-cwd-'); // no local file of that name here
});

describe('legacy files in the bucket', () => {
  it('restore accepts a legacy key exactly as list shows it, at the root or under <env>/, streamed from the store', async () => {
    const listed = JSON.parse((await runCli(['list', '--json'], { env, cwd })).stdout) as Array<{
      id: string;
      kind: string;
    }>;
    const ids = listed.filter((e) => e.kind === 'legacy').map((e) => e.id);
    expect(ids.sort()).toEqual([
      'database_backup_20260420_030001.json.gz',
      'lkey/database_backup_20260421_030001.json',
    ]);
    for (const id of [...ids, 'database_backup_20260421_030001.json']) {
      const url = await db.createDatabase('mt_legacy_key_t');
      await exec(url, LEGACY_SCHEMA);
      const r = await runCli(['restore', id, '--database-url', url, '--no-safety-backup', '--no-progress'], {
        env,
        cwd,
      });
      expect(r.code, `${id}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/restored 7 tables, 8 rows/);
    }
  });

  it('a legacy name that is in neither the bucket nor the folder: exit 2 saying where it looked', async () => {
    const url = await db.createDatabase('mt_legacy_key_n');
    const r = await runCli(
      [
        'restore',
        'database_backup_20200101_000000.json.gz',
        '--database-url',
        url,
        '--no-safety-backup',
        '--no-progress',
      ],
      { env, cwd },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /no legacy backup database_backup_20200101_000000\.json\.gz .*lkey\/database_backup_20200101_000000\.json\.gz/,
    );
  });

  it('--tables naming a table that is not in the backup is bad input: exit 2, nothing changed', async () => {
    const url = await db.createDatabase('mt_legacy_key_x');
    await exec(url, `${LEGACY_SCHEMA} INSERT INTO clubs (id, name) VALUES (99, 'mine');`);
    const before = await snapshotOf(url);
    for (const extra of [[], ['--dry-run']]) {
      const r = await runCli(
        [
          'restore',
          fixturePath('database_backup_20260420_030001.json'),
          '--database-url',
          url,
          '--tables',
          'public.nope',
          '--yes',
          '--no-progress',
          ...extra,
        ],
        { env, cwd },
      );
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('--tables: public.nope is not in the backup');
    }
    expect(await snapshotOf(url)).toEqual(before);
  });
});
