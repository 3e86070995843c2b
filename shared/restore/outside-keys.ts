/** Preflight check of the foreign keys from restored tables into tables that are not restored, against the target's rows. */
import type pg from 'pg';
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { splitCopyLine } from '../pgcopy/copy-text';
import type { PlannedTable } from './preflight';
import { leafForeignKeys, withPartitionedParents, type TargetForeignKey, type TargetSchema } from './target-schema';
import { quoteIdent as ident, qualifiedName as qualified } from '../pg/ident';

/** Keys checked per query: memory stays bounded whatever the table's size. */
const BATCH = 5_000;

/**
 * Preflight, before anything is loaded: every foreign key from a restored table to a table that is not restored
 * must be satisfied by the target's rows (or, when that table is emptied by this restore, by none). The restored
 * table's data is streamed from the source (`rows`: COPY text) and its keys looked up in the target, a batch at a time.
 * Returns one problem per key that some rows would break: the key, the table and how many rows.
 */
export async function checkOutsideKeys(
  client: pg.ClientBase,
  rows: (table: PlannedTable) => Promise<Readable>,
  planned: PlannedTable[],
  target: TargetSchema,
  truncated: ReadonlySet<string>,
): Promise<string[]> {
  const loaded = new Map(planned.map((t) => [t.key, t]));
  // a partitioned table one of whose partitions is loaded is checked after the load, with the rest of its rows
  const loading = withPartitionedParents(target, loaded.keys());
  const problems: string[] = [];
  for (const fk of leafForeignKeys(target)) {
    const table = loaded.get(fk.from);
    if (!table || loading.has(fk.to)) continue;
    const referenced = target.tables.get(fk.to);
    const indexes = fk.columns.map((c) => table.source.columns.findIndex((s) => s.name === c));
    if (!referenced || indexes.some((i) => i < 0)) continue; // a key column not in the backup: drift, reported already
    const types = fk.refColumns.map((c) => referenced.columns.find((rc) => rc.name === c)?.type ?? 'text');
    const emptied = truncated.has(fk.to);
    const missing = await countMissing(client, rows, table, fk, indexes, types, emptied);
    if (missing > 0) {
      problems.push(
        `foreign key ${fk.name} of ${fk.from} (${fk.columns.join(', ')}): ${missing} row${missing === 1 ? '' : 's'} of the backup reference ${fk.to} rows ` +
          `that the target does not have (${fk.to} is not being restored${emptied ? ' and this restore empties it' : ''}); restore ${fk.to} too, or load those rows first`,
      );
    }
  }
  return problems;
}

async function countMissing(
  client: pg.ClientBase,
  rows: (table: PlannedTable) => Promise<Readable>,
  table: PlannedTable,
  fk: TargetForeignKey,
  indexes: number[],
  types: string[],
  emptied: boolean,
): Promise<number> {
  const full = fk.matchFull && fk.columns.length > 1;
  const [schema, name] = [fk.to.slice(0, fk.to.indexOf('.')), fk.to.slice(fk.to.indexOf('.') + 1)];
  const match = fk.refColumns.map((c, i) => `p.${ident(c)} = k.c${i}::${types[i]}`).join(' AND ');
  const params = fk.columns.map((_, i) => `$${i + 1}::text[]`).join(', ');
  const sql = `SELECT count(*)::int AS n FROM unnest(${params}) AS k(${fk.columns.map((_, i) => `c${i}`).join(', ')})
               WHERE NOT EXISTS (SELECT 1 FROM ${qualified(schema, name)} p WHERE ${match})`;
  let missing = 0;
  let batch: string[][] = fk.columns.map(() => []);
  const flush = async () => {
    if (batch[0]!.length === 0) return;
    if (emptied) missing += batch[0]!.length;
    else missing += (await client.query<{ n: number }>(sql, batch)).rows[0]!.n;
    batch = fk.columns.map(() => []);
  };
  const source = await rows(table);
  const lines = createInterface({ input: source, crlfDelay: Infinity });
  for await (const line of lines) {
    const fields = splitCopyLine(line);
    const values = indexes.map((i) => fields[i] ?? null);
    const nulls = values.filter((v) => v === null).length;
    if (nulls === values.length) continue; // no reference
    if (nulls > 0) {
      if (full) missing++; // MATCH FULL: a partly NULL key is a violation
      continue; // MATCH SIMPLE: any NULL exempts the row
    }
    values.forEach((v, i) => batch[i]!.push(v!));
    if (batch[0]!.length >= BATCH) await flush();
  }
  await flush();
  return missing;
}
