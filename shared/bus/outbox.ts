/**
 * The outbox: an event a function could not publish is saved in the bucket, and the next run of any function
 * publishes it (then deletes it). Delivery is at least once (a crash between publish and delete publishes it again,
 * once its claim has expired), never lost, and two drains at once publish each entry once (claimed first). Keys
 * (relative to the bucket URL's prefix):
 *
 *   <env>/.outbox/<time>-<uuid>.json          one undelivered event (JSON), oldest first by key
 *   <env>/.outbox-poison/<time>-<uuid>.json   an entry that is no event (corrupt JSON, or not an event by its schema),
 *                                             moved aside by a drain, byte for byte, for an operator to look at; kept
 *                                             POISON_KEEP_DAYS after that, then removed by a drain (prunePoison)
 *
 * A poison entry is logged and set aside, never retried: it would fail the same way at every run and, oldest first,
 * hold back every event after it. Both stores publish an object whole (the file store a temp file linked or renamed
 * into place, GCS an object once its upload completes), so an entry that does not parse is corrupt, never one being
 * written. A storage failure (the store not answering, a refusal) is no poison: the drain stops there, and the next run
 * tries again.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { isConflict, isHeld, StorageError, type ObjectInfo, type ObjectStore } from '../storage/types';
import { OpsEvent, type OpsEventInput } from './events';
import type { Logger } from '../log/logger';
import { errorMessage, formatIssues, truncate } from '../errors';
import { redactString } from '../log/redact';

export const outboxKeys = {
  prefix: (env: string) => `${env}/.outbox/`,
  event: (env: string, now = new Date()) =>
    `${outboxKeys.prefix(env)}${now.toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}.json`,
  poisonPrefix: (env: string) => `${env}/.outbox-poison/`,
  /** Where the poison entry `key` (under `prefix(env)`) is kept: the same name under `poisonPrefix(env)`. */
  poison: (env: string, key: string) => `${outboxKeys.poisonPrefix(env)}${key.slice(outboxKeys.prefix(env).length)}`,
};

export async function saveToOutbox(store: ObjectStore, env: string, event: OpsEvent): Promise<string> {
  const key = outboxKeys.event(env);
  await store.put(key, JSON.stringify(event), { contentType: 'application/json' });
  return key;
}

/**
 * What a bus does with an event it could not publish, in a process that records into the bucket (a function, `npm
 * start`, a CLI command without an event bus): the event waits in the outbox for the next run of any function.
 * `saved` hears of each one kept there; a caller that says so itself (the CLI, in one line for all) logs each at debug.
 */
export function keepInOutbox(
  store: ObjectStore,
  env: string,
  logger: Logger,
  options: { saved?: (key: string) => void; quiet?: boolean } = {},
): (event: OpsEvent, err: unknown) => Promise<void> {
  return async (event, err) => {
    const reason = redactString(errorMessage(err));
    try {
      const key = await saveToOutbox(store, env, event);
      options.saved?.(key);
      logger[options.quiet ? 'debug' : 'warn'](
        { key },
        `event ${event.type} not published, saved to the outbox: ${reason}`,
      );
    } catch (saveErr) {
      // Neither the bus nor the bucket: the log line is the last record of the event.
      logger.error(
        { event },
        `event ${event.type} not published and not saved to the outbox: ${reason}; ${redactString(errorMessage(saveErr))}`,
      );
    }
  };
}

/** A claim older than this is taken to be from a drain that crashed (one publish gives up after 10 s). */
export const OUTBOX_CLAIM_TTL_MS = 120_000;

/** The object metadata that claims an entry for one drain while it publishes it. */
const CLAIMED_AT = 'mt-ops-outbox-claimed-at';
const CLAIMED_BY = 'mt-ops-outbox-claimed-by';

/** An entry claimed by this drain: its event and the generation the claim wrote. */
interface Claimed {
  event: OpsEventInput;
  generation: string;
}

/** Why an entry is poison, said without its content (a JSON error's excerpt at most, masked and cut). */
interface Poison {
  poison: string;
}

/**
 * Reads one entry: its event, why it is poison (it does not parse, or does not decode as an event), or undefined when
 * gone. A storage failure rejects. The stores parse the document inside their read and keep the SyntaxError as the
 * cause of the StorageError they throw: that cause, and only it, marks content that is not JSON.
 */
