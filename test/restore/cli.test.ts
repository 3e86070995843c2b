import { describe, it, expect, beforeAll } from 'vitest';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { readFixture, loadAwkwardSchema, fixturePath } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { spawn, spawnSync } from 'node:child_process';
import { CLI, runCli } from '../support/cli';
import { snapshotOf, exec, withClient } from './helpers';

let db: TestDatabase;
let env: Record<string, string>;
let id: string;
let target: string;

beforeAll(async () => {
  db = await createTestDatabase('mt_restore_cli');
  await loadAwkwardSchema(db);
  env = {
    BACKUP_BUCKET: `file://${tempDir('mt-restore-cli-')}`,
    OPS_ENV: 'rcli',
    OPS_CONFIG: join(tempDir(), 'none.json'),
  };
  writeFileSync(env.OPS_CONFIG!, '{}');
  const backup = await runCli(['backup', '--database-url', db.url, '--no-progress'], { env });
  expect(backup.code, backup.stderr).toBe(0);
  id = backup.stdout.trim();
  target = await db.createDatabase('mt_restore_cli_t');
  await exec(
    target,
    `${readFixture('awkward-schema.sql')} INSERT INTO public.serial_things (name) VALUES ('keep me');`,
  );
});

describe('mt-ops restore', () => {
  it('--dry-run prints the plan and changes nothing', async () => {
    const before = await snapshotOf(target);
    const r = await runCli(['restore', id, '--database-url', target, '--dry-run'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`restore plan: backup ${id}`);
    expect(r.stdout).toMatch(/tables, in load order \(8, 34 rows/);
    expect(r.stdout).toMatch(/league\.teams\s+3 rows/);
    expect(r.stdout.indexOf('league.teams')).toBeLessThan(r.stdout.indexOf('league.players'));
    expect(r.stdout).toContain('holding rows now (overwritten): public.serial_things');
    expect(r.stdout).toContain('public.serial_things_id_seq = 25');
    expect(r.stdout).toContain('safety backup of the target: will be taken');
    expect(r.stdout).toContain(
      'loaded with session_replication_role = replica: foreign keys are checked after the load',
    );
    const firing = await runCli(['restore', id, '--database-url', target, '--dry-run', '--fire-triggers'], { env });
    expect(firing.code, firing.stderr).toBe(0);
    expect(firing.stdout).not.toContain('session_replication_role = replica');
    const json = await runCli(['restore', id, '--database-url', target, '--dry-run', '--json', '--no-safety-backup'], {
      env,
    });
    expect(JSON.parse(json.stdout)).toMatchObject({
      overwrites: ['public.serial_things'],
      safetyBackup: 'skipped (--no-safety-backup)',
      problems: [],
    });
    expect(await snapshotOf(target)).toEqual(before);
  });

  it.skipIf(spawnSync('script', ['--version']).status !== 0)(
    'on a terminal, a wrong answer to the prompt says it was not confirmed (exit 2), nothing changed',
    async () => {
      const before = await snapshotOf(target);
      const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
      const command = [process.execPath, CLI, 'restore', id, '--database-url', target, '--no-progress'].map(quote);
      // script(1) gives the CLI a terminal; "no" is typed at the prompt
      const r = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const child = spawn('script', ['-qec', command.join(' '), '/dev/null'], {
          env: { ...process.env, LOG_LEVEL: 'warn', ...env },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, out }));
        child.stdin.write('no\n');
      });
      expect(r.out).toContain(`type the database name (${target.split('/').pop()}) to continue`);
      expect(r.out).toMatch(/not confirmed \(the answer was "no", not the database's name\): nothing changed/);
      expect(r.out).not.toMatch(/pass --yes/);
      expect(r.code).toBe(2);
      expect(await snapshotOf(target)).toEqual(before);
    },
  );

  it('refuses to overwrite rows without --yes (exit 2), then restores with --yes, printing the safety backup and the recovery time', async () => {
    const before = await snapshotOf(target);
    const refused = await runCli(['restore', id, '--database-url', target, '--no-progress'], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/holds rows in 1 table\(s\) .*public\.serial_things.*pass --yes/);
    expect(await snapshotOf(target)).toEqual(before);

    const r = await runCli(['restore', id, '--database-url', target, '--yes', '--no-progress'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored 8 tables, 34 rows/);
    expect(r.stdout).toMatch(/rows\/s/);
    expect(r.stdout).toMatch(/safety backup of the target before the restore: \d{8}T\d{6}Z-[0-9a-f]{4}/);
    expect(r.stdout).toMatch(/recovered in .*within the 1-hour recovery target/);
    expect((await snapshotOf(target)).tables).toEqual((await snapshotOf(db.url)).tables);
    const list = await runCli(['list', '--json'], { env });
    expect(JSON.parse(list.stdout).some((b: { label?: string }) => b.label === 'pre-restore')).toBe(true);
  });

  it('LOG_LEVEL=debug logs the memory by restore phase (where a peak comes from); the default level does not', async () => {
    const r = await runCli(['restore', id, '--database-url', target, '--yes', '--no-safety-backup', '--no-progress'], {
      env: { ...env, LOG_LEVEL: 'debug' },
    });
    expect(r.code, r.stderr).toBe(0);
    const memory = r.stderr
      .split('\n')
      .filter((l) => l.includes('"message":"memory"'))
      .map((l) => JSON.parse(l) as { phase: string; rssMb: number; arrayBuffersMb: number });
    const phases = new Set(memory.map((m) => m.phase));
    expect(phases).toContain('plan');
    expect([...phases].some((p) => /^load public\.\S+ done$/.test(p))).toBe(true);
    expect(phases).toContain('committing');
    expect(memory.every((m) => m.rssMb > 0 && m.arrayBuffersMb >= 0)).toBe(true);
    const quiet = await runCli(
      ['restore', id, '--database-url', target, '--yes', '--no-safety-backup', '--no-progress'],
      {
        env: { ...env, LOG_LEVEL: 'info' },
      },
    );
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toContain('"message":"memory"');
  });

  it('restores a legacy file given by path', async () => {
    const url = await db.createDatabase('mt_restore_cli_l');
    await exec(
      url,
      `CREATE TYPE match_status AS ENUM ('scheduled', 'completed');
      CREATE TABLE age_groups (id int PRIMARY KEY, name text, created_at timestamptz, updated_at timestamptz);
      CREATE TABLE seasons (id int PRIMARY KEY, name text, start_date date, end_date date, created_at timestamptz);
      CREATE TABLE clubs (id int PRIMARY KEY, name text, city text, website text, logo_url text, is_active boolean);
      CREATE TABLE teams (id int PRIMARY KEY, name text, club_id int REFERENCES clubs, age_group_id int, division_id int, academy_team boolean, aliases text[]);
      CREATE TABLE matches (id int PRIMARY KEY, home_team_id int REFERENCES teams, away_team_id int, match_date date, season_id int, age_group_id int,
                            home_score int, away_score int, match_status match_status, created_by uuid, details jsonb, created_at timestamptz);
      CREATE TABLE tournament_age_groups (tournament_id int, age_group_id int);
      CREATE TABLE login_events (id int PRIMARY KEY);`,
    );
    const r = await runCli(
      [
        'restore',
        fixturePath('database_backup_20260420_030001.json'),
        '--database-url',
        url,
        '--no-safety-backup',
        '--no-progress',
      ],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored 7 tables, 8 rows/);
    expect(r.stdout).toMatch(/sequences: 0 set from max\(id\) \(the legacy format records no sequence values\)/);
    expect(r.stdout).toMatch(/auth_users: 1 row skipped/);
  });

  it('bad input: a clear error, exit 2, nothing changed, no password', async () => {
    const before = await snapshotOf(target);
    const u = new URL(target);
    u.password = 's3cret-pw';
    const withPassword = u.toString();
    const dir = tempDir('mt-restore-bad-');
    writeFileSync(join(dir, 'notes.txt'), 'not a backup');
    mkdirSync(join(dir, 'folder.json'));
    const cases: Array<[string[], RegExp]> = [
      [['restore', '20200101T000000Z-dead'], /unknown backup id 20200101T000000Z-dead/],
      [['restore', '../../etc/passwd'], /no such legacy backup file|not a legacy backup file/],
      [['restore', '../20200101T000000Z-dead'], /no such legacy backup file/],
      [['restore', 'nonsense'], /is neither a backup id .*, "latest", nor a legacy file path/],
      [['restore', join(dir, 'notes.txt')], /is not a legacy backup file/],
      [['restore', join(dir, 'folder.json')], /no such legacy backup file/],
      [['restore', id, '--tables', 'nodot'], /--tables: "nodot" must be schema.table/],
      [['export', id, '--format', 'csv', '--out', dir], /unknown format "csv"/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args[0] === 'export' ? args : [...args, '--database-url', withPassword, '--no-progress'], {
        env,
      });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toContain('s3cret-pw');
    }
    expect(await snapshotOf(target)).toEqual(before);
  });

  it('a missing table refuses before any change (exit 1), listing every difference; --tables of an unknown table is bad input (exit 2)', async () => {
    const url = await db.createDatabase('mt_restore_cli_d');
    await exec(
      url,
      `${readFixture('awkward-schema.sql')} DROP TABLE public.empty_table; ALTER TABLE public.private_notes DROP COLUMN body;`,
    );
    const r = await runCli(['restore', id, '--database-url', url, '--yes', '--no-safety-backup', '--no-progress'], {
      env,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/restore refused before any change/);
    expect(r.stderr).toContain('public.empty_table: table missing in the target database');
    expect(r.stderr).toContain('public.private_notes: column body missing in the target');
    const t = await runCli(['restore', id, '--database-url', url, '--tables', 'public.nope', '--no-progress'], { env });
    expect(t.code).toBe(2); // naming a table that is not in the backup is bad input
    expect(t.stderr).toContain('--tables: public.nope is not in the backup');
  });

  it('export writes a legacy file that restores', async () => {
    const dir = tempDir('mt-restore-export-');
    const r = await runCli(['export', id, '--format', 'legacy-json', '--out', dir], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/database_backup_\d{8}_\d{6}\.json\.gz$/);
    const url = await db.createDatabase('mt_restore_cli_e');
    await exec(url, readFixture('awkward-schema.sql'));
    const back = await runCli(
      ['restore', r.stdout.trim(), '--database-url', url, '--no-safety-backup', '--no-progress'],
      { env },
    );
    expect(back.code, back.stderr).toBe(0);
    const a = await snapshotOf(db.url);
    const b = await snapshotOf(url);
    for (const table of ['public.serial_things', 'public.private_notes', 'public.empty_table'])
      expect(b.tables[table], table).toEqual(a.tables[table]);
    // every value of the awkward table survives, except insignificant whitespace inside a json (not jsonb) value
    const q = `SELECT to_jsonb(t) - 'doc_json' AS r, doc_json::jsonb AS j FROM public.everything t ORDER BY id`;
    const [x, y] = await Promise.all([db.url, url].map((u) => withClient(u, (c) => c.query(q))));
    expect(y!.rows).toEqual(x!.rows);
  });
});
