/**
 * Naming who blocks us when a lock timeout fires: a watcher that sees our sessions' lock waits while they wait
 * (pg_locks + pg_blocking_pids + pg_stat_activity), and a lookup by table for when it saw nothing.
 */
import type pg from 'pg';
import { connect } from './connect';
import { errorMessage } from '../errors';

/** SQLSTATE 55P03 lock_not_available: what `lock_timeout` raises. */
export function isLockTimeout(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === '55P03') return true;
  }
  return false;
}

interface HolderRow {
  rel: string | null;
  pid: number;
  mode: string | null;
  granted: boolean | null;
  app: string | null;
  state: string | null;
  /** For a blocker that is itself waiting (queued ahead of us): whom it waits for. */
  behind?: number[] | null;
}

/**
 * `public.t is locked by pid 4242 (application "psql", state "idle in transaction", AccessExclusiveLock)`; a blocker
 * queued ahead of us: `public.t is awaited by pid 4243 (application "alter", state "active", AccessExclusiveLock,
 * queued ahead, itself waiting for pid 4242)`.
 */
function phrase(r: HolderRow): string {
  const who = `pid ${r.pid} (application ${JSON.stringify(r.app ?? '')}, state ${JSON.stringify(r.state ?? 'unknown')}`;
  if (r.granted === false) {
    const behind = r.behind?.length ? `, itself waiting for pid ${r.behind.join(', pid ')}` : '';
    return `${r.rel ?? 'a lock'} is awaited by ${who}, ${r.mode}, queued ahead${behind})`;
  }
  return `${r.rel ?? 'a lock'} is locked by ${who}${r.mode ? `, ${r.mode}` : ''})`;
}

/** Whom one waiting session is blocked by, and on what: one row per (waited-on relation, blocker). */
const BLOCKERS_SQL = `
  SELECT w.pid AS waiter, wn.nspname || '.' || wc.relname AS rel, b.pid,
         bl.mode, bl.granted, a.application_name AS app, a.state,
         CASE WHEN NOT bl.granted THEN pg_blocking_pids(b.pid) END AS behind
  FROM pg_locks w
  LEFT JOIN pg_class wc ON w.locktype = 'relation' AND wc.oid = w.relation
  LEFT JOIN pg_namespace wn ON wn.oid = wc.relnamespace
  CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid)
  LEFT JOIN LATERAL (
    SELECT l.mode, l.granted FROM pg_locks l
    WHERE l.pid = b.pid AND l.locktype = w.locktype
      AND l.database IS NOT DISTINCT FROM w.database AND l.relation IS NOT DISTINCT FROM w.relation
      AND l.transactionid IS NOT DISTINCT FROM w.transactionid
    ORDER BY l.granted DESC LIMIT 1
  ) bl ON true
  LEFT JOIN pg_stat_activity a ON a.pid = b.pid
  WHERE NOT w.granted AND w.pid = ANY($1::int[])
  ORDER BY w.pid, b.pid`;

/**
 * Watches the lock waits of our own sessions while they run: every `intervalMs` (a quarter of the lock timeout, between
 * 0.1 and 1 s) one query on a connection of its own (opened on the first tick) records, for each of them that is
 * waiting, the relation and the sessions that block it (any conflicting mode, granted or queued ahead; pg_blocking_pids).
 * When a statement then fails on its lock timeout, `describe` names exactly those sessions. Never throws; stop() closes it.
 */
export interface LockWatch {
  add(client: pg.ClientBase): void;
  /** Who blocked this session's last wait; else the lookup by table (`tables`) as a fallback. */
  describe(client: pg.ClientBase, fallback?: HolderLookup): Promise<string>;
  stop(): Promise<void>;
}

export function pidOf(client: pg.ClientBase): number {
  return (client as unknown as { processID: number }).processID;
}

