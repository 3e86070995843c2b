import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import type { Manifest } from '../../shared/backup/manifest';
import type { ObjectStore } from '../../shared/storage/types';
import { restore, type RestoreOptions, backupSource } from '../../shared/restore/restore';
import { snapshotOf, exec, withClient } from './helpers';

/**
 * The load runs under session_replication_role = replica when the role may set it: no per-row trigger fires
 * (foreign key checks included), and every foreign key of the loaded tables is checked afterwards, one query
 * per key. A role that may not set it gets the per-row path. Both must refuse the same broken data.
 */
let server: TestDatabase;
let store: ObjectStore;

const ddl = `
  CREATE TABLE clubs (id int PRIMARY KEY, name text NOT NULL);
  CREATE TABLE teams (id int PRIMARY KEY, club_id int REFERENCES clubs (id), name text);
  CREATE TABLE seasons (club_id int, season int, PRIMARY KEY (club_id, season));
  CREATE TABLE kits (club_id int, season int, colour text, CONSTRAINT kits_club_season_fk FOREIGN KEY (club_id, season) REFERENCES seasons (club_id, season));
  CREATE TABLE audit (at text, what text);
  CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := NEW.name || ' (stamped)'; RETURN NEW; END $$;
  CREATE FUNCTION log_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit VALUES ('insert', NEW.name); RETURN NEW; END $$;`;

async function sourceWith(name: string, rows: string): Promise<Manifest> {
  const url = await server.createDatabase(name);
  await exec(url, `${ddl} ${rows}`);
  const result = await runBackup({ databaseUrl: url, store, env: name });
  if (result.status !== 'completed') throw new Error(result.status);
  return result.manifest;
}

const GOOD_ROWS = `
  INSERT INTO clubs VALUES (1, 'Riverside'), (2, 'Hilltop');
  INSERT INTO teams VALUES (10, 1, 'U10'), (11, 2, 'U12'), (12, NULL, 'Unattached');
  INSERT INTO seasons VALUES (1, 2025), (2, 2026);
  INSERT INTO kits VALUES (1, 2025, 'blue'), (2, NULL, 'spare'), (NULL, NULL, 'none');`;

const options = (url: string, manifest: Manifest, more: Partial<RestoreOptions> = {}): RestoreOptions => ({
  databaseUrl: url,
  source: backupSource(store, manifest),
  yes: true,
  safetyBackup: false,
  ...more,
});

/** A login role that owns nothing and may not set session_replication_role, with rights on the target's tables. */
async function plainRole(url: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const role = `mt_plain_${Math.random().toString(16).slice(2, 8)}`;
  await exec(url, `CREATE ROLE ${role} LOGIN; GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role};`);
  const u = new URL(url);
  u.username = role;
  return { url: u.toString(), drop: () => exec(url, `DROP OWNED BY ${role}; DROP ROLE ${role}`) };
}

beforeAll(async () => {
  server = await createTestDatabase('mt_replica');
  store = openStore(`file://${tempDir('mt-replica-store-')}`);
});

