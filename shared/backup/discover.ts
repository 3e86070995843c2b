/** What a backup takes: the tables, sequences and materialized views in scope, read from the catalog. */
import type pg from 'pg';
import { createHash } from 'node:crypto';
import { UsageError } from '../errors';
import {
  closeScope,
  schemaInScope,
  tableInScope,
  type Scope,
  type ScopeFields,
  type ScopeForeignKey,
  type ScopeInclusion,
} from './scope';

export interface DiscoveredColumn {
  name: string;
  type: string;
}

export interface DiscoveredTable {
  schema: string;
  name: string;
  /** Columns whose data is backed up (generated columns are left out: restore recomputes them). */
  columns: DiscoveredColumn[];
  /** Size on disk, to start the largest tables first. */
  bytes: number;
}

export interface DiscoveredSequence {
  schema: string;
  name: string;
  ownedBy?: { schema: string; table: string; column: string };
}

/**
 * Every ordinary table in scope, from the catalog (never from a hand-written list), and the tables the scope's
 * foreign keys reference (the closure, see closeScope). Partitioned parents hold no rows themselves: their leaf
 * partitions are ordinary tables and are backed up. Tables that belong to an extension are left out, as pg_dump does.
 * A scope that cannot be closed is bad input: a UsageError naming the key.
 */
export async function discoverTables(
  client: pg.ClientBase,
  scope: Scope,
  fields?: ScopeFields,
): Promise<{ tables: DiscoveredTable[]; included: ScopeInclusion[]; relations: Set<string> }> {
  const { rows } = await client.query<{
    schema: string;
    name: string;
    bytes: string;
    ancestors: string[] | null;
    columns: Array<{ name: string; type: string; generated: string }>;
  }>(`
    SELECT n.nspname AS schema, c.relname AS name, pg_relation_size(c.oid)::text AS bytes,
           (SELECT array_agg(an.nspname || '.' || ac.relname) FROM pg_partition_ancestors(c.oid) pa
              JOIN pg_class ac ON ac.oid = pa.relid JOIN pg_namespace an ON an.oid = ac.relnamespace
             WHERE pa.relid <> c.oid) AS ancestors,
           coalesce((SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                                       'generated', a.attgenerated) ORDER BY a.attnum)
                     FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY n.nspname, c.relname`);
  const key = (r: { schema: string; name: string }) => `${r.schema}.${r.name}`;
  const inScope = new Set(rows.filter((r) => tableInScope(r.schema, r.name, scope)).map(key));
  const closure = closeScope(inScope, new Set(rows.map(key)), await readForeignKeys(client), scope, fields);
  if (closure.errors.length > 0)
    throw new UsageError(`invalid backup scope: ${closure.errors.join('; ')}`, closure.errors);
  const chosen = rows.filter((r) => closure.tables.has(key(r)));
  const relations = new Set(chosen.flatMap((r) => [key(r), ...(r.ancestors ?? [])]));
  return {
    included: closure.included,
    relations,
    tables: chosen.map((r) => ({
      schema: r.schema,
      name: r.name,
      bytes: Number(r.bytes),
      columns: r.columns.filter((c) => c.generated === '').map((c) => ({ name: c.name, type: c.type })),
    })),
  };
}

/**
 * Every foreign key between ordinary tables: a key declared on a partitioned table appears once per partition
 * (PostgreSQL clones it), and a key referencing a partitioned table is expanded to its leaf partitions.
 */
async function readForeignKeys(client: pg.ClientBase): Promise<ScopeForeignKey[]> {
  const { rows } = await client.query<{ name: string; from_table: string; to_table: string; columns: string[] }>(`
    SELECT DISTINCT con.conname AS name, fn.nspname || '.' || fc.relname AS from_table, tn.nspname || '.' || tc.relname AS to_table,
           (SELECT array_agg(a.attname::text ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
              JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n) AS columns
    FROM pg_constraint con
    JOIN pg_class fc ON fc.oid = con.conrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace
    CROSS JOIN LATERAL (SELECT t.relid FROM pg_partition_tree(con.confrelid) t WHERE t.isleaf
                        UNION SELECT con.confrelid WHERE (SELECT relkind FROM pg_class WHERE oid = con.confrelid) = 'r') leaf
    JOIN pg_class tc ON tc.oid = leaf.relid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
    WHERE con.contype = 'f' AND fc.relkind = 'r'
    ORDER BY 2, 1, 3`);
  return rows.map((r) => ({ name: r.name, from: r.from_table, to: r.to_table, columns: r.columns }));
}

/** A materialized view in scope, and whether it was populated (restore refreshes those that were). */
export interface DiscoveredMaterializedView {
  schema: string;
  name: string;
  populated: boolean;
}

/** Every materialized view in scope (a view is not data: restore recomputes it; the manifest says which were populated). */
export async function discoverMaterializedViews(
  client: pg.ClientBase,
  scope: Scope,
): Promise<DiscoveredMaterializedView[]> {
  const { rows } = await client.query<{ schema: string; name: string; populated: boolean }>(`
    SELECT n.nspname AS schema, c.relname AS name, c.relispopulated AS populated
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'm'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY n.nspname, c.relname`);
  return rows.filter((r) => tableInScope(r.schema, r.name, scope));
}

/** Every schema and every table (ordinary or partitioned, as `schema.table`) of the database: to check a scope's names. */
export async function readScopeNames(client: pg.ClientBase): Promise<{ schemas: Set<string>; tables: Set<string> }> {
  const schemas = await client.query<{ name: string }>('SELECT nspname AS name FROM pg_namespace');
  const tables = await client.query<{ name: string }>(`
    SELECT n.nspname || '.' || c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')`);
  return { schemas: new Set(schemas.rows.map((r) => r.name)), tables: new Set(tables.rows.map((r) => r.name)) };
}

/**
 * Every sequence in scope: those owned by a backed-up table (or by a partitioned table one of whose partitions is
 * backed up: `relations`), and those owned by no column in a schema in scope.
 */
export async function discoverSequences(
  client: pg.ClientBase,
  scope: Scope,
  relations: ReadonlySet<string>,
): Promise<DiscoveredSequence[]> {
  const { rows } = await client.query<{
    schema: string;
    name: string;
    owner_schema: string | null;
    owner_table: string | null;
    owner_column: string | null;
  }>(`
    SELECT n.nspname AS schema, c.relname AS name,
           tn.nspname AS owner_schema, t.relname AS owner_table, a.attname AS owner_column
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
                         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_class t ON t.oid = d.refobjid
    LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
    WHERE c.relkind = 'S'
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
    ORDER BY n.nspname, c.relname`);
  return rows
    .filter((r) =>
      r.owner_table && r.owner_column
        ? relations.has(`${r.owner_schema}.${r.owner_table}`)
        : schemaInScope(r.schema, scope),
    )
    .map((r) => ({
      schema: r.schema,
      name: r.name,
      ...(r.owner_table && r.owner_column
        ? { ownedBy: { schema: r.owner_schema!, table: r.owner_table, column: r.owner_column } }
        : {}),
    }));
}

/** sha256 over the captured tables' names and column names and types, in a canonical order. */
export function structureFingerprint(
  tables: Array<{ schema: string; name: string; columns: DiscoveredColumn[] }>,
): string {
  const canonical = [...tables]
    .sort((a, b) => (a.schema === b.schema ? cmp(a.name, b.name) : cmp(a.schema, b.schema)))
    .map((t) => [t.schema, t.name, t.columns.map((c) => [c.name, c.type])]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
