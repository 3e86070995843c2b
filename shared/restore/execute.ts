import type pg from 'pg';
import { OpsError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import type { PlannedTable, Preflight } from './preflight';
import type { TargetForeignKey } from './target-schema';
import { quoteIdent as ident, qualifiedName as qualified } from '../pg/ident';
import { copyTextSettingsSql } from '../pg/copy-text';

/**
 * The restore itself, in ONE transaction: defer constraints, truncate, load every table in foreign-key order,
 * set the sequences, check row counts, and only then COMMIT. Any error rolls everything back.
 */
export interface LoadedTable {
  table: string;
  rows: number;
  /** Raw (uncompressed) bytes loaded. */
  bytes: number;
}

export type TableLoader = (
  client: pg.ClientBase,
  table: PlannedTable,
  report: (rows: number, bytes: number) => void,
) => Promise<LoadedTable>;

export type RestoreProgress =
  | { phase: 'table'; table: string; index: number; total: number; rows: number; bytes: number; done: boolean }
  | { phase: 'sequences'; count: number }
  | { phase: 'committing' };

export interface ExecuteOptions {
  client: pg.ClientBase;
  preflight: Preflight;
  foreignKeys: TargetForeignKey[];
  load: TableLoader;
  /** Runs first inside the transaction (the legacy format stages its rows there). */
  prepare?: (client: pg.ClientBase) => Promise<void>;
  /** Runs after the tables are loaded, inside the transaction: recreates the backup's large objects. */
  largeObjects?: (client: pg.ClientBase) => Promise<void>;
  /** 'recorded': setval to the backup's values. 'max-id': the legacy format's only option. */
  sequences: 'recorded' | 'max-id';
  /** Materialized views to refresh (or empty WITH NO DATA) once the data is in, in order. */
  materializedViews?: Array<{ schema: string; name: string; action: 'refresh' | 'no-data' | 'keep' }>;
  /** Rows each table must have once loaded (the manifest's count). */
  expectedRows: (table: PlannedTable) => number | undefined;
  /** After every check, before COMMIT/ROLLBACK: the restore drill hashes the tables here. */
  beforeFinish?: (client: pg.ClientBase) => Promise<void>;
  /** 'rollback' leaves the target untouched (the drill, on a reusable scratch database). */
  finish?: 'commit' | 'rollback';
  onProgress?: (p: RestoreProgress) => void;
  /** Test hook: runs before each table's load, inside the transaction. */
  beforeTable?: (table: string, index: number) => Promise<void>;
}

export interface ExecuteResult {
  tables: LoadedTable[];
  sequences: Array<{ sequence: string; value: string; isCalled: boolean }>;
}

/** Settings of the restore transaction: the COPY text settings the backup was written under, and limits. */
const SETTINGS = [
  ...copyTextSettingsSql('local'),
  'SET LOCAL statement_timeout = 0',
  "SET LOCAL application_name = 'mt-ops restore'",
];

export async function executeRestore(options: ExecuteOptions): Promise<ExecuteResult> {
  const { client, preflight } = options;
  let stage = 'starting the transaction';
  const loaded: LoadedTable[] = [];
  const sequences: ExecuteResult['sequences'] = [];
  await client.query('BEGIN');
  try {
    for (const sql of SETTINGS) await client.query(sql);
    await client.query('SET CONSTRAINTS ALL DEFERRED');
    if (options.prepare) {
      stage = 'reading the legacy file';
      await options.prepare(client);
    }
    if (preflight.truncate.length > 0) {
      stage = 'truncating';
      const names = preflight.truncate.map((k) => qualifiedKey(preflight, k));
      await client.query(`TRUNCATE TABLE ${names.join(', ')}`);
    }
    if (preflight.replica) await client.query('SET LOCAL session_replication_role = replica');
    const total = preflight.tables.length;
    for (const [index, table] of preflight.tables.entries()) {
      stage = `table ${table.key}`;
      await options.beforeTable?.(table.key, index);
      options.onProgress?.({ phase: 'table', table: table.key, index, total, rows: 0, bytes: 0, done: false });
      const result = await options.load(client, table, (rows, bytes) =>
        options.onProgress?.({ phase: 'table', table: table.key, index, total, rows, bytes, done: false }),
      );
      const expected = options.expectedRows(table);
      if (expected !== undefined && result.rows !== expected) {
        throw new Error(`${result.rows} rows loaded, the backup says ${expected}`);
      }
      loaded.push(result);
      options.onProgress?.({ phase: 'table', table: table.key, index, total, rows: result.rows, bytes: result.bytes, done: true });
    }
    if (options.largeObjects) {
      stage = 'large objects';
      await options.largeObjects(client);
    }
    if (preflight.replica) {
      await client.query('SET LOCAL session_replication_role = origin');
      stage = 'checking the foreign keys (loaded with session_replication_role = replica)';
      const loadedKeys = new Set(preflight.tables.map((t) => t.key));
      await checkForeignKeys(client, options.foreignKeys.filter((fk) => loadedKeys.has(fk.from)));
    }

    stage = 'checking deferred constraints';
    await client.query('SET CONSTRAINTS ALL IMMEDIATE');
    for (const view of options.materializedViews ?? []) {
      if (view.action === 'keep') continue;
      stage = `refreshing materialized view ${view.schema}.${view.name}`;
      await client.query(`REFRESH MATERIALIZED VIEW ${qualified(view.schema, view.name)}${view.action === 'no-data' ? ' WITH NO DATA' : ''}`);
    }
    if (options.beforeFinish) {
      stage = 'checking the restored data';
      await options.beforeFinish(client);
    }
    stage = 'setting sequences';
    if (options.sequences === 'recorded') {
      for (const s of preflight.sequences) {
        await setSequence(client, qualified(s.schema, s.name), s.lastValue, s.isCalled);
        sequences.push({ sequence: `${s.schema}.${s.name}`, value: s.lastValue, isCalled: s.isCalled });
      }
    } else {
      sequences.push(...(await sequencesFromMaxId(client, preflight.tables)));
    }
    options.onProgress?.({ phase: 'sequences', count: sequences.length });

    stage = 'committing';
    options.onProgress?.({ phase: 'committing' });
    await client.query(options.finish === 'rollback' ? 'ROLLBACK' : 'COMMIT');
    return { tables: loaded, sequences };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      // the connection is gone: the server has rolled the transaction back itself
    });
    throw new OpsError(
      `restore failed (${stage}): ${redactString(errorMessage(err))}; rolled back, the target is unchanged`,
      'restore_failed',
      { cause: err },
    );
  }
}