describe('loading under session_replication_role = replica', () => {
  it('restores exactly, says so in the plan, and user triggers do not fire (ALWAYS triggers do)', async () => {
    const manifest = await sourceWith('mt_rep_src', GOOD_ROWS);
    const dst = await server.createDatabase('mt_rep_dst');
    await exec(
      dst,
      `${ddl}
       CREATE TRIGGER stamp BEFORE INSERT ON teams FOR EACH ROW EXECUTE FUNCTION stamp();
       CREATE TRIGGER log_insert AFTER INSERT ON clubs FOR EACH ROW EXECUTE FUNCTION log_insert();
       ALTER TABLE clubs ENABLE ALWAYS TRIGGER log_insert;`,
    );
    const result = await restore(
      options(dst, manifest, { tables: ['public.clubs', 'public.teams', 'public.seasons', 'public.kits'] }),
    );
    expect(result.plan.preflight.replica).toBe(true);
    const notes = result.plan.notes.join('\n');
    expect(notes).toMatch(/session_replication_role = replica: foreign keys are checked after the load/);
    expect(notes).toMatch(
      /public\.teams: user triggers do not fire during the load \(as pg_restore --disable-triggers\): stamp/,
    );
    expect(notes).toMatch(/public\.clubs: triggers enabled ALWAYS or REPLICA fire during the load: log_insert/);
    const teams = await withClient(dst, (c) => c.query('SELECT name FROM teams ORDER BY id'));
    expect(teams.rows.map((r) => r.name)).toEqual(['U10', 'U12', 'Unattached']);
    const audit = await withClient(dst, (c) => c.query('SELECT what FROM audit ORDER BY what'));
    expect(audit.rows.map((r) => r.what)).toEqual(['Hilltop', 'Riverside']);
  });

  it('refuses rows whose foreign key has no referenced row in the target, naming the key, before loading; nothing changes', async () => {
    // a subset restore of teams into a target whose clubs lack club 2
    const manifest = await sourceWith('mt_rep_src2', GOOD_ROWS);
    const dst = await server.createDatabase('mt_rep_dst2');
    await exec(dst, `${ddl} INSERT INTO clubs VALUES (1, 'Riverside'); INSERT INTO teams VALUES (99, 1, 'old');`);
    const before = await snapshotOf(dst);
    // clubs is not restored: preflight looks the keys up in the target's rows before anything is loaded
    await expect(restore(options(dst, manifest, { tables: ['public.teams'] }))).rejects.toThrow(
      /refused before any change.*teams_club_id_fkey of public\.teams \(club_id\): 1 row of the backup reference public\.clubs rows that the target does not have/s,
    );
    expect(await snapshotOf(dst)).toEqual(before);
  });

  it('checks MATCH FULL keys: a partly NULL key is refused, all NULL passes', async () => {
    const manifest = await sourceWith('mt_rep_src3', GOOD_ROWS);
    const full = ddl.replace('REFERENCES seasons (club_id, season)', 'REFERENCES seasons (club_id, season) MATCH FULL');
    const dst = await server.createDatabase('mt_rep_dst3');
    await exec(dst, full);
    const before = await snapshotOf(dst);
    await expect(restore(options(dst, manifest))).rejects.toThrow(
      /kits_club_season_fk on public\.kits: 1 row references missing rows/,
    );
    expect(await snapshotOf(dst)).toEqual(before);

    // without the partly NULL row, the same target takes it (the all-NULL row is fine under MATCH FULL)
    const fine = await sourceWith('mt_rep_src4', GOOD_ROWS.replace(", (2, NULL, 'spare')", ''));
    await restore(options(dst, fine));
    const kits = await withClient(dst, (c) => c.query('SELECT colour FROM kits ORDER BY colour'));
    expect(kits.rows.map((r) => r.colour)).toEqual(['blue', 'none']);
  });
});

describe('--fire-triggers', () => {
  it('loads with per-row triggers even for a role that could use replica', async () => {
    const manifest = await sourceWith('mt_rep_src6', GOOD_ROWS);
    const dst = await server.createDatabase('mt_rep_dst6');
    await exec(dst, `${ddl} CREATE TRIGGER stamp BEFORE INSERT ON teams FOR EACH ROW EXECUTE FUNCTION stamp();`);
    const result = await restore(options(dst, manifest, { fireTriggers: true }));
    expect(result.plan.preflight.replica).toBe(false);
    expect(result.plan.notes.join('\n')).toMatch(/public\.teams: user triggers fire during the load: stamp/);
    const teams = await withClient(dst, (c) => c.query('SELECT name FROM teams ORDER BY id'));
    expect(teams.rows.map((r) => r.name)).toEqual(['U10 (stamped)', 'U12 (stamped)', 'Unattached (stamped)']);
  });
});

describe('a role that may not set session_replication_role', () => {
  it('loads with per-row checks: triggers fire (and the plan says so), and a missing referenced row still refuses', async () => {
    const manifest = await sourceWith('mt_rep_src5', GOOD_ROWS);
    const dst = await server.createDatabase('mt_rep_dst5');
    await exec(dst, `${ddl} CREATE TRIGGER stamp BEFORE INSERT ON teams FOR EACH ROW EXECUTE FUNCTION stamp();`);
    const plain = await plainRole(dst);
    try {
      const result = await restore(options(plain.url, manifest));
      expect(result.plan.preflight.replica).toBe(false);
      expect(result.plan.notes.join('\n')).toMatch(/public\.teams: user triggers fire during the load: stamp/);
      const teams = await withClient(dst, (c) => c.query('SELECT name FROM teams ORDER BY id'));
      expect(teams.rows.map((r) => r.name)).toEqual(['U10 (stamped)', 'U12 (stamped)', 'Unattached (stamped)']);

      await exec(dst, 'TRUNCATE clubs, teams, seasons, kits; INSERT INTO clubs VALUES (1, $$Riverside$$);');
      const before = await snapshotOf(dst);
      await expect(restore(options(plain.url, manifest, { tables: ['public.teams'] }))).rejects.toThrow(
        /teams_club_id_fkey/,
      );
      expect(await snapshotOf(dst)).toEqual(before);
    } finally {
      await plain.drop();
    }
  });
});
