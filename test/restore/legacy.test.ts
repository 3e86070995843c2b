import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { fixturePath } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import { UsageError } from '../../shared/errors';
import { restore, type RestoreOptions, legacySource } from '../../shared/restore/restore';
import { exportLegacy } from '../../shared/restore/legacy-export';
import { scanLegacy } from '../../shared/restore/legacy-reader';
import { snapshotOf, exec, withClient } from './helpers';

/** The app's tables as far as the sample uses them (a matching schema). */
const SCHEMA = `
  CREATE TYPE match_status AS ENUM ('scheduled', 'completed', 'postponed');
  CREATE TABLE age_groups (id serial PRIMARY KEY, name text NOT NULL, created_at timestamptz DEFAULT now(), updated_at timestamptz);
  CREATE TABLE seasons (id serial PRIMARY KEY, name text NOT NULL, start_date date, end_date date, created_at timestamptz);
  CREATE TABLE clubs (id serial PRIMARY KEY, name text NOT NULL, city text, website text, logo_url text, is_active boolean DEFAULT true);
  CREATE TABLE teams (id serial PRIMARY KEY, name text NOT NULL, club_id int REFERENCES clubs (id), age_group_id int REFERENCES age_groups (id),
                      division_id int, academy_team boolean, aliases text[]);
  CREATE TABLE matches (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, home_team_id int REFERENCES teams (id), away_team_id int REFERENCES teams (id),
                        match_date date, season_id int REFERENCES seasons (id), age_group_id int REFERENCES age_groups (id),
                        home_score int, away_score int, match_status match_status, created_by uuid, details jsonb, created_at timestamptz,
                        goal_diff int GENERATED ALWAYS AS (home_score - away_score) STORED);
  CREATE TABLE tournament_age_groups (tournament_id int NOT NULL, age_group_id int REFERENCES age_groups (id), PRIMARY KEY (tournament_id, age_group_id));
  CREATE TABLE login_events (id bigserial PRIMARY KEY, user_id uuid, at timestamptz);
  CREATE SCHEMA auth;
  CREATE TABLE auth.users (id uuid PRIMARY KEY, email text, role text, email_confirmed_at timestamptz, created_at timestamptz,
                           last_sign_in_at timestamptz, raw_user_meta_data jsonb, encrypted_password text);`;

let db: TestDatabase;
const sample = fixturePath('database_backup_20260420_030001.json');

async function target(extra = ''): Promise<string> {
  const url = await db.createDatabase('mt_legacy_t');
  await exec(url, SCHEMA + extra);
  return url;
}

const legacy = (url: string, path: string, more: Partial<RestoreOptions> = {}): RestoreOptions => ({
  databaseUrl: url,
  source: legacySource({ path }),
  yes: true,
  safetyBackup: false,
  ...more,
});

beforeAll(async () => {
  db = await createTestDatabase('mt_legacy');
});

