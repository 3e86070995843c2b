import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import type { Manifest } from '../../shared/backup/manifest';
import type { ObjectStore } from '../../shared/storage/types';
import { restore, planRestore, type RestoreOptions, backupSource } from '../../shared/restore/restore';
import { formatPlan } from '../../shared/restore/plan';
import { exec, withClient } from './helpers';

/** A populated materialized view (standings, and one built on it) and one that was never populated. */
const DDL = (populated: boolean) => `
  CREATE TABLE public.teams (id serial PRIMARY KEY, name text NOT NULL, points integer NOT NULL);
  CREATE MATERIALIZED VIEW public.standings AS SELECT name, points FROM public.teams ORDER BY points DESC ${populated ? '' : 'WITH NO DATA'};
  CREATE MATERIALIZED VIEW public.leader AS SELECT name FROM public.standings ORDER BY points DESC LIMIT 1 ${populated ? '' : 'WITH NO DATA'};
  CREATE MATERIALIZED VIEW public.archive AS SELECT count(*) AS n FROM public.teams WITH NO DATA;`;

let source: TestDatabase;
let store: ObjectStore;
let manifest: Manifest;

const options = (url: string, more: Partial<RestoreOptions> = {}): RestoreOptions => ({
  databaseUrl: url,
  source: backupSource(store, manifest),
  yes: true,
  safetyBackup: false,
  ...more,
});

async function state(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ name: string; populated: boolean }>(
      `SELECT relname AS name, relispopulated AS populated FROM pg_class WHERE relkind = 'm' ORDER BY 1`,
    );
    const out: Record<string, string> = {};
    for (const r of rows) {
      out[r.name] = r.populated
        ? JSON.stringify((await c.query(`SELECT * FROM public.${r.name}`)).rows)
        : 'unpopulated';
    }
    return out;
  });
}

beforeAll(async () => {
  source = await createTestDatabase('mt_mv');
  await exec(
    source.url,
    `${DDL(true)} INSERT INTO public.teams (name, points) VALUES ('IFA', 9), ('NEFC', 4), ('Seacoast', 6);
                          REFRESH MATERIALIZED VIEW public.standings; REFRESH MATERIALIZED VIEW public.leader;`,
  );
  store = openStore(`file://${tempDir('mt-mv-store-')}`);
  const r = await runBackup({ databaseUrl: source.url, store, env: 'mv' });
  if (r.status !== 'completed') throw new Error(r.status);
  manifest = r.manifest;
});

describe('materialized views after a restore', () => {
  it('the manifest records each view in scope and whether it was populated', () => {
    expect(manifest.materializedViews).toEqual([
      { schema: 'public', name: 'archive', populated: false },
      { schema: 'public', name: 'leader', populated: true },
      { schema: 'public', name: 'standings', populated: true },
    ]);
  });

  it('a view populated in the source is refreshed in a fresh target (built on another view too); one that was not is left unpopulated', async () => {
    const url = await source.createDatabase('mt_mv_dst');
    await exec(url, DDL(false));
    const plan = await planRestore(options(url));
    const text = formatPlan(plan);
    expect(text).toMatch(/public\.standings: refreshed after the load \(populated in the backup\)/);
    expect(text).toMatch(/public\.archive: left unpopulated \(not populated in the backup\)/);
    await restore(options(url));
    expect(await state(url)).toEqual(await state(source.url));
  });

  it('an existing target does not keep its pre-restore contents', async () => {
    const url = await source.createDatabase('mt_mv_dst');
    await exec(
      url,
      `${DDL(true)} INSERT INTO public.teams (name, points) VALUES ('Old FC', 99); REFRESH MATERIALIZED VIEW public.standings;
                     REFRESH MATERIALIZED VIEW public.leader; REFRESH MATERIALIZED VIEW public.archive;`,
    );
    await restore(options(url));
    expect(await state(url)).toEqual(await state(source.url));
  });

  it('--no-refresh-materialized-views leaves every view as it is, and the plan says so', async () => {
    const url = await source.createDatabase('mt_mv_dst');
    await exec(url, DDL(false));
    const plan = await planRestore(options(url, { refreshMaterializedViews: false }));
    expect(formatPlan(plan)).toMatch(/public\.standings: left as it is \(--no-refresh-materialized-views\)/);
    await restore(options(url, { refreshMaterializedViews: false }));
    expect((await state(url)).standings).toBe('unpopulated');
  });
});
