/**
 * `mt-ops alerts status`: firing incidents, events not published yet, poison entries kept, deliveries owed, silences,
 * maintenance.
 */
import { noteMissingBucket, readOnlyContext } from '../context';
import { table } from '../progress';
import { readIncidents } from '../../alerts/state';
import { readOwed } from '../../alerts/sweep';
import { outboxKeys } from '../../bus/outbox';
import { readOutbox, readPoison, type OutboxSummary, type PoisonSummary } from '../../bus/outbox-read';
import { count, formatAge } from '../../format';
import { isActive, listSilences } from '../../alerts/silences';
import { activeWindow, nextWindow } from '../../maintenance/window';

/** An ISO time as the tables show it: `2026-11-29 08:00:00`. */
const utc = (iso: string) => iso.slice(0, 19).replace('T', ' ');

/**
 * The events not published yet (saved to the outbox by a run that could not publish them): they have not reached the
 * fan-out, so an alert there is firing, or resolved, for no one yet. How many, since when, and the alerts among them
 * (among the oldest read, when more wait than readOutbox reads: the rest are said to wait, unread). An entry that is
 * no event (corrupt, or not an event by its schema) is listed as unreadable with its key and why, after the rest: an
 * alert may have been lost in it, and the next drain sets it aside (never publishes it).
 */
function unpublishedText(u: OutboxSummary, env: string, now: Date): string {
  if (!u.oldest) return "Unpublished: none (the bucket's outbox is empty)";
  const n = u.unreadable.length;
  const unreadable = n
    ? `\nUnreadable (no event: the next run of any function moves ${n === 1 ? 'it' : 'them'} aside to ${outboxKeys.poisonPrefix(env)}, never publishes ${n === 1 ? 'it' : 'them'}): ${count(n, 'entry', 'entries')}\n${table(
        ['SAVED (UTC)', 'KEY', 'WHY'],
        u.unreadable.map((e) => [utc(e.savedAt), e.key, e.reason]),
      )}`
    : '';
  const head =
    `Unpublished (in the bucket's outbox, not on the event bus yet): ${count(u.waiting, 'event')}` +
    ` (${count(u.alerts.length, 'alert')}${n ? `, ${n} unreadable` : ''}${u.unread ? ` among the oldest ${u.read} read` : ''}), the oldest saved ${utc(u.oldest.savedAt)} (${u.oldest.ageSeconds < 60 ? 'under a minute' : formatAge(new Date(u.oldest.savedAt), now)} ago);` +
    ' the next run of any function publishes them';
  const more = u.unread
    ? `\n... and ${count(u.unread, 'more event')} waiting, not shown (only the oldest ${u.read} are read)`
    : '';
  if (u.alerts.length === 0) return `${head}${more}${unreadable}`;
  return `${head}\n${table(
    ['SAVED (UTC)', 'SEVERITY', 'STATUS', 'TITLE', 'FINGERPRINT'],
    u.alerts.map((a) => [utc(a.savedAt), a.severity, a.status, a.title, a.fingerprint]),
  )}${more}${unreadable}`;
}

/**
 * The poison entries a drain set aside (outbox entries that were no event): how many are kept, and until when (each
 * for POISON_KEEP_DAYS after it was set aside, then removed by a drain; an entry past its time waits for the next
 * hourly pass of a function).
 */
function poisonText(p: PoisonSummary, env: string, now: Date): string {
  const where = outboxKeys.poisonPrefix(env);
  if (!p.oldest || !p.newest) return `Poison: none (no outbox entry set aside in ${where})`;
  const until = (t: { keptUntil: string }) =>
    `${utc(t.keptUntil)} UTC${Date.parse(t.keptUntil) < now.getTime() ? ' (past: the next hourly pass of a function removes it)' : ''}`;
  return (
    `Poison (outbox entries that were no event, set aside in ${where} for an operator to look at; never published): ` +
    `${count(p.kept, 'entry', 'entries')}, ${p.kept === 1 ? 'kept' : 'each kept'} ${p.keepDays} days after it was set aside, then removed by a run of any function: ` +
    (p.kept === 1
      ? `until ${until(p.oldest)}`
      : `the oldest until ${until(p.oldest)}, the newest until ${until(p.newest)}`)
  );
}

