/** Test fixtures: the awkward-types and Missing Table schemas and data. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestDatabase } from './database';

export const fixturePath = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
export const readFixture = (name: string) => readFileSync(fixturePath(name), 'utf8');

/** Loads the awkward-types schema (and, unless `withData` is false, its rows) into a test database. */
export async function loadAwkwardSchema(db: TestDatabase, options: { withData?: boolean } = {}): Promise<void> {
  await db.query(readFixture('awkward-schema.sql'));
  if (options.withData !== false) await db.query(readFixture('awkward-data.sql'));
}

/** The awkward fixture's tables and their row counts after awkward-data.sql. */
export const AWKWARD_ROWS: Record<string, number> = {
  'public.everything': 3,
  'public.serial_things': 20,
  'public.empty_table': 0,
  'public.private_notes': 2,
  'league.teams': 3,
  'league.players': 2,
  'league.matches': 2,
  'Stats Schema.Player Stats': 2,
};

/** Missing Table on Supabase (auth schema referenced by public tables; see missing-table-schema.sql), with rows unless withData is false. */
export async function loadMissingTableSchema(
  db: { query(sql: string): Promise<unknown> },
  options: { withData?: boolean } = {},
): Promise<void> {
  await db.query(readFixture('missing-table-schema.sql'));
  if (options.withData !== false) await db.query(readFixture('missing-table-data.sql'));
}
