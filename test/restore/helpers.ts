import { withClient } from '../../shared/pg/connect';

/** Every user table's rows as an ordered hash (md5 of the sorted row texts), by schema.table. */
export async function tableHashes(url: string): Promise<Record<string, { rows: number; md5: string }>> {
  return withClient(url, async (c) => {
    const { rows: tables } = await c.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2`,
    );
    const out: Record<string, { rows: number; md5: string }> = {};
    for (const t of tables) {
      const q = `"${t.schema.replace(/"/g, '""')}"."${t.name.replace(/"/g, '""')}"`;
      const { rows } = await c.query<{ n: string; h: string }>(
        `SELECT count(*)::text AS n, md5(coalesce(string_agg(x.r, E'\\n' ORDER BY x.r), '')) AS h FROM (SELECT t::text AS r FROM ${q} t) x`,
      );
      out[`${t.schema}.${t.name}`] = { rows: Number(rows[0]!.n), md5: rows[0]!.h };
    }
    return out;
  });
}

/** Every sequence's state (last_value, is_called). */
export async function sequenceStates(url: string): Promise<Record<string, string>> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
    );
    const out: Record<string, string> = {};
    for (const s of rows) {
      const { rows: v } = await c.query(
        `SELECT last_value::text || '/' || is_called::text AS v FROM "${s.schema}"."${s.name}"`,
      );
      out[`${s.schema}.${s.name}`] = v[0].v;
    }
    return out;
  });
}

/** Everything observable about a database's data: table contents and sequence states. */
export async function snapshotOf(url: string) {
  return { tables: await tableHashes(url), sequences: await sequenceStates(url) };
}

export { withClient };

export async function exec(url: string, sql: string): Promise<void> {
  await withClient(url, (c) => c.query(sql));
}
