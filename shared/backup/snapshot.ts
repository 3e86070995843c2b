/** The backup's one consistent snapshot, shared by its parallel connections. */
import type pg from 'pg';
import { TableFailedError } from './table-error';
import { OpsError, errorMessage } from '../errors';
import { connect } from '../pg/connect';
import { qualifiedName } from '../pg/ident';
import { copyTextSettingsSql } from '../pg/copy-text';
import { isLockTimeout, watchLockWaits, type HolderLookup } from '../pg/locks';

/**
 * One consistent view of the database for the whole backup: a REPEATABLE READ READ ONLY transaction whose
 * snapshot is exported and imported by every worker connection (SET TRANSACTION SNAPSHOT), as pg_dump -j does.
 */
export interface SnapshotSession {
  /** The connection that exported the snapshot; it keeps the snapshot alive until close(). */
  leader: pg.Client;
  snapshotId: string;
  /** `now()` of the snapshot's transaction and its txid snapshot. */
  time: string;
  txidSnapshot: string;
  serverVersion: string;
  /** Opens another connection that sees exactly the same snapshot. */
  openWorker(): Promise<pg.Client>;
  close(): Promise<void>;
  /**
   * Stops everything at once: every connection is closed without waiting for its query (a running COPY is cut off, the
   * server ends its transaction), and no worker opens after this.
   */
  abort(): Promise<void>;
  /**
   * After a lock timeout on one of the session's connections: the sessions that blocked it (seen while it waited,
   * pg_blocking_pids), else those holding a lock that conflicts with ours (`fallback`).
   */
  describeLockHolders(client: pg.ClientBase, fallback?: HolderLookup): Promise<string>;
}

const SESSION_SETTINGS = [
  // Never let row-level security silently hide rows: a filtered read is an error instead (as pg_dump does).
  'SET row_security = off',
  "SET idle_in_transaction_session_timeout = '0'",
  "SET application_name = 'mt-ops backup'",
  // Output that reads back exactly, whatever the server's defaults: the same settings restore reads it under.
  ...copyTextSettingsSql('session'),
];

export async function openSnapshot(
  databaseUrl: string,
  statementTimeoutSeconds = 0,
  lockTimeoutSeconds = 60,
): Promise<SnapshotSession> {
  const leader = await connect(databaseUrl);
  const watch = watchLockWaits(databaseUrl, lockTimeoutSeconds);
  watch.add(leader);
  const setup = async (client: pg.Client) => {
    for (const sql of SESSION_SETTINGS) await client.query(sql);
    await client.query(`SET statement_timeout = '${Math.max(0, Math.floor(statementTimeoutSeconds))}s'`);
    // A table locked by someone else for too long fails the backup, naming it and the holder, instead of hanging forever.
    await client.query(`SET lock_timeout = '${Math.max(0, Math.floor(lockTimeoutSeconds * 1000))}ms'`);
  };
  try {
    await setup(leader);
    await leader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await leader.query<{ snapshot: string; time: Date; txid: string; version: string }>(
      `SELECT pg_export_snapshot() AS snapshot, now() AS time, txid_current_snapshot()::text AS txid,
              current_setting('server_version') AS version`,
    );
    const row = rows[0]!;
    const workers: pg.Client[] = [];
    let aborted = false;
    const abort = async () => {
      aborted = true;
      // pg's end() destroys the socket when a query is running (a ROLLBACK would queue behind the COPY)
      await Promise.all([leader, ...workers].map((c) => c.end().catch(() => {})));
      await watch.stop();
    };
    return {
      leader,
      snapshotId: row.snapshot,
      time: row.time.toISOString(),
      txidSnapshot: row.txid,
      serverVersion: row.version,
      async openWorker() {
        if (aborted) throw new OpsError('backup stopped', 'aborted');
        const worker = await connect(databaseUrl);
        workers.push(worker);
        watch.add(worker);
        if (aborted) {
          await worker.end().catch(() => {});
          throw new OpsError('backup stopped', 'aborted');
        }
        await setup(worker);
        await worker.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        await worker.query(`SET TRANSACTION SNAPSHOT '${row.snapshot.replace(/'/g, "''")}'`);
        return worker;
      },
      abort,
      async close() {
        if (aborted) return abort();
        await watch.stop();
        await Promise.all(
          [leader, ...workers].map(async (c) => {
            await c.query('ROLLBACK').catch(() => {});
            await c.end().catch(() => {});
          }),
        );
      },
      describeLockHolders: (client, fallback) => watch.describe(client, fallback),
    };
  } catch (err) {
    await watch.stop();
    await leader.end().catch(() => {});
    throw err;
  }
}

/**
 * Takes ACCESS SHARE locks on every table, as pg_dump does, so that no table can be dropped or altered while
 * the backup reads it. A table the role may not read fails here, by name.
 */
export async function lockTables(
  client: pg.Client,
  tables: Array<{ schema: string; name: string }>,
  session?: Pick<SnapshotSession, 'describeLockHolders'>,
): Promise<void> {
  for (const t of tables) {
    try {
      await client.query(`LOCK TABLE ${qualifiedName(t.schema, t.name)} IN ACCESS SHARE MODE`);
    } catch (err) {
      const name = `${t.schema}.${t.name}`;
      if (isLockTimeout(err) && session) {
        const holders = await session.describeLockHolders(client, { exclusiveOn: [name] });
        throw new TableFailedError(name, `table ${name}: ${errorMessage(err)}: ${holders}`, { cause: err });
      }
      throw new TableFailedError(name, `table ${name}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

export async function readSequence(
  client: pg.ClientBase,
  seq: { schema: string; name: string },
): Promise<{ lastValue: string; isCalled: boolean }> {
  try {
    const { rows } = await client.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text AS last_value, is_called FROM ${qualifiedName(seq.schema, seq.name)}`,
    );
    return { lastValue: rows[0]!.last_value, isCalled: rows[0]!.is_called };
  } catch (err) {
    throw new OpsError(`sequence ${seq.schema}.${seq.name}: ${errorMessage(err)}`, 'sequence_unreadable', {
      cause: err,
    });
  }
}
