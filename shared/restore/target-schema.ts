/** The target database's schema, read from pg_catalog once before a restore. */
import type pg from 'pg';
import type { FkEdge } from './fk-order';
import { qualifiedName as qualified } from '../pg/ident';

/** What the target database looks like, read from pg_catalog before anything is changed. */
export interface TargetColumn {
  name: string;
  /** format_type(), as the backup records it. */
  type: string;
  /** Stored generated column: never restored, recomputed by PostgreSQL. */
  generated: boolean;
  /** 'a' GENERATED ALWAYS, 'd' BY DEFAULT, '' none. */
  identity: '' | 'a' | 'd';
  notNull: boolean;
  hasDefault: boolean;
}

export interface TargetTable {
  schema: string;
  name: string;
  key: string;
  columns: TargetColumn[];
  /** User triggers that fire in a normal session (ENABLE, or ENABLE ALWAYS). */
  triggers: string[];
  /** User triggers that fire even under session_replication_role = replica (ENABLE ALWAYS, ENABLE REPLICA). */
  replicaTriggers: string[];
}

export interface TargetForeignKey extends FkEdge {
  columns: string[];
  refColumns: string[];
  /** MATCH FULL: the key's columns are all NULL or none is. (MATCH SIMPLE, the default: any NULL exempts the row.) */
  matchFull: boolean;
}

export interface TargetSequence {
  schema: string;
  name: string;
  key: string;
}

export interface TargetSchema {
  database: string;
  tables: Map<string, TargetTable>;
  foreignKeys: TargetForeignKey[];
  sequences: Map<string, TargetSequence>;
  /** Materialized views, each after the views it reads (the order to refresh them in). */
  materializedViews: Array<{ schema: string; name: string; key: string }>;
  /** Partitioned tables (schema.table) and their leaf partitions, which hold the rows (and are what a backup holds). */
  partitions: Map<string, string[]>;
}

/** The partitioned tables whose partition tree holds `key` (a leaf). */
export function partitionedParents(target: Pick<TargetSchema, 'partitions'>, key: string): string[] {
  return [...target.partitions].filter(([, leaves]) => leaves.includes(key)).map(([parent]) => parent);
}

/**
 * The foreign keys as the rows see them: a key declared on a partitioned table once per leaf partition (the rows are
 * there; the partitions have the parent's column names). A key referencing a partitioned table keeps it as `to`.
 */
export function leafForeignKeys(target: Pick<TargetSchema, 'partitions' | 'foreignKeys'>): TargetForeignKey[] {
  return target.foreignKeys.flatMap((fk) =>
    target.partitions.has(fk.from) ? target.partitions.get(fk.from)!.map((leaf) => ({ ...fk, from: leaf })) : [fk],
  );
}

/** `keys` and every partitioned table one of whose leaves is among them. */
export function withPartitionedParents(target: Pick<TargetSchema, 'partitions'>, keys: Iterable<string>): Set<string> {
  const out = new Set(keys);
  for (const [parent, leaves] of target.partitions) if (leaves.some((l) => out.has(l))) out.add(parent);
  return out;
}

/**
 * The tables whose foreign keys reach `keys`, transitively (what truncating `keys` must truncate too), with the key
 * through which each was reached, in discovery order. A key may reference (or be declared on) a partitioned table:
 * it reaches its partitions. `reached` holds `keys`, their partitioned parents and every table reached.
 */
export function referencingClosure(
  target: Pick<TargetSchema, 'partitions' | 'foreignKeys'>,
  keys: Iterable<string>,
): { reached: Set<string>; via: TargetForeignKey[] } {
  const reached = withPartitionedParents(target, keys);
  const via: TargetForeignKey[] = [];
  const fks = leafForeignKeys(target);
  for (let grew = true; grew;) {
    grew = false;
    for (const fk of fks) {
      if (reached.has(fk.to) && !reached.has(fk.from)) {
        reached.add(fk.from);
        via.push(fk);
        grew = true;
      }
    }
  }
  return { reached, via };
}

export const tableKey = (schema: string, name: string) => `${schema}.${name}`;

const SYSTEM_SCHEMA = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

