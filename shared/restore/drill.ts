/** The restore drill: a backup restored into a scratch database and compared table by table, then rolled back. */
import { count } from '../format';
import type pg from 'pg';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { ObjectStore } from '../storage/types';
import type { Manifest } from '../backup/manifest';
import { connect } from '../pg/connect';
import { OpsError, UsageError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { RowSetHash } from '../pgcopy/copy-text';
import type { RestoreProgress } from './execute';
import { restore, RestoreRefused } from './restore';
import { backupSource } from './backup-source';
import { quoteIdent as ident, qualifiedName as qualified } from '../pg/ident';
import { CopyOut } from '../pgcopy/copy-out';
import { checkRestoredLargeObjects } from './large-objects';

/**
 * Restore drill (`mt-ops verify ID --restore-into URL [--template NAME]`): the backup is restored into a scratch
 * database with the real restore (preflight, one transaction, FK order, sequences, row counts), and every table is
 * compared with the backup: row count, and a content hash.
 *
 * Content hash: the manifest holds none, so both sides are hashed here, the same way: an order-independent sum of
 * the sha256 of every COPY text row. One side is the backup's data as it streams into COPY FROM (the object's
 * sha256 is checked too); the other is COPY TO of the restored table, inside the restore transaction, with the same
 * session settings the backup used. Equal hashes mean every value reads back byte for byte the same.
 *
 * The scratch database must be empty (its schema present, no rows in the tables restored), or be created from
 * `template` (a database holding the schema), and then dropped. By default the restore transaction is rolled back
 * after the checks (deferred constraints are checked first), so a scratch database stays empty and reusable.
 */
export interface RestoreDrillOptions {
  store: ObjectStore;
  manifest: Manifest;
  /** The scratch database. */
  databaseUrl: string;
  /** Create the scratch database from this template database first (it must not exist yet); dropped after. */
  template?: string;
  /** Commit the restored data instead of rolling it back. */
  keep?: boolean;
  onProgress?: (p: RestoreProgress) => void;
  /** Stops the drill (the restore rolls back; a database it created is dropped); it rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface DrillTable {
  table: string;
  expectedRows: number;
  rows: number;
  backupHash: string;
  restoredHash: string;
  ok: boolean;
}

export interface RestoreDrillResult {
  ok: boolean;
  backupId: string;
  /** Database name only (never a URL: no password in a record). */
  database: string;
  /** One line per finding; on success, a one-line summary. */
  details: string[];
  tables: DrillTable[];
  durationMs: number;
}

export async function runRestoreDrill(options: RestoreDrillOptions): Promise<RestoreDrillResult> {
  const started = Date.now();
  const database = databaseName(options.databaseUrl);
  const tables: DrillTable[] = [];
  const done = (ok: boolean, details: string[]): RestoreDrillResult => ({
    ok,
    backupId: options.manifest.id,
    database,
    details,
    tables,
    durationMs: Date.now() - started,
  });
  let created = false;
  try {
    if (options.template) {
      await createFromTemplate(options.databaseUrl, database, options.template);
      created = true;
    } else await probeScratch(options.databaseUrl, database, options.manifest.tables);
    const hashes = new Map<string, RowSetHash>();
    await restore(
      {
        databaseUrl: options.databaseUrl,
        source: backupSource(options.store, options.manifest, { hashes }),
        yes: false,
        // rows in the scratch database: the drill is set up wrong (the backup is not at fault)
        confirm: async (plan) => {
          throw new DrillSetupError(
            `--restore-into: scratch database ${database} is not empty: ${plan.preflight.overwrites.length} table(s) hold rows (${plan.preflight.overwrites.join(', ')}); a drill needs an empty scratch database, or --template`,
          );
        },
        safetyBackup: false,
        ...(options.signal ? { signal: options.signal } : {}),
        onProgress: (p) => {
          if (p.phase !== 'safety-backup') options.onProgress?.(p);
        },
      },
      {
        rollback: !options.keep,
        beforeFinish: async (client, plan) => {
          for (const t of plan.preflight.tables) {
            const restored = await hashTable(client, t.schema, t.name, t.columns);
            const backup = hashes.get(t.key);
            const backupHash = backup?.digest() ?? '';
            const expectedRows = t.source.rows ?? 0;
            const ok = restored.rows === expectedRows && restored.digest() === backupHash;
            tables.push({
              table: t.key,
              expectedRows,
              rows: restored.rows,
              backupHash,
              restoredHash: restored.digest(),
              ok,
            });
          }
          const bad = tables.filter((t) => !t.ok);
          const loProblems =
            plan.largeObjects?.action === 'restore'
              ? await checkRestoredLargeObjects(client, options.manifest.largeObjects!)
              : [];
          if (bad.length > 0 || loProblems.length > 0) {
            throw new Error(
              [
                ...bad.map(
                  (t) =>
                    `${t.table}: ${t.rows} rows (backup ${t.expectedRows}), content hash ${t.restoredHash.slice(0, 12)} vs ${t.backupHash.slice(0, 12)}`,
                ),
                ...loProblems,
              ].join('; '),
            );
          }
        },
      },
    );
    const rows = tables.reduce((a, t) => a + t.rows, 0);
    const lo = options.manifest.largeObjects
      ? ` and ${count(options.manifest.largeObjects.count, 'large object')}`
      : '';
    return done(true, [
      `restored ${count(tables.length, 'table')}, ${count(rows, 'row')}${lo} of ${options.manifest.id} into ${database}; every row count and content hash matches (${options.keep ? 'kept' : 'rolled back'})`,
    ]);
  } catch (err) {
    // A drill that could not be set up says nothing about the backup: thrown, never a failed result.
    if (err instanceof DrillSetupError || err instanceof DrillEnvironmentError) throw err;
    if (err instanceof RestoreRefused) return done(false, err.problems.map(redactString));
    return done(false, [redactString(errorMessage(err))]);
  } finally {
    if (created && !options.keep) await dropDatabase(options.databaseUrl, database).catch(() => {});
  }
}

/**
 * The drill cannot be set up as asked (bad --restore-into URL, a scratch database that does not exist or is not
 * empty, a missing template): bad input, CLI exit 2, and nothing recorded against the backup.
 */
export class DrillSetupError extends UsageError {}

/** The scratch database's server cannot be reached, or CREATE DATABASE failed: exit 1, nothing recorded against the backup. */
export class DrillEnvironmentError extends OpsError {
  override readonly name = 'DrillEnvironmentError';
}

/** PostgreSQL's SQLSTATEs that mean the scratch database named is wrong: no such database, or not allowed in. */
const SETUP_SQLSTATES = new Set(['3D000', '28000', '28P01', '42501']);

/** Connects to the scratch database once, so that a wrong one is told apart from a failing restore. */
async function probeScratch(
  url: string,
  database: string,
  tables: ReadonlyArray<{ schema: string; name: string }>,
): Promise<void> {
  let client: pg.Client;
  try {
    client = await connect(url, 'scratch database');
  } catch (err) {
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    if (typeof code === 'string' && SETUP_SQLSTATES.has(code)) {
      const why =
        code === '3D000'
          ? 'does not exist (create it with the schema, or pass --template NAME)'
          : `refuses the connection: ${redactString(errorMessage(err))}`;
      throw new DrillSetupError(`--restore-into: scratch database ${database} ${why}`);
    }
    throw new DrillEnvironmentError(redactString(errorMessage(err)), 'drill_unreachable', { cause: err });
  }
  try {
    // A drill loads data into an existing schema: a scratch database with none of the backup's tables (a fresh one)
    // is set up wrong, not a backup that failed (it was recorded as a failed verify and paged as verify.failed).
    if (tables.length === 0) return;
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM unnest($1::text[], $2::text[]) AS t(s, n)
        WHERE to_regclass(format('%I.%I', t.s, t.n)) IS NOT NULL`,
      [tables.map((t) => t.schema), tables.map((t) => t.name)],
    );
    if (rows[0]!.n === 0)
      throw new DrillSetupError(
        `--restore-into: scratch database ${database} has none of the backup's ${tables.length} table(s) (a drill loads the data into an existing schema): create the schema there, or pass --template NAME`,
      );
  } finally {
    await client.end().catch(() => {});
  }
}

