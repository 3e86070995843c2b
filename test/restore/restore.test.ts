import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { readFixture, loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import { readManifest } from '../../shared/backup/catalog';
import type { Manifest } from '../../shared/backup/manifest';
import type { ObjectStore } from '../../shared/storage/types';
import { restore, planRestore, RestoreRefused, type RestoreOptions, backupSource } from '../../shared/restore/restore';
import { snapshotOf, exec, withClient } from './helpers';
import { formatPlan } from '../../shared/restore/plan';

let source: TestDatabase;
let store: ObjectStore;
let manifest: Manifest;

async function backupOf(url: string, env = 'test'): Promise<Manifest> {
  const result = await runBackup({ databaseUrl: url, store, env });
  if (result.status !== 'completed') throw new Error(result.status);
  return result.manifest;
}

/** A target built from the same DDL, holding other rows. */
async function newTarget(extraSql = ''): Promise<string> {
  const url = await source.createDatabase('mt_target');
  await exec(url, readFixture('awkward-schema.sql'));
  await exec(
    url,
    `INSERT INTO public.serial_things (name) VALUES ('other 1'), ('other 2');
     INSERT INTO public.empty_table VALUES (1, 'not empty here');
     INSERT INTO league.teams (name) VALUES ('Other FC');
     SELECT nextval('public.free_counter');
     ${extraSql}`,
  );
  return url;
}

const options = (url: string, more: Partial<RestoreOptions> = {}): RestoreOptions => ({
  databaseUrl: url,
  source: backupSource(store, manifest),
  yes: true,
  safetyBackup: false,
  ...more,
});

beforeAll(async () => {
  source = await createTestDatabase('mt_restore');
  await loadAwkwardSchema(source);
  store = openStore(`file://${tempDir('mt-restore-store-')}`);
  manifest = await backupOf(source.url);
});

describe('restore round trip (awkward-types schema)', () => {
  it('makes every table and sequence of the target equal the source exactly, over other rows', async () => {
    const target = await newTarget();
    const before = await snapshotOf(target);
    expect(before.tables['public.serial_things']!.rows).toBe(2);
    const result = await restore(options(target, { safetyBackup: { store, env: 'safety' } }));
    const expected = await snapshotOf(source.url);
    const after = await snapshotOf(target);
    expect(after.tables).toEqual(expected.tables);
    expect(after.sequences).toEqual(expected.sequences);
    expect(result.rows).toBe(manifest.totals.rows);
    expect(result.safetyBackupId).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    // the safety backup holds the target as it was
    const safety = await readManifest(store, 'safety', result.safetyBackupId!);
    expect(safety.label).toBe('pre-restore');
    expect(safety.tables.find((t) => t.name === 'serial_things')!.rows).toBe(2);
    // identity GENERATED ALWAYS kept its values; the generated column was recomputed
    const rows = await withClient(target, (c) => c.query('SELECT id, note_length FROM public.everything ORDER BY id'));
    expect(rows.rows.map((r) => Number(r.id))).toEqual([1, 2, 3]);
    expect(rows.rows[1].note_length).toBe(0);
    // sequences are the recorded values, not max(id)
    expect(after.sequences['public.serial_things_id_seq']).toBe('25/true');
  });

  it('refuses to overwrite tables that hold rows without --yes, and changes nothing', async () => {
    const target = await newTarget();
    const before = await snapshotOf(target);
    await expect(restore(options(target, { yes: false }))).rejects.toThrow(/holds rows in .* pass --yes/);
    let asked = 0;
    await expect(restore(options(target, { yes: false, confirm: async () => (asked++, false) }))).rejects.toThrow(
      /pass --yes/,
    );
    expect(asked).toBe(1);
    expect(await snapshotOf(target)).toEqual(before);
  });

  it('restores into an empty schema without --yes', async () => {
    const url = await source.createDatabase('mt_empty');
    await exec(url, readFixture('awkward-schema.sql'));
    await restore(options(url, { yes: false }));
    expect((await snapshotOf(url)).tables).toEqual((await snapshotOf(source.url)).tables);
  });
});

describe('--tables and the tables that reference them', () => {
  const withPlayer = `INSERT INTO league.players VALUES (1, 'kept?', 1, NULL);`;

  it('refuses, even with --yes, to empty referencing tables that hold rows, naming them; nothing changes', async () => {
    const target = await newTarget(withPlayer);
    const before = await snapshotOf(target);
    const refused = await restore(options(target, { tables: ['league.teams'], yes: true })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RestoreRefused);
    expect((refused as Error).message).toMatch(
      /would be emptied too.*league\.players \(players_team_id_fkey -> league\.teams\).*--cascade/,
    );
    expect(await snapshotOf(target)).toEqual(before);
  });

  it('with --cascade, empties them too and the plan lists them', async () => {
    const target = await newTarget(withPlayer);
    const plan = await planRestore(options(target, { tables: ['league.teams'], cascade: true }));
    expect(plan.preflight.problems).toEqual([]);
    expect(plan.preflight.cascade).toEqual(['league.players']);
    expect(formatPlan(plan)).toMatch(/emptied too \(--cascade\), not restored: league\.players/);
    await restore(options(target, { tables: ['league.teams'], cascade: true }));
    const after = await snapshotOf(target);
    expect(after.tables['league.players']!.rows).toBe(0);
    expect(after.tables['league.teams']).toEqual((await snapshotOf(source.url)).tables['league.teams']);
  });
});

describe('all or nothing', () => {
  it('a CHECK constraint one row violates rolls everything back', async () => {
    const target = await newTarget(
      `ALTER TABLE public.serial_things ADD CONSTRAINT no_seven CHECK (name <> 'thing 7');`,
    );
    const before = await snapshotOf(target);
    await expect(restore(options(target))).rejects.toThrow(
      /restore failed \(table public\.serial_things\).*no_seven.*rolled back/s,
    );
    expect(await snapshotOf(target)).toEqual(before);
  });

  it('a killed connection midway leaves the target as before', async () => {
    const target = await newTarget();
    const before = await snapshotOf(target);
    await expect(
      restore(
        options(target, {
          beforeTable: async (_table, index) => {
            if (index !== 3) return;
            await withClient(target, (c) =>
              c.query(
                `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mt-ops restore' AND pid <> pg_backend_pid()`,
              ),
            );
          },
        }),
      ),
    ).rejects.toThrow(/restore failed.*rolled back/s);
    expect(await snapshotOf(target)).toEqual(before);
  });
});

describe('preflight', () => {
  it('reports every schema difference at once and refuses before any change', async () => {
    const target = await newTarget(`
      ALTER TABLE public.everything DROP COLUMN ratio;
      ALTER TABLE public.everything ADD COLUMN extra text;
      ALTER TABLE public.serial_things ALTER COLUMN name TYPE varchar(200);
      DROP TABLE public.empty_table;`);
    const before = await snapshotOf(target);
    const err = await restore(options(target)).catch((e) => e);
    expect(err).toBeInstanceOf(RestoreRefused);
    const text = (err as RestoreRefused).problems.join('\n');
    expect(text).toContain('public.empty_table: table missing in the target database');
    expect(text).toContain('public.everything: column ratio missing in the target');
    expect(text).toContain('public.everything: extra column extra in the target');
    expect(text).toMatch(
      /public\.serial_things: column name type changed: text in the backup, character varying\(200\) in the target/,
    );
    expect(await snapshotOf(target)).toEqual(before);
  });

  it('with --allow-schema-drift restores the common columns and reports the rest', async () => {
    const target = await newTarget(`
      ALTER TABLE public.everything DROP COLUMN ratio;
      ALTER TABLE public.everything ADD COLUMN extra text DEFAULT 'x';`);
    const result = await restore(options(target, { allowSchemaDrift: true }));
    expect(result.plan.preflight.drift).toEqual([
      'public.everything: column ratio missing in the target',
      'public.everything: extra column extra in the target (not in the backup)',
    ]);
    const { rows } = await withClient(target, (c) =>
      c.query('SELECT id, amount::text, extra, note FROM public.everything ORDER BY id'),
    );
    expect(rows.map((r) => r.amount)).toEqual(['12345678901234.123456', 'NaN', '0.000000']);
    expect(rows.every((r) => r.extra === 'x')).toBe(true);
  });

  it('a corrupted object is refused in preflight, nothing changed', async () => {
    const { writeFileSync, readFileSync, chmodSync } = await import('node:fs');
    const dir = tempDir('mt-restore-corrupt-');
    const corruptStore = openStore(`file://${dir}`);
    const r = await runBackup({ databaseUrl: source.url, store: corruptStore, env: 'c' });
    if (r.status !== 'completed') throw new Error(r.status);
    const entry = r.manifest.tables.find((t) => t.name === 'serial_things')!;
    const file = `${dir}/c/${r.manifest.id}/${entry.object}`;
    chmodSync(file, 0o644);
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
    writeFileSync(file, bytes);
    const target = await newTarget();
    const before = await snapshotOf(target);
    const err = await restore({ ...options(target), source: backupSource(corruptStore, r.manifest) }).catch((e) => e);
    expect(err).toBeInstanceOf(RestoreRefused);
    expect(err.message).toMatch(/public\.serial_things: .* sha256 does not match the manifest \(corrupted object\)/);
    expect(await snapshotOf(target)).toEqual(before);
  });

  it('an object changed after preflight (the same rows in another order) fails at its load: rolled back', async () => {
    const { writeFileSync, readFileSync, chmodSync } = await import('node:fs');
    const { gunzipSync, gzipSync } = await import('node:zlib');
    const dir = tempDir('mt-restore-changed-');
    const changedStore = openStore(`file://${dir}`);
    const r = await runBackup({ databaseUrl: source.url, store: changedStore, env: 'c' });
    if (r.status !== 'completed') throw new Error(r.status);
    const entry = r.manifest.tables.find((t) => t.name === 'serial_things')!;
    const file = `${dir}/c/${r.manifest.id}/${entry.object}`;
    const target = await newTarget();
    const before = await snapshotOf(target);
    const err = await restore({
      ...options(target),
      source: backupSource(changedStore, r.manifest),
      // after preflight checked every object, inside the transaction: rows COPY loads as happily, other bytes
      beforeTable: async (_table, index) => {
        if (index !== 0) return;
        const rows = gunzipSync(readFileSync(file)).toString('utf8').split('\n').filter(Boolean);
        chmodSync(file, 0o644);
        writeFileSync(file, gzipSync(`${rows.reverse().join('\n')}\n`));
      },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(
      /restore failed \(table public\.serial_things\).*sha256 does not match the manifest \(object changed since preflight\).*rolled back/s,
    );
    expect(await snapshotOf(target)).toEqual(before);
  });
});

describe('table subsets', () => {
  it('refuses when a table outside the subset references one inside it and holds rows, naming it', async () => {
    const target = await newTarget(`INSERT INTO league.players VALUES (7, 'Zed', 1, NULL);`);
    const before = await snapshotOf(target);
    const err = await restore(options(target, { tables: ['league.teams'], yes: false })).catch((e) => e);
    expect(err).toBeInstanceOf(RestoreRefused);
    expect(err.message).toMatch(
      /not restored, but would be emptied too .*: league\.players \(players_team_id_fkey -> league\.teams\)/,
    );
    expect(await snapshotOf(target)).toEqual(before);
  });

  it('with --cascade truncates the referencing tables too, listed in the plan', async () => {
    const target = await newTarget(`INSERT INTO league.players VALUES (7, 'Zed', 1, NULL);`);
    const plan = await planRestore(options(target, { tables: ['league.teams'], cascade: true }));
    expect(plan.preflight.problems).toEqual([]);
    expect(plan.preflight.truncate).toEqual(
      expect.arrayContaining(['league.teams', 'league.players', 'Stats Schema.Player Stats', 'league.matches']),
    );
    await restore(options(target, { tables: ['league.teams'], cascade: true }));
    const after = await snapshotOf(target);
    const expected = await snapshotOf(source.url);
    expect(after.tables['league.teams']).toEqual(expected.tables['league.teams']);
    expect(after.tables['league.players']!.rows).toBe(0);
    expect(after.tables['public.serial_things']!.rows).toBe(2); // outside the subset: untouched
    expect(after.sequences['public.serial_things_id_seq']).not.toBe(expected.sequences['public.serial_things_id_seq']);
  });

  it('restores a closed subset (the deferrable players <-> matches cycle and its dependants)', async () => {
    const target = await newTarget();
    const tables = ['league.teams', 'league.players', 'league.matches', 'Stats Schema.Player Stats'];
    const result = await restore(options(target, { tables }));
    expect(result.plan.preflight.order.order.indexOf('league.teams')).toBeLessThan(
      result.plan.preflight.order.order.indexOf('league.players'),
    );
    expect(result.plan.preflight.order.deferred.length).toBe(1);
    const after = await snapshotOf(target);
    const expected = await snapshotOf(source.url);
    for (const t of tables) expect(after.tables[t]).toEqual(expected.tables[t]);
    expect(after.tables['public.serial_things']!.rows).toBe(2);
  });
});

describe('a cycle of non-deferrable foreign keys', () => {
  const ddl = `
    CREATE TABLE a (id int PRIMARY KEY, b_id int);
    CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a (id));
    ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b (id);`;

  it('is loaded with session_replication_role = replica by a role that may, and the keys are still checked', async () => {
    const src = await source.createDatabase('mt_cycle');
    await exec(
      src,
      `${ddl} BEGIN; SET CONSTRAINTS ALL DEFERRED; SET session_replication_role = replica;
      INSERT INTO a VALUES (1, 1), (2, NULL); INSERT INTO b VALUES (1, 2); COMMIT;`,
    );
    const m = await backupOf(src, 'cycle');
    const dst = await source.createDatabase('mt_cycle_t');
    await exec(dst, ddl);
    const result = await restore({ ...options(dst), source: backupSource(store, m) });
    expect(result.plan.preflight.replica).toBe(true);
    expect(result.plan.notes.join('\n')).toMatch(
      /cycle of non-deferrable foreign keys public\.a -\[a_b_fk\]-> public\.b -\[b_a_id_fkey\]-> public\.a/,
    );
    expect((await snapshotOf(dst)).tables).toEqual((await snapshotOf(src)).tables);

    // a backup whose rows break a key: refused at the check, rolled back
    await exec(src, `SET session_replication_role = replica; INSERT INTO b VALUES (9, 99);`);
    const bad = await backupOf(src, 'cycle');
    const before = await snapshotOf(dst);
    await expect(restore({ ...options(dst), source: backupSource(store, bad) })).rejects.toThrow(
      /b_a_id_fkey.*1 row references missing rows/,
    );
    expect(await snapshotOf(dst)).toEqual(before);
  });

  it('is refused in preflight with --fire-triggers, which would check each row as it comes', async () => {
    const src = await source.createDatabase('mt_cycle_f');
    await exec(src, ddl);
    const m = await backupOf(src, 'cycle');
    const plan = await planRestore({ ...options(src), fireTriggers: true, source: backupSource(store, m) });
    expect(plan.preflight.problems.join('\n')).toMatch(
      /cycle of non-deferrable foreign keys public\.a .*: cannot be loaded in any order with triggers firing; restore without --fire-triggers/,
    );
  });

  it('is refused in preflight, with the cycle named, for a role that may not', async () => {
    const db = await source.createDatabase('mt_cycle_r');
    const role = `mt_plain_${Math.random().toString(16).slice(2, 8)}`;
    await exec(db, `${ddl} CREATE ROLE ${role} LOGIN; GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role};`);
    const m = await backupOf(db, 'cycle');
    const u = new URL(db);
    u.username = role;
    const err = await planRestore({ ...options(u.toString()), source: backupSource(store, m) });
    expect(err.preflight.problems.join('\n')).toMatch(
      /cycle of non-deferrable foreign keys public\.a -\[a_b_fk\]-> public\.b -\[b_a_id_fkey\]-> public\.a: .* may not set session_replication_role/,
    );
    await exec(db, `DROP OWNED BY ${role}; DROP ROLE ${role}`);
  });
});