export function watchLockWaits(databaseUrl: string, lockTimeoutSeconds: number): LockWatch {
  const pids = new Set<number>();
  const seen = new Map<number, HolderRow[]>();
  const intervalMs = Math.min(1000, Math.max(100, (lockTimeoutSeconds * 1000) / 4));
  let watcher: pg.Client | undefined;
  let stopped = false;
  let broken = false;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();

  const poll = async () => {
    if (stopped || broken || pids.size === 0) return;
    try {
      if (!watcher) {
        watcher = await connect(databaseUrl);
        await watcher.query("SET application_name = 'mt-ops lock watch'");
        if (stopped) return;
      }
      const { rows } = await watcher.query<HolderRow & { waiter: number }>(BLOCKERS_SQL, [[...pids]]);
      const now = new Map<number, HolderRow[]>();
      for (const r of rows) now.set(r.waiter, [...(now.get(r.waiter) ?? []), r]);
      for (const pid of pids) {
        if (now.has(pid)) seen.set(pid, now.get(pid)!);
        else seen.delete(pid); // no longer waiting: what it waited for then is not what a later timeout is about
      }
    } catch {
      broken = true; // the lookup by table stands in
    }
  };
  const tick = () => {
    polling = poll().finally(() => {
      if (!stopped && !broken) timer = setTimeout(tick, intervalMs).unref();
    });
  };
  if (lockTimeoutSeconds > 0) timer = setTimeout(tick, intervalMs).unref();

  return {
    add(client) {
      pids.add(pidOf(client));
    },
    async describe(client, fallback) {
      const rows = seen.get(pidOf(client));
      if (rows && rows.length > 0) return rows.map(phrase).join('; ');
      return describeLockHolders(databaseUrl, fallback, [...pids]);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await polling.catch(() => {});
      await watcher?.end().catch(() => {});
    },
  };
}

/** Which locks may have blocked us (`schema.table` names). */
export interface HolderLookup {
  /** Tables we lock ACCESS EXCLUSIVE (TRUNCATE): a lock of any mode on them blocks us. */
  anyModeOn?: string[];
  /** Tables we read (ACCESS SHARE): only ACCESS EXCLUSIVE blocks that. Undefined: any table of the database. */
  exclusiveOn?: string[];
}

/**
 * The fallback when the watcher saw no wait: who holds or awaits (ahead of us) a lock that conflicts with ours, from
 * pg_locks and pg_stat_activity, on a connection of its own (the one that timed out is in an aborted transaction);
 * `ownPids`, the caller's own sessions, are left out. One phrase per session, granted ACCESS EXCLUSIVE first.
 * Never throws: a lookup that fails says so.
 */
export async function describeLockHolders(
  databaseUrl: string,
  lookup: HolderLookup = {},
  ownPids: number[] = [],
): Promise<string> {
  try {
    const client = await connect(databaseUrl);
    try {
      const { rows } = await client.query<HolderRow>(
        `SELECT n.nspname || '.' || c.relname AS rel, l.pid, l.mode, l.granted, a.application_name AS app, a.state,
                CASE WHEN NOT l.granted THEN pg_blocking_pids(l.pid) END AS behind
         FROM pg_locks l
         JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'relation' AND l.pid <> pg_backend_pid()
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((n.nspname || '.' || c.relname) = ANY($1::text[])
                OR (l.mode = 'AccessExclusiveLock' AND ($2::text[] IS NULL OR (n.nspname || '.' || c.relname) = ANY($2::text[]))))
           AND NOT (l.pid = ANY($3::int[]))
         ORDER BY l.granted DESC, (l.mode = 'AccessExclusiveLock') DESC, l.pid
         LIMIT 5`,
        [lookup.anyModeOn ?? [], lookup.exclusiveOn ?? null, ownPids],
      );
      if (rows.length === 0) return 'the lock has been released since';
      return rows.map(phrase).join('; ');
    } finally {
      await client.end().catch(() => {});
    }
  } catch (err) {
    return `the lock's holder could not be looked up: ${errorMessage(err)}`;
  }
}