/**
 * setval() is not transactional; after ALTER SEQUENCE ... RESTART (which gives the sequence new storage in this
 * transaction) it is: a rollback then leaves the sequence exactly as it was.
 */
async function setSequence(client: pg.ClientBase, sequence: string, value: string, isCalled: boolean): Promise<void> {
  await client.query(`ALTER SEQUENCE ${sequence} RESTART`);
  await client.query('SELECT setval($1::regclass, $2::bigint, $3::boolean)', [sequence, value, isCalled]);
}

function qualifiedKey(preflight: Preflight, key: string): string {
  const planned = preflight.tables.find((t) => t.key === key);
  if (planned) return qualified(planned.schema, planned.name);
  return qualified(...splitKey(key));
}

/**
 * Foreign keys the load did not check (replica role): every key of the loaded rows must have its referenced row.
 * One anti-join per key, as ALTER TABLE ... VALIDATE CONSTRAINT does, instead of one lookup per row.
 * MATCH SIMPLE exempts a row with any NULL in the key; MATCH FULL allows only all or none NULL.
 */
async function checkForeignKeys(client: pg.ClientBase, fks: TargetForeignKey[]): Promise<void> {
  for (const fk of fks) {
    const [fs, ft] = splitKey(fk.from);
    const [ts, tt] = splitKey(fk.to);
    const allSet = fk.columns.map((c) => `c.${ident(c)} IS NOT NULL`).join(' AND ');
    const match = fk.columns.map((c, i) => `p.${ident(fk.refColumns[i]!)} = c.${ident(c)}`).join(' AND ');
    const missing = `(${allSet} AND NOT EXISTS (SELECT 1 FROM ${qualified(ts, tt)} p WHERE ${match}))`;
    // MATCH FULL matters only for a key of several columns: then a partly NULL key is a violation too
    const full = fk.matchFull && fk.columns.length > 1;
    const partlyNull = `(NOT (${allSet}) AND NOT (${fk.columns.map((c) => `c.${ident(c)} IS NULL`).join(' AND ')}))`;
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${qualified(fs, ft)} c WHERE ${full ? `${missing} OR ${partlyNull}` : missing}`,
    );
    if (rows[0]!.n !== '0') {
      const partly = full ? ' or hold a partly NULL key (MATCH FULL)' : '';
      throw new Error(`foreign key ${fk.name} on ${fk.from}: ${rows[0]!.n} rows reference missing rows of ${fk.to}${partly}`);
    }
  }
}

function splitKey(key: string): [string, string] {
  const dot = key.indexOf('.');
  return [key.slice(0, dot), key.slice(dot + 1)];
}

/** Legacy only (the format records no sequence values): each owned sequence set from its column's max. */
async function sequencesFromMaxId(client: pg.ClientBase, tables: PlannedTable[]): Promise<ExecuteResult['sequences']> {
  const out: ExecuteResult['sequences'] = [];
  for (const t of tables) {
    const { rows } = await client.query<{ seq_schema: string; seq_name: string; column: string; min: string }>(
      `SELECT sn.nspname AS seq_schema, s.relname AS seq_name, a.attname AS column, ps.seqmin::text AS min
       FROM pg_depend d
       JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
       JOIN pg_namespace sn ON sn.oid = s.relnamespace
       JOIN pg_sequence ps ON ps.seqrelid = s.oid
       JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
       WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
         AND d.refobjid = $1::regclass`,
      [qualified(t.schema, t.name)],
    );
    for (const r of rows) {
      const { rows: max } = await client.query<{ m: string | null }>(`SELECT max(${ident(r.column)})::text AS m FROM ${qualified(t.schema, t.name)}`);
      const m = max[0]!.m;
      await setSequence(client, qualified(r.seq_schema, r.seq_name), m ?? r.min, m !== null);
      out.push({ sequence: `${r.seq_schema}.${r.seq_name}`, value: m ?? r.min, isCalled: m !== null });
    }
  }
  return out;
}
