import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadMissingTableSchema, readFixture } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import type { Manifest } from '../../shared/backup/manifest';
import type { ObjectStore } from '../../shared/storage/types';
import { UsageError } from '../../shared/errors';
import { restore, planRestore, backupSource } from '../../shared/restore/restore';
import { runRestoreDrill } from '../../shared/restore/drill';
import { snapshotOf, exec } from './helpers';

/**
 * Missing Table on Supabase: public tables reference auth.users (invite_requests.reviewed_by,
 * channel_access_requests.telegram_reviewed_by and discord_reviewed_by, user_profiles.id). The default scope must
 * carry the auth tables holding user data and leave Supabase's bookkeeping out, so that a backup restores into a
 * fresh copy of the schema and its drill passes.
 */
let source: TestDatabase;
let store: ObjectStore;
let manifest: Manifest;

async function backupOf(scope?: { schemas?: string[]; excludeTables: string[] }): Promise<Manifest> {
  const result = await runBackup({ databaseUrl: source.url, store, env: 'supa', ...(scope ? { scope } : {}) });
  if (result.status !== 'completed') throw new Error(result.status);
  return result.manifest;
}

/** A fresh copy of the schema: the DDL, no rows. */
async function freshCopy(): Promise<string> {
  const url = await source.createDatabase('mt_supa_fresh');
  await exec(url, readFixture('missing-table-schema.sql'));
  return url;
}

const names = (m: Manifest) => m.tables.map((t) => `${t.schema}.${t.name}`).sort();

beforeAll(async () => {
  source = await createTestDatabase('mt_supa');
  await loadMissingTableSchema(source);
  store = openStore(`file://${tempDir('mt-supa-store-')}`);
  manifest = await backupOf();
});

describe('default scope on Supabase', () => {
  it('holds the auth tables with user data and the app tables, not Supabase bookkeeping or other managed schemas', () => {
    expect(names(manifest)).toEqual([
      'auth.identities',
      'auth.users',
      'public.age_groups',
      'public.channel_access_requests',
      'public.goals',
      'public.invite_requests',
      'public.matches',
      'public.players',
      'public.seasons',
      'public.teams',
      'public.user_profiles',
    ]);
    expect(manifest.sequences.map((s) => `${s.schema}.${s.name}`)).not.toContain('auth.refresh_tokens_id_seq');
    expect(manifest.tables.find((t) => t.name === 'users')!.rows).toBe(3);
  });

  it('restores into a fresh copy of the schema: the app tables and the auth users equal the source', async () => {
    const target = await freshCopy();
    await restore({ databaseUrl: target, source: backupSource(store, manifest), safetyBackup: false });
    const [want, got] = [await snapshotOf(source.url), await snapshotOf(target)];
    for (const t of names(manifest)) expect(got.tables[t], t).toEqual(want.tables[t]);
    expect(got.tables['auth.sessions']!.rows).toBe(0);
    expect(got.sequences['public.teams_id_seq']).toBe(want.sequences['public.teams_id_seq']);
  });

  it('its restore drill into a fresh copy passes', async () => {
    const drill = await runRestoreDrill({ store, manifest, databaseUrl: await freshCopy() });
    expect(drill.details).toEqual([expect.stringMatching(/every row count and content hash matches/)]);
    expect(drill.ok).toBe(true);
  });
});

describe('the foreign-key closure of a scope', () => {
  it('--schemas public also carries the auth tables its foreign keys reference', async () => {
    const m = await backupOf({ schemas: ['public'], excludeTables: [] });
    expect(names(m)).toEqual(expect.arrayContaining(['auth.users']));
    expect(names(m)).not.toContain('auth.identities');
    expect(names(m)).not.toContain('auth.sessions');
  });

  it('excluding a referenced table is refused, naming the key', async () => {
    const err = await backupOf({ excludeTables: ['public.teams'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(
      /excludeTables\[0\]: public\.teams is referenced by foreign key \w+ of public\.(matches|players|user_profiles)/,
    );
  });
});

describe('restore preflight: keys into tables that are not restored', () => {
  it('refuses before loading anything, naming the key and how many rows it leaves without their referenced row', async () => {
    const target = await freshCopy();
    const plan = await planRestore({
      databaseUrl: target,
      source: backupSource(store, manifest),
      tables: ['public.invite_requests', 'public.channel_access_requests'],
      safetyBackup: false,
    });
    expect(plan.preflight.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /invite_requests_reviewed_by_fkey .*public\.invite_requests \(reviewed_by\).*2 rows.*auth\.users/,
        ),
        expect.stringMatching(/channel_access_requests_telegram_reviewed_by_fkey .*1 row .*auth\.users/),
        expect.stringMatching(/channel_access_requests_discord_reviewed_by_fkey .*1 row .*auth\.users/),
        expect.stringMatching(/channel_access_requests_user_id_fkey .*2 rows.*public\.user_profiles/),
      ]),
    );
    const before = await snapshotOf(target);
    await expect(
      restore({
        databaseUrl: target,
        source: backupSource(store, manifest),
        tables: ['public.invite_requests'],
        safetyBackup: false,
      }),
    ).rejects.toThrow(/restore refused before any change.*invite_requests_reviewed_by_fkey/s);
    expect(await snapshotOf(target)).toEqual(before);
  });

  it('passes when the target holds the referenced rows', async () => {
    const target = await freshCopy();
    await restore({ databaseUrl: target, source: backupSource(store, manifest), safetyBackup: false });
    const plan = await planRestore({
      databaseUrl: target,
      source: backupSource(store, manifest),
      tables: ['public.invite_requests'],
      yes: true,
      safetyBackup: false,
    });
    expect(plan.preflight.problems).toEqual([]);
  });
});