export async function readEntry(
  store: ObjectStore,
  key: string,
): Promise<{ value: OpsEventInput; generation: string } | Poison | undefined> {
  let doc;
  try {
    doc = await store.readJson(key);
  } catch (err) {
    if (err instanceof StorageError && err.cause instanceof SyntaxError)
      return { poison: `not valid JSON: ${truncate(redactString(err.cause.message), 160)}` };
    throw err;
  }
  if (!doc) return undefined;
  const decoded = OpsEvent.safeParse(doc.value);
  if (!decoded.success) {
    const issues = formatIssues(decoded.error); // paths and reasons, never the values
    return {
      poison: `not an event: ${redactString(issues.slice(0, 3).join('; '))}${issues.length > 3 ? '; ...' : ''}`,
    };
  }
  return { value: doc.value as OpsEventInput, generation: doc.generation };
}

/**
 * Moves a poison entry aside: copied byte for byte to its poison key, then deleted from the outbox if it is still the
 * version listed (a copy left by a drain that died before the delete is kept as it is). False when it changed or went
 * meanwhile (another drain's doing). A storage failure rejects, as any other in the drain.
 */
async function setAside(store: ObjectStore, env: string, entry: ObjectInfo): Promise<string | undefined> {
  const to = outboxKeys.poison(env, entry.key);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of await store.get(entry.key)) chunks.push(Buffer.from(chunk as Uint8Array));
  } catch (err) {
    if (err instanceof StorageError && err.code === 'not_found') return undefined;
    throw err;
  }
  try {
    await store.put(to, Buffer.concat(chunks), { contentType: entry.contentType ?? 'application/json' });
  } catch (err) {
    if (!isConflict(err)) throw err; // already kept there (by a drain that died before its delete)
  }
  try {
    await store.delete(entry.key, { ifGeneration: entry.generation });
  } catch (err) {
    if (isConflict(err)) return undefined;
    throw err;
  }
  return to;
}

/**
 * Claims one entry before publishing it: a compare-and-swap rewrite of the entry (same event, the claim in its
 * metadata) from the generation listed. A drain that lost the race (its write refused), or that finds a claim younger
 * than the TTL, leaves the entry to the other: two drains at once (the probe run and the alert sweep of the same
 * minute, in one process or two) publish each entry once. Undefined when the entry is not ours to publish.
 */
async function claimEntry(
  store: ObjectStore,
  entry: ObjectInfo,
  holder: string,
  now: Date,
  ttlMs: number,
): Promise<Claimed | Poison | undefined> {
  const claimedAt = Date.parse(entry.metadata[CLAIMED_AT] ?? '');
  if (Number.isFinite(claimedAt) && now.getTime() - claimedAt < ttlMs) return undefined; // being published
  const doc = await readEntry(store, entry.key);
  if (!doc) return undefined; // published and removed meanwhile
  if ('poison' in doc) return doc;
  try {
    const generation = await store.writeJson(entry.key, doc.value, {
      ifGeneration: entry.generation,
      metadata: { [CLAIMED_AT]: now.toISOString(), [CLAIMED_BY]: holder },
    });
    return { event: doc.value as OpsEventInput, generation };
  } catch (err) {
    if (isConflict(err)) return undefined; // another drain claimed it (or published and removed it) first
    throw err;
  }
}

/**
 * Publishes every event in the outbox, oldest first, deleting each once published; each entry is claimed first (see
 * claimEntry), so a drain running beside this one never publishes the same entry. A poison entry (see the top) is
 * moved aside with one error line, and the drain goes on. Stops at the first failure to publish or of the store (the
 * bus is still down; the entry's claim is released and the next run tries again). Then, unless `prunePoison` is
 * false, removes the poison entries kept long enough (prunePoison): after the events, so that work never delays nor
 * stops theirs, and whether or not the bus is up (it has nothing to do with the bus). Never throws.
 */
export async function flushOutbox(
  store: ObjectStore,
  env: string,
  deliver: (event: OpsEventInput) => Promise<string>,
  logger: Logger,
  options: { now?: () => Date; claimTtlMs?: number; prunePoison?: boolean } = {},
): Promise<{ published: number; poisoned: number; left: boolean }> {
  const result = await drainOutbox(store, env, deliver, logger, options);
  if (options.prunePoison !== false) await prunePoison(store, env, logger, (options.now ?? (() => new Date()))());
  return result;
}

