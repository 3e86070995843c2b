/**
 * What `mt-ops alerts status` reads of the outbox (see outbox.ts): how many events wait, since when, and the alerts
 * among the oldest; a bounded number of entries is read, however many wait. And the poison entries set aside: how
 * many, and until when they are kept.
 */
import type { ObjectInfo, ObjectStore } from '../storage/types';
import { outboxKeys, poisonKeptUntil, readEntry, setAsideAt, POISON_KEEP_DAYS } from './outbox';

/** An alert event waiting in the outbox (what `mt-ops alerts status` lists). */
export interface WaitingAlert {
  savedAt: string;
  severity: string;
  status: string;
  title: string;
  fingerprint: string;
}

/** What waits in the outbox, not published yet: `mt-ops alerts status`. */
export interface OutboxSummary {
  /** Events waiting (every type): those read, and those past the limit counted from the listing. */
  waiting: number;
  /** The oldest's save time and its age in seconds; null when nothing waits. */
  oldest: { savedAt: string; ageSeconds: number } | null;
  /** The alert events among the entries read (the oldest `read`), oldest first. */
  alerts: WaitingAlert[];
  /** Entries read (the oldest, at most OUTBOX_READ_LIMIT, less any published meanwhile): `alerts` are among them. */
  read: number;
  /** Entries past the limit: counted from the listing, not read (their type unknown); 0 when every one was read. */
  unread: number;
  /**
   * Poison entries among those read (counted in `read` and `waiting`): not JSON, or not an event. The next drain moves
   * each aside to `outboxKeys.poison`, never publishing it; an alert may have been among them.
   */
  unreadable: Array<{ key: string; savedAt: string; reason: string }>;
}

/**
 * The most entries readOutbox reads. A bus down for days leaves thousands waiting: past these the listing (which
 * streams) only counts them, so what the command holds and prints does not grow with the outbox.
 */
export const OUTBOX_READ_LIMIT = 100;

/** When an entry was saved: from its key (`<time>-<id>.json`; rewriting it to claim it keeps that), else its object. */
function savedAt(entry: ObjectInfo): Date {
  const m = /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-[^/]*$/.exec(entry.key);
  return m ? new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`) : entry.created;
}

/**
 * Reads the outbox: how many events wait, since when, and which alerts among the oldest OUTBOX_READ_LIMIT entries (an entry
 * read and found gone meanwhile is skipped; a poison one is listed as unreadable, with why); the others are counted
 * from the listing, never read. A storage failure rejects.
 */
export async function readOutbox(store: ObjectStore, env: string, now = new Date()): Promise<OutboxSummary> {
  let tried = 0; // entries read, found or gone: the limit is on reads
  let read = 0;
  let unread = 0;
  let oldest: Date | undefined;
  const alerts: WaitingAlert[] = [];
  const unreadable: OutboxSummary['unreadable'] = [];
  for await (const entry of store.list(outboxKeys.prefix(env))) {
    const at = savedAt(entry);
    if (tried < OUTBOX_READ_LIMIT) {
      tried++;
      const doc = await readEntry(store, entry.key);
      if (!doc) continue; // published meanwhile
      read++;
      if ('poison' in doc) unreadable.push({ key: entry.key, savedAt: at.toISOString(), reason: doc.poison });
      const e = ('poison' in doc ? undefined : doc.value) as Partial<
        Record<'type' | 'severity' | 'status' | 'title' | 'fingerprint', unknown>
      >;
      if (e?.type === 'alert')
        alerts.push({
          savedAt: at.toISOString(),
          severity: String(e.severity),
          status: String(e.status),
          title: String(e.title),
          fingerprint: String(e.fingerprint),
        });
    } else unread++; // past the limit: counted, not read
    if (!oldest || at < oldest) oldest = at;
  }
  return {
    waiting: read + unread,
    oldest: oldest
      ? {
          savedAt: oldest.toISOString(),
          ageSeconds: Math.max(0, Math.floor((now.getTime() - oldest.getTime()) / 1000)),
        }
      : null,
    alerts,
    read,
    unread,
    unreadable,
  };
}

/** The poison entries kept in `outboxKeys.poisonPrefix(env)` (what `mt-ops alerts status` says of them). */
export interface PoisonSummary {
  /** How many are kept: counted from the listing, never read. */
  kept: number;
  /** How long each is kept after it was set aside (POISON_KEEP_DAYS), then removed by a drain. */
  keepDays: number;
  /** The first and the last to go: set aside, and kept until (set aside + keepDays); null when none is kept. */
  oldest: { setAsideAt: string; keptUntil: string } | null;
  newest: { setAsideAt: string; keptUntil: string } | null;
}

/** Counts the poison entries from the listing (which streams: only the oldest and newest times are held). */
export async function readPoison(store: ObjectStore, env: string): Promise<PoisonSummary> {
  let kept = 0;
  let oldest: Date | undefined;
  let newest: Date | undefined;
  for await (const entry of store.list(outboxKeys.poisonPrefix(env))) {
    kept++;
    const at = setAsideAt(entry);
    if (!oldest || at < oldest) oldest = at;
    if (!newest || at > newest) newest = at;
  }
  const times = (at: Date | undefined) =>
    at ? { setAsideAt: at.toISOString(), keptUntil: poisonKeptUntil(at).toISOString() } : null;
  return { kept, keepDays: POISON_KEEP_DAYS, oldest: times(oldest), newest: times(newest) };
}
