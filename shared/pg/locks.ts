import { connect } from './connect';
import { errorMessage } from '../errors';

/** SQLSTATE 55P03 lock_not_available: what `lock_timeout` raises. */
export function isLockTimeout(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === '55P03') return true;
  }
  return false;
}

/**
 * Who holds locks on these tables (or, with `tables` undefined, ACCESS EXCLUSIVE on any table of the database) (`schema.table`), from pg_locks and pg_stat_activity, on a connection of its own
 * (the one that timed out is in an aborted transaction); `ownPids`, the caller's own sessions, are left out. One phrase per holding session, ACCESS EXCLUSIVE first:
 * `public.t is locked by pid 4242 (application "psql", state "idle in transaction", AccessExclusiveLock)`.
 * Never throws: a lookup that fails says so.
 */
export async function describeLockHolders(databaseUrl: string, tables: string[] | undefined, ownPids: number[] = []): Promise<string> {
  try {
    const client = await connect(databaseUrl);
    try {
      const { rows } = await client.query<{ rel: string; pid: number; mode: string; app: string | null; state: string | null }>(
        `SELECT n.nspname || '.' || c.relname AS rel, l.pid, l.mode, a.application_name AS app, a.state
         FROM pg_locks l
         JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND (CASE WHEN $1::text[] IS NULL THEN l.mode = 'AccessExclusiveLock' ELSE (n.nspname || '.' || c.relname) = ANY($1::text[]) END)
           AND NOT (l.pid = ANY($2::int[]))
         ORDER BY (l.mode = 'AccessExclusiveLock') DESC, l.pid
         LIMIT 5`,
        [tables, ownPids],
      );
      if (rows.length === 0) return 'the lock has been released since';
      return rows
        .map((r) => `${r.rel} is locked by pid ${r.pid} (application ${JSON.stringify(r.app ?? '')}, state ${JSON.stringify(r.state ?? 'unknown')}, ${r.mode})`)
        .join('; ');
    } finally {
      await client.end().catch(() => {});
    }
  } catch (err) {
    return `the lock's holder could not be looked up: ${errorMessage(err)}`;
  }
}
