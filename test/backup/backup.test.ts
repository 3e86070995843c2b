import { describe, it, expect, beforeAll } from 'vitest';
import { createGunzip } from 'node:zlib';
import { text } from 'node:stream/consumers';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema, AWKWARD_ROWS } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import { verifyBackup } from '../../shared/backup/verify';
import { keys } from '../../shared/backup/layout';
import { ManifestSchema, type Manifest } from '../../shared/backup/manifest';
import type { ObjectStore } from '../../shared/storage/types';

let db: TestDatabase;
let store: ObjectStore;

async function completed(p: ReturnType<typeof runBackup>): Promise<Manifest> {
  const result = await p;
  if (result.status !== 'completed') throw new Error(`expected a completed backup, got ${result.status}`);
  return result.manifest;
}

beforeAll(async () => {
  db = await createTestDatabase('mt_backup');
  await loadAwkwardSchema(db);
  store = openStore(`file://${tempDir('mt-backup-store-')}`);
});

describe('backup of the awkward-types schema', () => {
  let manifest: Manifest;
  beforeAll(async () => {
    manifest = await completed(runBackup({ databaseUrl: db.url, store, env: 'test', label: 'fidelity', jobs: 2 }));
  });

  it('discovers every user table from the catalog, with exact row counts', () => {
    const counts = Object.fromEntries(manifest.tables.map((t) => [`${t.schema}.${t.name}`, t.rows]));
    expect(counts).toEqual(AWKWARD_ROWS);
    expect(manifest.totals.rows).toBe(Object.values(AWKWARD_ROWS).reduce((a, b) => a + b, 0));
  });

  it('writes a manifest that validates and holds no secret', async () => {
    const doc = await store.get(keys.manifest('test', manifest.id));
    const raw = await text(doc);
    expect(() => ManifestSchema.parse(JSON.parse(raw))).not.toThrow();
    expect(manifest.id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    expect(manifest.label).toBe('fidelity');
    expect(manifest.trigger.kind).toBe('manual');
    expect(manifest.database.name).toBe(db.name);
    expect(manifest.database.serverVersion).toMatch(/^\d+/);
    expect(raw).not.toMatch(/password|postgres:\/\//i);
    expect(manifest.structureFingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('leaves generated columns out and keeps identity values', async () => {
    const everything = manifest.tables.find((t) => t.name === 'everything')!;
    const names = everything.columns.map((c) => c.name);
    expect(names).toContain('id');
    expect(names).not.toContain('note_length');
    expect(everything.columns.find((c) => c.name === 'feeling')!.type).toBe('mood');
    const data = await text(
      (await store.get(`${keys.backupPrefix('test', manifest.id)}${everything.object}`)).pipe(createGunzip()),
    );
    const lines = data.split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    expect(lines[0]!.startsWith('1\t')).toBe(true);
    // tabs, newlines and backslashes escaped by COPY; emoji intact; NULL distinct from empty string
    expect(lines[0]).toContain('tab\\there\\nnewline\\\\backslash and emoji 🥅');
    expect(lines[1]!.split('\t')[19]).toBe('');
    expect(lines[2]!.split('\t')[19]).toBe('\\N');
  });

  it('records every sequence, including one owned by no column', () => {
    const seqs = Object.fromEntries(manifest.sequences.map((s) => [`${s.schema}.${s.name}`, s]));
    expect(seqs['public.free_counter']).toMatchObject({ lastValue: '107', isCalled: true });
    expect(seqs['public.free_counter']!.ownedBy).toBeUndefined();
    expect(seqs['public.serial_things_id_seq']).toMatchObject({
      lastValue: '25',
      isCalled: true,
      ownedBy: { schema: 'public', table: 'serial_things', column: 'id' },
    });
    expect(seqs['public.everything_id_seq']).toMatchObject({ lastValue: '3', isCalled: true });
    expect(seqs['league.teams_id_seq']).toMatchObject({ lastValue: '3' });
  });

  it('verifies: checksums, sizes and row counts match, and the result is recorded', async () => {
    const record = await verifyBackup(store, manifest);
    expect(record.problems).toEqual([]);
    expect(record.ok).toBe(true);
    const saved = await store.readJson(keys.verify('test', manifest.id));
    expect(saved?.value).toMatchObject({ backupId: manifest.id, ok: true });
  });
});

describe('scope', () => {
  it('takes Supabase auth user data by default but not its bookkeeping; all of auth when named', async () => {
    await db.query(`CREATE SCHEMA IF NOT EXISTS auth; CREATE TABLE IF NOT EXISTS auth.users (id uuid PRIMARY KEY, email text);
                    CREATE TABLE IF NOT EXISTS auth.sessions (id uuid PRIMARY KEY, user_id uuid REFERENCES auth.users (id));
                    INSERT INTO auth.users VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'x@example.org') ON CONFLICT DO NOTHING`);
    const all = await completed(runBackup({ databaseUrl: db.url, store, env: 'scope' }));
    const auth = (m: Manifest) => m.tables.filter((t) => t.schema === 'auth').map((t) => `${t.schema}.${t.name}`);
    expect(auth(all)).toEqual(['auth.users']);
    const named = await completed(
      runBackup({ databaseUrl: db.url, store, env: 'scope', scope: { schemas: ['auth'] } }),
    );
    expect(auth(named)).toEqual(['auth.sessions', 'auth.users']);
    expect(named.tables.find((t) => t.name === 'users')!.rows).toBe(1);
    const excluded = await completed(
      runBackup({
        databaseUrl: db.url,
        store,
        env: 'scope',
        scope: { excludeTables: ['public.everything', 'Stats Schema.Player Stats'] },
      }),
    );
    const names = excluded.tables.map((t) => `${t.schema}.${t.name}`);
    expect(names).not.toContain('public.everything');
    expect(names).not.toContain('Stats Schema.Player Stats');
    expect(names).toContain('league.players');
  });

  it('refuses to exclude a table that a table in scope references, naming the key (a restore could not satisfy it)', async () => {
    await expect(
      runBackup({ databaseUrl: db.url, store, env: 'scope', scope: { excludeTables: ['league.teams'] } }),
    ).rejects.toThrow(
      /excludeTables\[0\]: league\.teams is referenced by foreign key players_team_id_fkey of league\.players \(team_id\)/,
    );
  });

  it('carries the tables referenced from the named schemas (the closure), and records why', async () => {
    const m = await completed(
      runBackup({ databaseUrl: db.url, store, env: 'scope', scope: { schemas: ['Stats Schema'] } }),
    );
    expect(m.tables.map((t) => `${t.schema}.${t.name}`).sort()).toEqual([
      'Stats Schema.Player Stats',
      'league.matches',
      'league.players',
      'league.teams',
    ]);
    expect(m.scope.included).toEqual(
      expect.arrayContaining([
        {
          table: 'league.players',
          referencedBy: 'Stats Schema.Player Stats',
          constraint: 'Player Stats_Player ID_fkey',
        },
      ]),
    );
  });
});

describe('consistency', () => {
  it('rows committed by another connection during a running backup do not appear in it', async () => {
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      const manifest = await completed(
        runBackup({
          databaseUrl: db.url,
          store,
          env: 'consistency',
          jobs: 2,
          afterSnapshot: async () => {
            await other.query(`BEGIN;
              INSERT INTO public.serial_things (name) VALUES ('late 1'), ('late 2');
              INSERT INTO public.empty_table VALUES (1, 'late');
              INSERT INTO league.teams (name) VALUES ('Late FC');
              UPDATE league.matches SET played_on = '2030-01-01';
              COMMIT;`);
          },
        }),
      );
      const counts = Object.fromEntries(manifest.tables.map((t) => [`${t.schema}.${t.name}`, t.rows]));
      expect(counts['public.serial_things']).toBe(20);
      expect(counts['public.empty_table']).toBe(0);
      expect(counts['league.teams']).toBe(3);
      const matches = manifest.tables.find((t) => t.name === 'matches')!;
      const data = await text(
        (await store.get(`${keys.backupPrefix('consistency', manifest.id)}${matches.object}`)).pipe(createGunzip()),
      );
      expect(data).not.toContain('2030-01-01');
      // ...and the rows are really there now, so the next backup has them
      const next = await completed(runBackup({ databaseUrl: db.url, store, env: 'consistency' }));
      expect(next.tables.find((t) => t.name === 'serial_things')!.rows).toBe(22);
    } finally {
      await other.query(
        `DELETE FROM public.serial_things WHERE name LIKE 'late%'; DELETE FROM public.empty_table; DELETE FROM league.teams WHERE name = 'Late FC'`,
      );
      await other.end();
    }
  });
});