async function drainOutbox(
  store: ObjectStore,
  env: string,
  deliver: (event: OpsEventInput) => Promise<string>,
  logger: Logger,
  options: { now?: () => Date; claimTtlMs?: number },
): Promise<{ published: number; poisoned: number; left: boolean }> {
  const now = options.now ?? (() => new Date());
  const ttlMs = options.claimTtlMs ?? OUTBOX_CLAIM_TTL_MS;
  const holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  let published = 0;
  let poisoned = 0;
  try {
    for await (const entry of store.list(outboxKeys.prefix(env))) {
      const claimed = await claimEntry(store, entry, holder, now(), ttlMs);
      if (!claimed) continue;
      if ('poison' in claimed) {
        const to = await setAside(store, env, entry);
        if (to === undefined) continue; // changed or gone meanwhile: another drain's
        poisoned++;
        logger.error(
          { key: entry.key, keptAt: to },
          `outbox: entry ${entry.key} is ${claimed.poison}; moved aside to ${to} for an operator to look at, not published`,
        );
        continue;
      }
      try {
        await deliver(claimed.event);
      } catch (err) {
        // not published: released at once for the next run (not only once the claim expires)
        await store.writeJson(entry.key, claimed.event, { ifGeneration: claimed.generation }).catch(() => {});
        throw err;
      }
      // conditional: a claim taken over after it expired belongs to that drain now, which removes the entry itself
      await store.delete(entry.key, { ifGeneration: claimed.generation }).catch((err: unknown) => {
        if (!isConflict(err)) throw err;
      });
      published++;
    }
  } catch (err) {
    logger.warn(
      `outbox: ${published} event(s) published, the rest stay for the next run: ${redactString(errorMessage(err))}`,
    );
    return { published, poisoned, left: true };
  }
  if (published > 0 || poisoned > 0)
    logger.info(
      { published, poisoned },
      `outbox: ${published} event(s) published${poisoned ? `, ${poisoned} poison entry(ies) moved aside` : ''}`,
    );
  return { published, poisoned, left: false };
}

/**
 * How long a poison entry is kept after a drain set it aside: long enough for an operator to notice the error line
 * (or `mt-ops alerts status`) and look at it, even after a holiday; then it only takes room.
 */
export const POISON_KEEP_DAYS = 30;

/** Until when a poison entry set aside at `at` is kept: a drain after that removes it. */
export const poisonKeptUntil = (at: Date): Date => new Date(at.getTime() + POISON_KEEP_DAYS * 86_400_000);

/**
 * The most poison entries one prune looks at: one page of the listing (one list request on GCS), the first by key.
 * Keys sort by the time the entry was saved, and drains set entries aside oldest first, so these are the oldest: a
 * pass removes those past the keep and the next pass sees the ones after. Poison is rare; a burst of more than this
 * within POISON_KEEP_DAYS is still removed, a page a pass.
 */
export const POISON_PRUNE_LIMIT = 100;

/**
 * How often the drains of one process prune (see functionRuntime): the fan-out drains before every message, and
 * listing the poison folder each time would cost one list request a message for entries kept 30 days.
 */
export const POISON_PRUNE_EVERY_MS = 3_600_000;

/** When the poison entry (the object a drain put there, its time on either store) was set aside. */
export const setAsideAt = (entry: ObjectInfo): Date => entry.created;

/**
 * Removes the poison entries set aside more than POISON_KEEP_DAYS ago, among the first POISON_PRUNE_LIMIT listed
 * (never read: their time is in the listing), with one info line saying how many and when the oldest was set aside.
 * Each delete is conditional on the version listed; one another drain removed first, or one under a hold, is left.
 * A storage failure stops the pass with one warning line: the next pass tries again. Never throws; returns how many
 * it removed.
 */
export async function prunePoison(store: ObjectStore, env: string, logger: Logger, now = new Date()): Promise<number> {
  const prefix = outboxKeys.poisonPrefix(env);
  let looked = 0;
  let removed = 0;
  let oldest: Date | undefined;
  try {
    for await (const entry of store.list(prefix, { pageSize: POISON_PRUNE_LIMIT })) {
      const at = setAsideAt(entry);
      if (poisonKeptUntil(at) < now && !isHeld(entry, now)) {
        try {
          await store.delete(entry.key, { ifGeneration: entry.generation });
          removed++;
          if (!oldest || at < oldest) oldest = at;
        } catch (err) {
          if (!isConflict(err) && !(err instanceof StorageError && err.code === 'held')) throw err;
        }
      }
      if (++looked >= POISON_PRUNE_LIMIT) break; // the rest at the next pass: no second page
    }
  } catch (err) {
    logger.warn(
      `outbox: removing poison entries kept over ${POISON_KEEP_DAYS} days from ${prefix} stopped after ${removed}, the next run tries again: ${redactString(errorMessage(err))}`,
    );
    return removed;
  }
  if (oldest)
    logger.info(
      { removed, oldestSetAsideAt: oldest.toISOString() },
      `outbox: ${removed} poison entry(ies) removed from ${prefix}, kept over ${POISON_KEEP_DAYS} days (the oldest set aside ${oldest.toISOString()})`,
    );
  return removed;
}
