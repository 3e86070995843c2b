/** The daily digest of info alerts: collected notices sent once a day to Slack and email. */
import { isConflict, StorageError } from '../storage/types';
import { OpsError } from '../errors';
import { redactString } from '../log/redact';
import type { Digest } from './channels/types';
import { deliverWithRetry, DEFAULT_RETRY } from './deliver';
import { alertKeys } from './layout';
import type { ChannelName, Notice } from './model';
import type { FanoutDeps } from './pipeline';

/** The digest goes to Slack and email: one message each. */
export const DIGEST_CHANNELS: ChannelName[] = ['slack', 'email'];

export interface DigestResult {
  day: string;
  notices: number;
  /**
   * Per channel: sent, failed (still owed: retried), dead-lettered (refused for good), off; empty when nothing to
   * report; absent for a channel that already has every notice (its digest went out later than the other's).
   */
  channels: Partial<Record<ChannelName, 'delivered' | 'failed' | 'dead-lettered' | 'off'>>;
  /** Nothing was filed since the last digest: nothing is sent (no daily "nothing to report" noise). */
  empty: boolean;
  /** A channel failed and may succeed later: the trigger must be retried. */
  retry: boolean;
  /** Every channel had today's digest already: the notices were kept for the next day's. */
  kept?: boolean;
}

interface SentDoc {
  day: string;
  channels: Partial<
    Record<ChannelName, { status: 'delivered' | 'failed' | 'dead-lettered'; at: string; error?: string }>
  >;
}

/** The New York calendar date of `at` (the digest's day; the Scheduler job runs at 09:00 there). */
export function digestDay(at: Date, timeZone = 'America/New_York'): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(at);
}

/** A notice waiting in the bucket, with the digest channels that already have it (sent or dead-lettered). */
interface Waiting {
  key: string;
  notice: Notice;
  has: ChannelName[];
}

/**
 * The daily digest: every info notice filed since the last digest (backups, cleanups, verifies, deployments failed or
 * succeeded, incidents opened and closed with their durations) as one Slack message and one email. A day's digest is
 * sent once per channel (recorded under digest-sent/<day> with compare-and-swap); a refused one (not retryable) goes
 * to the dead-letter topic with a warning. Each notice records the channels that have it (`digestedTo`), so every
 * channel gets every notice exactly once, even when one channel's digest goes out later than the other's (a channel
 * that already had today's digest gets the notices filed since in the next one). A notice is removed once every
 * channel that is on has it (sent or refused), so notices never pile up behind a channel that is broken for good.
 * Nothing is sent to a channel that has nothing new; with no notices at all nothing is sent.
 */
