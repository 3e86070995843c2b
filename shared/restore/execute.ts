/**
 * The restore itself, in ONE transaction: defer constraints, truncate, set the loaded tables' indexes aside, load
 * every table in foreign-key order, rebuild the indexes (keys enforced), check the foreign keys the load did not,
 * set the sequences, and only then COMMIT. Any error rolls everything back.
 */
import type pg from 'pg';
import { OpsError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import type { PlannedTable, Preflight } from './preflight';
import type { TargetForeignKey } from './target-schema';
import { quoteIdent as ident, qualifiedName as qualified } from '../pg/ident';
import { copyTextSettingsSql } from '../pg/copy-text';
import { dropIndexes, indexesToSetAside, rebuildIndex } from './indexes';

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
  /**
   * The table was truncated in this transaction: COPY may load it frozen (WITH (FREEZE)): its rows are then visible
   * to all and frozen from the start, so no later VACUUM or first read rewrites every page (hint bits, freezing).
   */
  how: { freeze: boolean },
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
  /** Indexes dropped before the load and rebuilt after it (schema.index). */
  rebuiltIndexes: string[];
  /** Where the time went, in ms. */
  timings: RestoreTimings;
}

export interface RestoreTimings {
  /** BEGIN to the first row: settings, staging (legacy), truncation, setting indexes aside. */
  prepareMs: number;
  /** The tables' COPY (and large objects). */
  loadMs: number;
  /** Rebuilding the indexes set aside (primary and unique keys enforced). */
  indexMs: number;
  /** Checking the foreign keys (after a replica load), and the deferred constraints. */
  keyCheckMs: number;
  /** Materialized views and the drill's checks. */
  afterMs: number;
  sequencesMs: number;
  commitMs: number;
}

/** Settings of the restore transaction: the COPY text settings the backup was written under, and limits. */
const SETTINGS = [
  ...copyTextSettingsSql('local'),
  'SET LOCAL statement_timeout = 0',
  "SET LOCAL application_name = 'mt-ops restore'",
];

/**
 * Index builds and the key checks' hash joins: in memory rather than in temporary files (server memory, for this
 * transaction only). Raised to these, never lowered.
 */
const MEMORY: Array<[setting: string, kB: number]> = [
  ['maintenance_work_mem', 256 * 1024],
  ['work_mem', 64 * 1024],
];

