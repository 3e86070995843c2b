/**
 * Issue 15: the loaded tables' indexes are dropped inside the restore transaction and rebuilt after the load. The
 * rebuilt ones must be exactly the ones there were (names, definitions, constraints), keys still enforced before
 * COMMIT (a duplicate rolls everything back), and what cannot be put back exactly is left in place.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import type { Manifest } from '../../shared/backup/manifest';
import type { ObjectStore } from '../../shared/storage/types';
import { restore, backupSource, type RestoreOptions } from '../../shared/restore/restore';
import { runRestoreDrill } from '../../shared/restore/drill';
import { snapshotOf, exec, withClient } from './helpers';

let server: TestDatabase;
let store: ObjectStore;

const DDL = `
  CREATE TABLE clubs (id int PRIMARY KEY, name text NOT NULL, code text, CONSTRAINT clubs_code_key UNIQUE (code));
  CREATE TABLE teams (id int CONSTRAINT teams_pk PRIMARY KEY, club_id int REFERENCES clubs (id), name text, born date, active boolean);
  CREATE INDEX teams_club_idx ON teams (club_id);
  CREATE INDEX teams_lower_name_idx ON teams (lower(name)) WHERE active;
  CREATE UNIQUE INDEX teams_name_club_uq ON teams (club_id, name) INCLUDE (born) WITH (fillfactor = 70);
  CREATE INDEX teams_born_brin ON teams USING brin (born);
  CREATE INDEX teams_commented_idx ON teams (born);
  COMMENT ON INDEX teams_commented_idx IS 'kept: comments are not put back';
  CREATE TABLE events (id bigint PRIMARY KEY, team_id int, note text);
  ALTER TABLE events REPLICA IDENTITY USING INDEX events_pkey;`;

const ROWS = `
  INSERT INTO clubs SELECT g, 'Club ' || g, 'C' || g FROM generate_series(1, 50) g;
  INSERT INTO teams SELECT g, 1 + g % 50, 'Team ' || g, date '2010-01-01' + g, g % 3 = 0 FROM generate_series(1, 2000) g;
  INSERT INTO events SELECT g, 1 + g % 2000, 'n' || g FROM generate_series(1, 3000) g;`;

/** Every index and constraint of the public schema, as the catalog describes them. */
async function indexesOf(url: string) {
  return withClient(url, async (c) => ({
    indexes: (await c.query(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`)).rows,
    constraints: (
      await c.query(
        `SELECT conname, contype, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`,
      )
    ).rows,
    replicaIdentity: (await c.query(`SELECT indexrelid::regclass::text AS ix FROM pg_index WHERE indisreplident`)).rows,
    comments: (
      await c.query(
        `SELECT objoid::regclass::text AS ix, description FROM pg_description WHERE classoid = 'pg_class'::regclass ORDER BY 1`,
      )
    ).rows,
  }));
}

async function backupOf(name: string, ddl: string, rows: string): Promise<{ url: string; manifest: Manifest }> {
  const url = await server.createDatabase(name);
  await exec(url, `${ddl} ${rows}`);
  const result = await runBackup({ databaseUrl: url, store, env: name });
  if (result.status !== 'completed') throw new Error(result.status);
  return { url, manifest: result.manifest };
}

const options = (url: string, manifest: Manifest, more: Partial<RestoreOptions> = {}): RestoreOptions => ({
  databaseUrl: url,
  source: backupSource(store, manifest),
  yes: true,
  safetyBackup: false,
  ...more,
});

beforeAll(async () => {
  server = await createTestDatabase('mt_indexes');
  store = openStore(`file://${tempDir('mt-indexes-store-')}`);
});

describe('indexes set aside during the load', () => {
  it('rebuilds them exactly (names, definitions, keys) and leaves in place what it cannot put back', async () => {
    const { url: src, manifest } = await backupOf('mt_ix_src', DDL, ROWS);
    const dst = await server.createDatabase('mt_ix_dst');
    await exec(dst, `${DDL} INSERT INTO clubs VALUES (99, 'Old', 'OLD')`);
    const before = await indexesOf(dst);
    const result = await restore(options(dst, manifest));
    expect([...result.rebuiltIndexes].sort()).toEqual([
      'public.clubs_code_key',
      'public.teams_born_brin',
      'public.teams_club_idx',
      'public.teams_lower_name_idx',
      'public.teams_name_club_uq',
      'public.teams_pk',
    ]);
    // left in place: a key a foreign key references, an index with a comment, the replica identity
    expect(result.rebuiltIndexes).not.toContain('public.clubs_pkey');
    expect(result.rebuiltIndexes).not.toContain('public.teams_commented_idx');
    expect(result.rebuiltIndexes).not.toContain('public.events_pkey');
    expect(await indexesOf(dst)).toEqual(before);
    expect(await snapshotOf(dst)).toEqual(await snapshotOf(src));
    expect(result.timings.indexMs).toBeGreaterThanOrEqual(0);
  });

  it('a duplicate key in the data fails the rebuild of its unique index: rolled back, the target unchanged', async () => {
    // the source has no unique key on code: two clubs share one
    const loose = DDL.replace(', CONSTRAINT clubs_code_key UNIQUE (code)', '');
    const { manifest } = await backupOf('mt_ix_dup_src', loose, `${ROWS} UPDATE clubs SET code = 'C1' WHERE id = 2;`);
    const dst = await server.createDatabase('mt_ix_dup_dst');
    await exec(dst, `${DDL} INSERT INTO clubs VALUES (99, 'Old', 'OLD')`);
    const [data, indexes] = [await snapshotOf(dst), await indexesOf(dst)];
    const err = (await restore(options(dst, manifest)).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /rebuilding index public\.clubs_code_key \(unique key\).*could not create unique index "clubs_code_key".*rolled back, the target is unchanged/s,
    );
    expect(await snapshotOf(dst)).toEqual(data);
    expect(await indexesOf(dst)).toEqual(indexes);
  });

  it('no index is set aside when a trigger fires during the load (it could rely on one)', async () => {
    const { manifest } = await backupOf('mt_ix_trg_src', DDL, ROWS);
    const dst = await server.createDatabase('mt_ix_trg_dst');
    await exec(
      dst,
      `${DDL} CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
       CREATE TRIGGER keep BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION keep();
       ALTER TABLE events ENABLE ALWAYS TRIGGER keep;`,
    );
    const result = await restore(options(dst, manifest));
    expect(result.rebuiltIndexes).toEqual([]);
  });

  it('the drill restores with indexes set aside and compares every table', async () => {
    const { manifest } = await backupOf('mt_ix_drill_src', DDL, ROWS);
    const scratch = await server.createDatabase('mt_ix_drill');
    await exec(scratch, DDL);
    const before = await indexesOf(scratch);
    const drill = await runRestoreDrill({ store, manifest, databaseUrl: scratch });
    expect(drill.ok, drill.details.join('; ')).toBe(true);
    expect(await indexesOf(scratch)).toEqual(before);
  });
});