/** COPY TO of the restored table (same columns, same settings as the backup) into an order-independent hash. */
async function hashTable(client: pg.ClientBase, schema: string, name: string, columns: string[]): Promise<RowSetHash> {
  const hash = new RowSetHash();
  const source = client.query(
    new CopyOut(`COPY ${qualified(schema, name)} (${columns.map(ident).join(', ')}) TO STDOUT`),
  );
  await pipeline(
    source,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb();
      },
    }),
  );
  return hash;
}

function databaseName(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DrillSetupError('--restore-into: not a postgres:// URL');
  }
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!name) throw new DrillSetupError('--restore-into: the URL names no database');
  return name;
}

function adminUrl(url: string): string {
  const u = new URL(url);
  u.pathname = '/postgres';
  return u.toString();
}

async function createFromTemplate(url: string, database: string, template: string): Promise<void> {
  const admin = await connect(adminUrl(url), 'server of the scratch database');
  try {
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [
      [database, template],
    ]);
    const names = new Set(rows.map((r) => r.datname));
    if (!names.has(template)) throw new DrillSetupError(`--template: no database named ${template}`);
    if (names.has(database))
      throw new DrillSetupError(
        `--restore-into: database ${database} exists already; with --template it is created (and dropped after)`,
      );
    await admin.query(`CREATE DATABASE ${ident(database)} TEMPLATE ${ident(template)}`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new DrillEnvironmentError(
      `cannot create ${database} from template ${template}: ${redactString(errorMessage(err))}`,
      'drill_failed',
      { cause: err },
    );
  } finally {
    await admin.end().catch(() => {});
  }
}

async function dropDatabase(url: string, database: string): Promise<void> {
  const admin = await connect(adminUrl(url), 'server of the scratch database');
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${ident(database)} WITH (FORCE)`);
  } finally {
    await admin.end().catch(() => {});
  }
}