export async function executeRestore(options: ExecuteOptions): Promise<ExecuteResult> {
  const { client, preflight } = options;
  let stage = 'starting the transaction';
  const loaded: LoadedTable[] = [];
  const sequences: ExecuteResult['sequences'] = [];
  const timings: RestoreTimings = {
    prepareMs: 0,
    loadMs: 0,
    indexMs: 0,
    keyCheckMs: 0,
    afterMs: 0,
    sequencesMs: 0,
    commitMs: 0,
  };
  let clock = Date.now();
  const lap = (phase: keyof RestoreTimings) => {
    const now = Date.now();
    timings[phase] += now - clock;
    clock = now;
  };
  let setAside: Awaited<ReturnType<typeof indexesToSetAside>> = [];
  await client.query('BEGIN');
  try {
    for (const sql of SETTINGS) await client.query(sql);
    const { rows: memory } = await client.query<{ name: string; kb: string }>(
      `SELECT name, setting AS kb FROM pg_settings WHERE name = ANY ($1) AND unit = 'kB'`,
      [MEMORY.map(([name]) => name)],
    );
    for (const [name, kb] of MEMORY) {
      if (memory.some((m) => m.name === name && Number(m.kb) < kb)) await client.query(`SET LOCAL ${name} = '${kb}kB'`);
    }
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
    // Indexes are built once after the load rather than maintained row by row; only when no trigger fires during the
    // load (one could rely on them, as ON CONFLICT does).
    if (!preflight.triggersFire) {
      stage = 'setting indexes aside';
      setAside = await indexesToSetAside(client, preflight.tables);
      await dropIndexes(client, setAside);
    }
    lap('prepareMs');
    const truncated = new Set(preflight.truncate);
    const total = preflight.tables.length;
    for (const [index, table] of preflight.tables.entries()) {
      stage = `table ${table.key}`;
      await options.beforeTable?.(table.key, index);
      options.onProgress?.({ phase: 'table', table: table.key, index, total, rows: 0, bytes: 0, done: false });
      const result = await options.load(
        client,
        table,
        (rows, bytes) =>
          options.onProgress?.({ phase: 'table', table: table.key, index, total, rows, bytes, done: false }),
        { freeze: truncated.has(table.key) },
      );
      const expected = options.expectedRows(table);
      if (expected !== undefined && result.rows !== expected) {
        throw new Error(`${result.rows} rows loaded, the backup says ${expected}`);
      }
      loaded.push(result);
      options.onProgress?.({
        phase: 'table',
        table: table.key,
        index,
        total,
        rows: result.rows,
        bytes: result.bytes,
        done: true,
      });
    }
    if (options.largeObjects) {
      stage = 'large objects';
      await options.largeObjects(client);
    }
    lap('loadMs');
    for (const ix of setAside) {
      stage = `rebuilding index ${ix.schema}.${ix.name}${ix.constraint ? (ix.constraint.type === 'p' ? ' (primary key)' : ' (unique key)') : ''}`;
      await rebuildIndex(client, ix);
    }
    lap('indexMs');
    if (preflight.replica) {
      await client.query('SET LOCAL session_replication_role = origin');
      stage = 'checking the foreign keys (loaded with session_replication_role = replica)';
      const loadedKeys = new Set(preflight.tables.map((t) => t.key));
      await checkForeignKeys(
        client,
        options.foreignKeys.filter((fk) => loadedKeys.has(fk.from)),
      );
    }

    stage = 'checking deferred constraints';
    await client.query('SET CONSTRAINTS ALL IMMEDIATE');
    lap('keyCheckMs');
    for (const view of options.materializedViews ?? []) {
      if (view.action === 'keep') continue;
      stage = `refreshing materialized view ${view.schema}.${view.name}`;
      await client.query(
        `REFRESH MATERIALIZED VIEW ${qualified(view.schema, view.name)}${view.action === 'no-data' ? ' WITH NO DATA' : ''}`,
      );
    }
    if (options.beforeFinish) {
      stage = 'checking the restored data';
      await options.beforeFinish(client);
    }
    lap('afterMs');
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
    lap('sequencesMs');

    stage = 'committing';
    options.onProgress?.({ phase: 'committing' });
    await client.query(options.finish === 'rollback' ? 'ROLLBACK' : 'COMMIT');
    lap('commitMs');
    return { tables: loaded, sequences, rebuiltIndexes: setAside.map((ix) => `${ix.schema}.${ix.name}`), timings };
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
 * One pass over each referencing table, whatever its number of keys (a LEFT JOIN per key, counted apart), as
 * ALTER TABLE ... VALIDATE CONSTRAINT does for one key, instead of one lookup per row.
 * MATCH SIMPLE exempts a row with any NULL in the key; MATCH FULL allows only all or none NULL.
 */
async function checkForeignKeys(client: pg.ClientBase, fks: TargetForeignKey[]): Promise<void> {
  const byTable = new Map<string, TargetForeignKey[]>();
  for (const fk of fks) byTable.set(fk.from, [...(byTable.get(fk.from) ?? []), fk]);
  for (const [from, keys] of byTable) {
    const joins: string[] = [];
    const counts = keys.map((fk, k) => {
      const [ts, tt] = splitKey(fk.to);
      const p = `p${k}`;
      joins.push(
        `LEFT JOIN ${qualified(ts, tt)} ${p} ON ${fk.columns.map((c, i) => `${p}.${ident(fk.refColumns[i]!)} = c.${ident(c)}`).join(' AND ')}`,
      );
      const allSet = fk.columns.map((c) => `c.${ident(c)} IS NOT NULL`).join(' AND ');
      const missing = `(${allSet} AND ${p}.ctid IS NULL)`;
      const full = fk.matchFull && fk.columns.length > 1;
      const partlyNull = `(NOT (${allSet}) AND NOT (${fk.columns.map((c) => `c.${ident(c)} IS NULL`).join(' AND ')}))`;
      return `count(*) FILTER (WHERE ${full ? `${missing} OR ${partlyNull}` : missing})::text AS k${k}`;
    });
    const [fs, ft] = splitKey(from);
    const { rows } = await client.query<Record<string, string>>(
      `SELECT ${counts.join(', ')} FROM ${qualified(fs, ft)} c ${joins.join(' ')}`,
    );
    keys.forEach((fk, k) => {
      const n = rows[0]![`k${k}`]!;
      if (n !== '0') {
        const partly = fk.matchFull && fk.columns.length > 1 ? ' or hold a partly NULL key (MATCH FULL)' : '';
        throw new Error(
          `foreign key ${fk.name} on ${fk.from}: ${n === '1' ? '1 row references' : `${n} rows reference`} missing rows of ${fk.to}${partly}`,
        );
      }
    });
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
      const { rows: max } = await client.query<{ m: string | null }>(
        `SELECT max(${ident(r.column)})::text AS m FROM ${qualified(t.schema, t.name)}`,
      );
      const m = max[0]!.m;
      await setSequence(client, qualified(r.seq_schema, r.seq_name), m ?? r.min, m !== null);
      out.push({ sequence: `${r.seq_schema}.${r.seq_name}`, value: m ?? r.min, isCalled: m !== null });
    }
  }
  return out;
}