export async function sendDigest(deps: FanoutDeps, now = new Date()): Promise<DigestResult> {
  const day = digestDay(now);
  const waiting: Waiting[] = [];
  for await (const info of deps.store.list(alertKeys.digest(deps.env))) {
    const doc = await deps.store.readJson(info.key);
    if (doc?.value && typeof doc.value === 'object') {
      const { digestedTo, ...notice } = doc.value as Notice & { digestedTo?: ChannelName[] };
      waiting.push({ key: info.key, notice, has: Array.isArray(digestedTo) ? digestedTo : [] });
    }
  }
  // by time; at one time, what happened before the incident it opened or closed (the keys' order there is a hash's)
  const incident = (n: Notice) => (n.type.startsWith('incident.') ? 1 : 0);
  waiting.sort(
    ({ notice: a }, { notice: b }) =>
      a.time.localeCompare(b.time) || incident(a) - incident(b) || a.title.localeCompare(b.title),
  );
  const result: DigestResult = {
    day,
    notices: waiting.length,
    channels: {},
    empty: waiting.length === 0,
    retry: false,
  };
  if (result.empty) {
    deps.logger.info({ day, notices: 0 }, `daily digest ${day}: nothing to report, not sent`);
    return result;
  }
  const sentKey = alertKeys.digestSent(deps.env, day);
  // whether this run sent (or dead-lettered) a digest anywhere, and whether a channel had today's already
  let sentNow = false;
  let hadToday = false;
  const on = DIGEST_CHANNELS.filter((name) => deps.channels[name]);
  for (const name of DIGEST_CHANNELS) {
    const channel = deps.channels[name];
    if (!channel) {
      result.channels[name] = 'off';
      continue;
    }
    const doc = await deps.store.readJson(sentKey);
    const sent = (doc?.value as SentDoc | undefined) ?? { day, channels: {} };
    const already = sent.channels[name]?.status;
    if (already === 'delivered' || already === 'dead-lettered') {
      // what this channel has not had yet waits for its next day's digest
      result.channels[name] = already;
      hadToday = true;
      continue;
    }
    // only what this channel has not had (the other one may have had its digest later with more in it)
    const owed = waiting.filter((w) => !w.has.includes(name));
    if (owed.length === 0) continue;
    const digest: Digest = {
      env: deps.env,
      from: owed[0]!.notice.time,
      to: now.toISOString(),
      notices: owed.map((w) => w.notice),
    };
    const { result: r } = await deliverWithRetry(
      channel,
      { kind: 'digest', digest },
      deps.retry ?? DEFAULT_RETRY,
      deps.signal,
    );
    const at = now.toISOString();
    if (r.ok) {
      await markDigested(deps, owed, name);
      await updateSent(deps, sentKey, day, name, { status: 'delivered', at });
      sentNow = true;
      result.channels[name] = 'delivered';
      continue;
    }
    const error = redactString(r.error);
    if (r.retryable) {
      await updateSent(deps, sentKey, day, name, { status: 'failed', at, error });
      deps.logger.warn({ channel: name, day }, `digest to ${name} failed, will be retried: ${error}`);
      result.channels[name] = 'failed';
      result.retry = true;
      continue;
    }
    await deps.deadLetter.publish({ env: deps.env, channel: name, kind: 'digest', seq: 0, reason: error, digest, at });
    await markDigested(deps, owed, name);
    await updateSent(deps, sentKey, day, name, { status: 'dead-lettered', at, error });
    sentNow = true;
    deps.logger.warn({ channel: name, day }, `digest to ${name} dead-lettered (not retryable): ${error}`);
    result.channels[name] = 'dead-lettered';
  }
  // a notice every channel that is on has had is done; the rest wait for the channels that have not had them
  let kept = 0;
  for (const w of waiting) {
    if (on.every((name) => w.has.includes(name))) await deps.store.delete(w.key);
    else kept++;
  }
  // Every channel had today's digest already (a second run the same day: a schedule run more often than daily, or a
  // redelivery after all went out): these notices came later and went nowhere, so they wait for the next day's digest.
  if (hadToday && !sentNow && !result.retry) {
    deps.logger.info(
      { day, notices: waiting.length, channels: result.channels },
      `daily digest ${day}: already sent today; ${waiting.length} newer notice(s) kept for the next one`,
    );
    return { ...result, kept: true };
  }
  deps.logger.info(
    { day, notices: waiting.length, kept, channels: result.channels },
    `daily digest ${day}: ${waiting.length} notice(s)` +
      (kept ? `; ${kept} kept for a channel that has not had them yet` : ''),
  );
  return result;
}

/** Records on each notice that `name` has it (compare-and-swap: another channel's run may be marking it too). */
async function markDigested(deps: FanoutDeps, owed: Waiting[], name: ChannelName): Promise<void> {
  for (const w of owed) {
    w.has.push(name);
    for (let i = 0; ; i++) {
      const doc = await deps.store.readJson(w.key);
      if (!doc?.value || typeof doc.value !== 'object') break;
      const value = doc.value as Notice & { digestedTo?: ChannelName[] };
      const has = Array.isArray(value.digestedTo) ? value.digestedTo : [];
      if (has.includes(name)) break;
      try {
        await deps.store.writeJson(w.key, { ...value, digestedTo: [...has, name] }, { ifGeneration: doc.generation });
        break;
      } catch (err) {
        if (i < 9 && err instanceof StorageError && err.code === 'precondition_failed') continue;
        throw err;
      }
    }
  }
}

async function updateSent(
  deps: FanoutDeps,
  key: string,
  day: string,
  name: ChannelName,
  entry: SentDoc['channels'][ChannelName],
): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const doc = await deps.store.readJson(key);
    const sent = (doc?.value as SentDoc | undefined) ?? { day, channels: {} };
    try {
      await deps.store.writeJson(
        key,
        { ...sent, channels: { ...sent.channels, [name]: entry } },
        { ifGeneration: doc?.generation ?? null },
      );
      return;
    } catch (err) {
      if (isConflict(err)) continue;
      throw err;
    }
  }
  throw new OpsError(`digest ${day}: too many concurrent updates`);
}