describe('legacy JSON restore', () => {
  it('restores the sample into a matching schema: values converted by PostgreSQL, sequences from max(id), auth_users skipped', async () => {
    const url = await target(
      `INSERT INTO clubs (name) VALUES ('Old club'); INSERT INTO login_events (user_id) VALUES (NULL);`,
    );
    const result = await restore(legacy(url, sample));
    expect(Object.fromEntries(result.tables.map((t) => [t.table, t.rows]))).toEqual({
      'public.age_groups': 2,
      'public.seasons': 1,
      'public.clubs': 1,
      'public.teams': 1,
      'public.matches': 2,
      'public.tournament_age_groups': 1,
      'public.login_events': 0,
    });
    expect(result.plan.preflight.order.order.indexOf('public.clubs')).toBeLessThan(
      result.plan.preflight.order.order.indexOf('public.teams'),
    );
    expect(result.plan.notes.join('\n')).toMatch(/auth_users: 1 row skipped/);
    expect(result.plan.notes.join('\n')).toMatch(/sequences are set from max\(id\)/);
    await withClient(url, async (c) => {
      const team = (await c.query('SELECT * FROM teams')).rows[0];
      expect(team).toMatchObject({
        id: 31,
        name: 'Riverside U13',
        club_id: 7,
        aliases: ['Riverside 13s', 'RFC U13'],
        division_id: null,
        academy_team: false,
      });
      const m = (
        await c.query(
          'SELECT id::int, match_status::text, details, created_by, goal_diff, created_at FROM matches ORDER BY id',
        )
      ).rows;
      expect(m[0]).toMatchObject({
        id: 1201,
        match_status: 'completed',
        details: { venue: 'Field 3', referee: 'A. Smith' },
        goal_diff: 1,
      });
      expect(m[1]).toMatchObject({ created_by: '3f2b6c1e-8a4d-4e0f-9b7a-2c5d1e9f0a11', goal_diff: null });
      expect((m[0].created_at as Date).toISOString()).toBe('2025-09-06T18:02:11.004Z');
      expect((await c.query('SELECT count(*)::int AS n FROM login_events')).rows[0].n).toBe(0);
      expect((await c.query('SELECT count(*)::int AS n FROM auth.users')).rows[0].n).toBe(0);
      const seq = (await c.query('SELECT last_value::text, is_called FROM teams_id_seq')).rows[0];
      expect(seq).toEqual({ last_value: '31', is_called: true });
      const ident = (await c.query('SELECT last_value::text FROM matches_id_seq')).rows[0];
      expect(ident.last_value).toBe('1202');
      const empty = (await c.query('SELECT last_value::text, is_called FROM login_events_id_seq')).rows[0];
      expect(empty).toEqual({ last_value: '1', is_called: false });
    });
  });

  it('reads .json.gz the same as .json', async () => {
    const dir = tempDir('mt-legacy-');
    const gz = join(dir, 'database_backup_20260420_030001.json.gz');
    writeFileSync(gz, gzipSync(readFileSync(sample)));
    const a = await target();
    const b = await target();
    await restore(legacy(a, sample));
    await restore(legacy(b, gz));
    expect(await snapshotOf(b)).toEqual(await snapshotOf(a));
  });

  it('--include-auth restores auth_users into the auth.users columns that exist', async () => {
    const url = await target();
    const result = await restore(legacy(url, sample, { source: legacySource({ path: sample, includeAuth: true }) }));
    expect(result.plan.notes.join('\n')).toMatch(
      /auth_users: keys with no auth.users column, not restored: user_metadata, app_metadata/,
    );
    const { rows } = await withClient(url, (c) => c.query('SELECT id, email, role FROM auth.users'));
    expect(rows).toEqual([
      { id: '3f2b6c1e-8a4d-4e0f-9b7a-2c5d1e9f0a11', email: 'coach@example.org', role: 'authenticated' },
    ]);
  });

  it('a row the target refuses (a foreign key) rolls the whole restore back', async () => {
    const url = await target(`CREATE TABLE tournaments (id int PRIMARY KEY);
      ALTER TABLE tournament_age_groups ADD FOREIGN KEY (tournament_id) REFERENCES tournaments (id);
      INSERT INTO clubs (name) VALUES ('Old club');`);
    const before = await snapshotOf(url);
    await expect(restore(legacy(url, sample))).rejects.toThrow(/restore failed .*tournament_age_groups.*rolled back/s);
    expect(await snapshotOf(url)).toEqual(before);
  });

  it('rejects files that are not legacy backups, changing nothing', async () => {
    const dir = tempDir('mt-legacy-bad-');
    const url = await target(`INSERT INTO clubs (name) VALUES ('Old club');`);
    const before = await snapshotOf(url);
    const cases: Array<[string, string | Buffer, RegExp]> = [
      ['package.json', readFileSync('package.json'), /not a legacy backup file: no "tables" object/],
      ['notes.txt', 'hello', /not a legacy backup file/],
      ['array.json', '[1,2]', /the document is not a JSON object/],
      ['trunc.json.gz', gzipSync(readFileSync(sample)).subarray(0, 300), /not a legacy backup file/],
      ['traversal.json', '{"tables": {"../etc": []}}', /table name "..\/etc" is not a plain table name/],
      ['rows.json', '{"tables": {"clubs": [1, 2]}}', /tables.clubs holds a value that is not a row object/],
    ];
    for (const [name, content, message] of cases) {
      const path = join(dir, name);
      writeFileSync(path, content);
      const err = await restore(legacy(url, path)).catch((e) => e);
      expect(err, name).toBeInstanceOf(UsageError);
      expect(err.message, name).toMatch(message);
    }
    expect(await snapshotOf(url)).toEqual(before);
  });

  it('a table missing from the target refuses before any change', async () => {
    const url = await target('DROP TABLE tournament_age_groups;');
    await expect(restore(legacy(url, sample))).rejects.toThrow(
      /public.tournament_age_groups: table missing in the target database/,
    );
  });
});

describe('export to legacy JSON', () => {
  it('writes database_backup_YYYYMMDD_HHMMSS.json.gz that re-imports to the same data', async () => {
    const src = await target();
    await restore(legacy(src, sample));
    await exec(
      src,
      `INSERT INTO clubs (name, city, website) VALUES (E'Tab\\there "quoted" \\\\ back', NULL, 'ünïcödé ⚽');
      INSERT INTO teams (name, club_id, aliases) VALUES ('Odd', 8, ARRAY['a,b', NULL, 'with "q"', E'back\\\\slash']);`,
    );
    const store = openStore(`file://${tempDir('mt-export-store-')}`);
    const r = await runBackup({ databaseUrl: src, store, env: 'x', scope: { schemas: ['public'], excludeTables: [] } });
    if (r.status !== 'completed') throw new Error(r.status);
    const dir = tempDir('mt-export-');
    const out = await exportLegacy({ store, manifest: r.manifest, out: dir });
    expect(out.path).toMatch(/database_backup_\d{8}_\d{6}\.json\.gz$/);
    const doc = JSON.parse(gunzipSync(readFileSync(out.path)).toString('utf8'));
    expect(doc.tables.teams[0]).toEqual({
      id: 31,
      name: 'Riverside U13',
      club_id: 7,
      age_group_id: 1,
      division_id: null,
      academy_team: false,
      aliases: ['Riverside 13s', 'RFC U13'],
    });
    expect(doc.tables.matches[0].details).toEqual({ venue: 'Field 3', referee: 'A. Smith' });
    expect(doc.tables.matches[0].created_at).toBe('2025-09-06T18:02:11.004+00:00');
    expect(doc.tables.matches[0]).not.toHaveProperty('goal_diff');
    expect((await scanLegacy(out.path)).tables.map((t) => t.name)).toContain('login_events');

    const dst = await target();
    await restore(legacy(dst, out.path));
    const a = await snapshotOf(src);
    const b = await snapshotOf(dst);
    for (const t of Object.keys(a.tables).filter((k) => k.startsWith('public.')))
      expect(b.tables[t], t).toEqual(a.tables[t]);
    await expect(exportLegacy({ store, manifest: r.manifest, out: dir })).rejects.toThrow(/exists already/);
  });
});