export async function readTargetSchema(client: pg.ClientBase): Promise<TargetSchema> {
  const database = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
  const tables = await client.query<{
    schema: string;
    name: string;
    columns: Array<{
      name: string;
      type: string;
      generated: string;
      identity: string;
      not_null: boolean;
      has_default: boolean;
    }>;
    triggers: string[];
    replica_triggers: string[];
  }>(`
    SELECT n.nspname AS schema, c.relname AS name,
           coalesce((SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                                                       'generated', a.attgenerated, 'identity', a.attidentity,
                                                       'not_null', a.attnotnull, 'has_default', a.atthasdef) ORDER BY a.attnum)
                     FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns,
           coalesce((SELECT array_agg(t.tgname::text ORDER BY t.tgname) FROM pg_trigger t
                     WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled IN ('O', 'A')), '{}') AS triggers,
           coalesce((SELECT array_agg(t.tgname::text ORDER BY t.tgname) FROM pg_trigger t
                     WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgenabled IN ('A', 'R')), '{}') AS replica_triggers
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND ${SYSTEM_SCHEMA}
    ORDER BY 1, 2`);
  const fks = await client.query<{
    name: string;
    from_schema: string;
    from_table: string;
    to_schema: string;
    to_table: string;
    deferrable: boolean;
    match_full: boolean;
    columns: string[];
    ref_columns: string[];
  }>(`
    SELECT con.conname AS name, fn.nspname AS from_schema, fc.relname AS from_table,
           tn.nspname AS to_schema, tc.relname AS to_table, con.condeferrable AS deferrable, con.confmatchtype = 'f' AS match_full,
           (SELECT array_agg(a.attname::text ORDER BY k.i) FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
              JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n) AS columns,
           (SELECT array_agg(a.attname::text ORDER BY k.i) FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
              JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n) AS ref_columns
    FROM pg_constraint con
    JOIN pg_class fc ON fc.oid = con.conrelid JOIN pg_namespace fn ON fn.oid = fc.relnamespace
    JOIN pg_class tc ON tc.oid = con.confrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
    WHERE con.contype = 'f' AND con.conparentid = 0
    ORDER BY 1, 2, 3`);
  const seqs = await client.query<{ schema: string; name: string }>(`
    SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S' AND ${SYSTEM_SCHEMA} ORDER BY 1, 2`);
  const parts = await client.query<{ parent: string; leaf: string }>(`
    SELECT n.nspname || '.' || c.relname AS parent, ln.nspname || '.' || l.relname AS leaf
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL pg_partition_tree(c.oid) t
    JOIN pg_class l ON l.oid = t.relid JOIN pg_namespace ln ON ln.oid = l.relnamespace
    WHERE c.relkind = 'p' AND t.isleaf AND ${SYSTEM_SCHEMA}
    ORDER BY 1, 2`);
  const views = await client.query<{ schema: string; name: string; reads: string[] | null }>(`
    SELECT n.nspname AS schema, c.relname AS name,
           (SELECT array_agg(DISTINCT dn.nspname || '.' || dc.relname) FROM pg_rewrite r
              JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
              JOIN pg_class dc ON dc.oid = d.refobjid AND dc.relkind = 'm' AND dc.oid <> c.oid
              JOIN pg_namespace dn ON dn.oid = dc.relnamespace
             WHERE r.ev_class = c.oid) AS reads
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'm' AND ${SYSTEM_SCHEMA}
    ORDER BY 1, 2`);
  const materializedViews: TargetSchema['materializedViews'] = [];
  const pending = views.rows.map((r) => ({
    schema: r.schema,
    name: r.name,
    key: tableKey(r.schema, r.name),
    reads: r.reads ?? [],
  }));
  while (pending.length > 0) {
    const done = new Set(materializedViews.map((v) => v.key));
    const next = pending.findIndex((v) => v.reads.every((k) => done.has(k) || !pending.some((p) => p.key === k)));
    const [v] = pending.splice(next === -1 ? 0 : next, 1);
    materializedViews.push({ schema: v!.schema, name: v!.name, key: v!.key });
  }
  const partitions = new Map<string, string[]>();
  for (const r of parts.rows) partitions.set(r.parent, [...(partitions.get(r.parent) ?? []), r.leaf]);
  return {
    database,
    partitions,
    materializedViews,
    tables: new Map(
      tables.rows.map((r) => [
        tableKey(r.schema, r.name),
        {
          schema: r.schema,
          name: r.name,
          key: tableKey(r.schema, r.name),
          triggers: r.triggers,
          replicaTriggers: r.replica_triggers,
          columns: r.columns.map((c) => ({
            name: c.name,
            type: c.type,
            generated: c.generated !== '',
            identity: (c.identity || '') as TargetColumn['identity'],
            notNull: c.not_null,
            hasDefault: c.has_default,
          })),
        },
      ]),
    ),
    foreignKeys: fks.rows.map((r) => ({
      name: r.name,
      from: tableKey(r.from_schema, r.from_table),
      to: tableKey(r.to_schema, r.to_table),
      deferrable: r.deferrable,
      matchFull: r.match_full,
      columns: r.columns,
      refColumns: r.ref_columns,
    })),
    sequences: new Map(
      seqs.rows.map((r) => [
        tableKey(r.schema, r.name),
        { schema: r.schema, name: r.name, key: tableKey(r.schema, r.name) },
      ]),
    ),
  };
}

/** Which of `tables` hold at least one row. */
export async function nonEmptyTables(
  client: pg.ClientBase,
  tables: Array<{ schema: string; name: string }>,
): Promise<string[]> {
  const out: string[] = [];
  for (const t of tables) {
    const { rows } = await client.query<{ has: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${qualified(t.schema, t.name)}) AS has`,
    );
    if (rows[0]!.has) out.push(tableKey(t.schema, t.name));
  }
  return out;
}

/**
 * Whether this role may set session_replication_role (superuser, Supabase's postgres role, or GRANT SET ON
 * PARAMETER on 15+).
 * Probed inside a transaction that is rolled back: nothing changes.
 */
export async function canUseReplicaRole(client: pg.ClientBase): Promise<boolean> {
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL session_replication_role = replica');
    return true;
  } catch {
    return false;
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
}

/** Identifier quoting: the same rules as the backup side (one implementation, in backup/scope). */
