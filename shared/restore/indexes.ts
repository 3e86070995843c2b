/**
 * Indexes of the loaded tables, set aside for the load and rebuilt after it, inside the restore transaction: building
 * an index once over the loaded rows (a sort) is much cheaper than maintaining it row by row, which is what
 * pg_restore gains when it restores a whole schema. Primary and unique keys are rebuilt the same way, and the
 * rebuild enforces them: a duplicate fails the restore before COMMIT (it rolls back). The index and constraint names,
 * definitions (pg_get_indexdef: method, columns, INCLUDE, WHERE, storage parameters) and ownership stay the same.
 *
 * Only what can be put back exactly is set aside; anything else stays and is maintained during the load as before:
 * a table the role does not own, an index with a comment, a statistics target, a tablespace of its own, used as
 * replica identity or for CLUSTER, attached to a partitioned index, invalid, or that something depends on (a key
 * referenced by a foreign key, a view grouping by it, an extension); exclusion and deferrable constraints.
 */
import type pg from 'pg';
import { quoteIdent as ident, qualifiedName as qualified } from '../pg/ident';

export interface SetAsideIndex {
  table: string;
  schema: string;
  tableName: string;
  name: string;
  /** pg_get_indexdef(): the CREATE [UNIQUE] INDEX statement that rebuilds it. */
  definition: string;
  /** The primary key or unique constraint it backs, re-attached after the rebuild (ADD CONSTRAINT ... USING INDEX). */
  constraint?: { name: string; type: 'p' | 'u' };
}

/** The loaded tables' indexes that can be dropped now and rebuilt exactly after the load. */
export async function indexesToSetAside(
  client: pg.ClientBase,
  tables: Array<{ schema: string; name: string }>,
): Promise<SetAsideIndex[]> {
  if (tables.length === 0) return [];
  const { rows } = await client.query<{
    schema: string;
    table: string;
    name: string;
    definition: string;
    conname: string | null;
    contype: 'p' | 'u' | null;
  }>(
    `SELECT n.nspname AS schema, c.relname AS table, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
            con.conname, con.contype
     FROM pg_index i
     JOIN pg_class ic ON ic.oid = i.indexrelid
     JOIN pg_class c ON c.oid = i.indrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
     WHERE c.oid = ANY ($1::regclass[])
       AND c.relkind = 'r' AND pg_has_role(c.relowner, 'USAGE')
       AND i.indisvalid AND i.indisready AND i.indislive AND NOT i.indisreplident AND NOT i.indisclustered
       AND ic.reltablespace = 0
       AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
       AND NOT EXISTS (SELECT 1 FROM pg_description d WHERE d.classoid = 'pg_class'::regclass AND d.objoid = i.indexrelid)
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0)
       AND (con.oid IS NULL OR (con.contype IN ('p', 'u') AND NOT con.condeferrable AND con.conislocal AND con.coninhcount = 0
            AND NOT EXISTS (SELECT 1 FROM pg_description d WHERE d.classoid = 'pg_constraint'::regclass AND d.objoid = con.oid)
            AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_constraint'::regclass AND d.refobjid = con.oid
                              AND NOT (d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid))))
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid
                         AND NOT (d.classid = 'pg_constraint'::regclass AND d.objid IS NOT DISTINCT FROM con.oid))
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.deptype = 'e')
     ORDER BY 1, 2, 3`,
    [tables.map((t) => qualified(t.schema, t.name))],
  );
  return rows.map((r) => ({
    table: `${r.schema}.${r.table}`,
    schema: r.schema,
    tableName: r.table,
    name: r.name,
    definition: r.definition,
    ...(r.conname && r.contype ? { constraint: { name: r.conname, type: r.contype } } : {}),
  }));
}

/** Drops them (inside the transaction: a rollback brings them back as they were). */
export async function dropIndexes(client: pg.ClientBase, indexes: SetAsideIndex[]): Promise<void> {
  for (const ix of indexes) {
    if (ix.constraint)
      await client.query(
        `ALTER TABLE ${qualified(ix.schema, ix.tableName)} DROP CONSTRAINT ${ident(ix.constraint.name)}`,
      );
    else await client.query(`DROP INDEX ${qualified(ix.schema, ix.name)}`);
  }
}

/** Rebuilds one: the index from its definition, then the constraint it backed on it. A duplicate key throws. */
export async function rebuildIndex(client: pg.ClientBase, ix: SetAsideIndex): Promise<void> {
  await client.query(ix.definition);
  if (ix.constraint) {
    const kind = ix.constraint.type === 'p' ? 'PRIMARY KEY' : 'UNIQUE';
    await client.query(
      `ALTER TABLE ${qualified(ix.schema, ix.tableName)} ADD CONSTRAINT ${ident(ix.constraint.name)} ${kind} USING INDEX ${ident(ix.name)}`,
    );
  }
}