/** Prints the report, as text or (`--json`) as JSON. */
export async function alertsStatus(flags: { bucket?: string; env?: string; json?: boolean }): Promise<void> {
  const ctx = readOnlyContext(flags);
  await noteMissingBucket(ctx.store);
  const now = new Date();
  const firing = (await readIncidents(ctx.store, ctx.env)).filter((i) => i.status === 'firing');
  const unpublished = await readOutbox(ctx.store, ctx.env, now);
  const poison = await readPoison(ctx.store, ctx.env);
  const owed = await readOwed(ctx.store, ctx.env);
  const silences = (await listSilences(ctx.store, ctx.env)).filter((s) => isActive(s, now));
  const windows = ctx.config.file.maintenance;
  const current = activeWindow(windows, now);
  const next = nextWindow(windows, now);
  const out = {
    firing: firing.map((i) => ({
      fingerprint: i.fingerprint,
      severity: i.alert.severity,
      title: i.alert.title,
      since: i.startsAt,
      notified: i.notified,
      mutedBy: i.mutedBy,
    })),
    unpublished,
    poison,
    owed,
    silences,
    maintenance: {
      active: current ? { name: current.name, until: current.end.toISOString() } : null,
      next: next ? { name: next.name, start: next.start.toISOString(), end: next.end.toISOString() } : null,
    },
  };
  if (flags.json) return void process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  const waitingFiring = unpublished.alerts.filter((a) => a.status === 'firing').length;
  // the outbox past the entries read is not read: firing alerts may wait there too
  const firingNote = waitingFiring
    ? ` (but ${unpublished.unread ? 'at least ' : ''}${count(waitingFiring, 'firing alert')} not published yet: see Unpublished)`
    : unpublished.unread
      ? ` (but ${count(unpublished.unread, 'event')} not read wait in the outbox: see Unpublished)`
      : unpublished.unreadable.length
        ? ` (but ${count(unpublished.unreadable.length, 'unreadable entry', 'unreadable entries')} in the outbox: see Unpublished)`
        : '';
  const parts = [
    out.firing.length
      ? `Firing:\n${table(
          ['SINCE (UTC)', 'SEVERITY', 'TITLE', 'FINGERPRINT', 'NOTE'],
          out.firing.map((f) => [
            f.since.slice(0, 19).replace('T', ' '),
            f.severity,
            f.title,
            f.fingerprint,
            f.mutedBy ? `muted: ${f.mutedBy}` : f.notified ? '' : 'not sent yet',
          ]),
        )}`
      : `Firing: none${firingNote}`,
    unpublishedText(unpublished, ctx.env, now),
    poisonText(poison, ctx.env, now),
    owed.length
      ? `Owed (not delivered yet): ${owed.length}\n${table(
          ['SINCE (UTC)', 'SEVERITY', 'KIND', 'CHANNEL', 'STATE', 'ATTEMPTS', 'NEXT TRY (UTC)', 'TITLE', 'ERROR'],
          owed.map((o) => [
            utc(o.at),
            o.severity,
            o.kind,
            o.channel,
            o.status,
            String(o.attempts),
            utc(o.nextAttempt),
            o.title,
            o.lastError ?? '',
          ]),
        )}`
      : 'Owed: none (every delivery is settled)',
    silences.length
      ? `Silences:\n${table(
          ['ID', 'MATCHERS', 'UNTIL (UTC)', 'AUTHOR', 'REASON'],
          silences.map((s) => [
            s.id,
            s.matchers.join(', '),
            s.expiresAt.slice(0, 19).replace('T', ' '),
            s.author,
            s.reason,
          ]),
        )}`
      : 'Silences: none',
    `Maintenance: ${current ? `IN WINDOW ${current.name} until ${utc(current.end.toISOString())} UTC` : 'not in a window'}${next ? `; next ${next.name} ${utc(next.start.toISOString())} - ${utc(next.end.toISOString())} UTC` : ''}`,
  ];
  process.stdout.write(`${parts.join('\n\n')}\n`);
}
