/** Fan-out stage 7, record: the delivery outbox (claimed before a send, so a redelivery never sends twice). */
import type { ObjectStore } from '../storage/types';
import { isConflict } from '../storage/types';
import type { Logger } from '../log/logger';
import { redactString } from '../log/redact';
import type { Channel, Notification } from './channels/types';
import { deliverWithRetry, type RetryPolicy } from './deliver';
import type { DeadLetterSink } from './deadletter';
import type { Transition } from './lifecycle';
import { alertKeys } from './layout';
import type { Alert, ChannelName } from './model';

/**
 * Stage 7, record: the outbox. One document per (incident, transition, channel), claimed before the send and
 * settled after it, with compare-and-swap, so a retried or redelivered message resends only to the channels
 * that have not succeeded, and two instances never send the same delivery at once.
 */
export type DeliveryStatus = 'sending' | 'delivered' | 'failed' | 'dead-lettered' | 'off' | 'superseded';

export interface DeliveryRecord {
  env: string;
  fingerprint: string;
  title: string;
  severity: Alert['severity'];
  seq: number;
  kind: Transition['kind'];
  /** When the transition was decided. */
  at: string;
  channel: ChannelName;
  status: DeliveryStatus;
  /** Sends tried, over every invocation. */
  attempts: number;
  /** Invocations that tried (and failed). */
  invocations: number;
  lastError?: string;
  claimedAt?: string;
  /** The server asked us to wait until then (429 Retry-After longer than one invocation waits): nothing is sent before. */
  notBefore?: string;
  updatedAt: string;
}

/** The pending index entry: a delivery not settled yet, for the sweep (one small document, removed once settled). */
export interface PendingMarker {
  outbox: string;
  fingerprint: string;
  seq: number;
  channel: ChannelName;
  createdAt: string;
}

export interface DeliveryOutcome {
  channel: ChannelName;
  status: DeliveryStatus | 'in-flight' | 'waiting';
  /** True when it still has to be sent: the message must be retried. */
  pending: boolean;
  error?: string;
}

export interface OutboxOptions {
  store: ObjectStore;
  env: string;
  logger: Logger;
  retry: RetryPolicy;
  deadLetter: DeadLetterSink;
  /** After this many failed invocations a non-critical delivery is dead-lettered; a critical one is kept and retried. */
  maxInvocations: number;
  /** A claim older than this is taken to be from a crashed instance. */
  claimTtlMs: number;
  now: () => Date;
  /** The instance is stopping: no further attempt (see deliverWithRetry). */
  signal?: AbortSignal;
}

/** A claim older than this is taken to be from a crashed instance (OutboxOptions.claimTtlMs's default). */
export const DEFAULT_CLAIM_TTL_MS = 120_000;

const DONE: DeliveryStatus[] = ['delivered', 'dead-lettered', 'off', 'superseded'];
export const isSettled = (status: DeliveryStatus) => DONE.includes(status);

/**
 * Delivers one transition to its channels. `latestSeq` is the incident's newest transition: an older one still owed
 * (a redelivered message, the sweep) is not sent after a newer one (a stale trigger must never follow the resolve,
 * nor a stale resolve a new trigger: PagerDuty would close the reopened incident); it is settled as superseded.
 */
export async function deliverTransition(
  o: OutboxOptions,
  alert: Alert,
  transition: Transition,
  channels: Partial<Record<ChannelName, Channel>>,
  latestSeq = transition.seq,
): Promise<DeliveryOutcome[]> {
  const targets = transition.receivers.filter((r): r is ChannelName => r !== 'digest');
  const notification: Notification = { kind: transition.kind, alert, seq: transition.seq };
  return Promise.all(
    targets.map((channel) =>
      deliverOne(o, notification, transition, channel, channels[channel], transition.seq < latestSeq),
    ),
  );
}

export async function deliverOne(
  o: OutboxOptions,
  n: Notification & { alert: Alert },
  t: Transition,
  name: ChannelName,
  channel: Channel | undefined,
  superseded = false,
): Promise<DeliveryOutcome> {
  const key = alertKeys.outbox(o.env, n.alert.fingerprint, t.seq, t.at, name);
  const pendingKey = alertKeys.pending(o.env, n.alert.fingerprint, t.seq, name);
  const doc = await o.store.readJson(key);
  const previous = doc?.value as DeliveryRecord | undefined;
  if (previous && isSettled(previous.status)) return { channel: name, status: previous.status, pending: false };
  const now = o.now();
  const base: DeliveryRecord = previous ?? {
    env: o.env,
    fingerprint: n.alert.fingerprint,
    title: n.alert.title,
    severity: n.alert.severity,
    seq: t.seq,
    kind: t.kind,
    at: t.at,
    channel: name,
    status: 'sending',
    attempts: 0,
    invocations: 0,
    updatedAt: now.toISOString(),
  };
  const settleWithoutSending = async (status: 'off' | 'superseded', why: string): Promise<DeliveryOutcome> => {
    const { claimedAt: _c, notBefore: _n, ...rest } = base;
    const settled = await cas(
      o.store,
      key,
      { ...rest, status, lastError: why, updatedAt: now.toISOString() },
      doc?.generation ?? null,
    );
    // A pending marker is written only before a first claim, so a delivery with no record yet has none to remove
    // (most often a channel that is off, once per transition): skipping that delete saves a locked unlink and the
    // folder pruning after it. A marker a crashed or concurrent first claim left is the sweep's to remove (its record
    // is settled now).
    if (settled && previous) await o.store.delete(pendingKey);
    return { channel: name, status, pending: false };
  };
  if (superseded) return settleWithoutSending('superseded', 'a newer transition of the incident was sent instead');
  if (!channel) return settleWithoutSending('off', 'channel not configured');
  if (
    previous?.status === 'sending' &&
    previous.claimedAt &&
    now.getTime() - Date.parse(previous.claimedAt) < o.claimTtlMs
  ) {
    return { channel: name, status: 'in-flight', pending: true };
  }
  if (previous?.notBefore && now.getTime() < Date.parse(previous.notBefore)) {
    return {
      channel: name,
      status: 'waiting',
      pending: true,
      error: `${name} asked to wait until ${previous.notBefore}`,
    };
  }
  if (!previous)
    await writeMarker(o.store, pendingKey, {
      outbox: key,
      fingerprint: n.alert.fingerprint,
      seq: t.seq,
      channel: name,
      createdAt: now.toISOString(),
    });
  const claim = await cas(
    o.store,
    key,
    { ...base, status: 'sending', claimedAt: now.toISOString(), updatedAt: now.toISOString() },
    doc?.generation ?? null,
  );
  if (!claim) return { channel: name, status: 'in-flight', pending: true };

  const { result, attempts } = await deliverWithRetry(channel, n, o.retry, o.signal);
  const settled: DeliveryRecord = { ...base, attempts: base.attempts + attempts, updatedAt: o.now().toISOString() };
  delete settled.claimedAt;
  delete settled.notBefore;
  if (result.ok) {
    delete settled.lastError;
    if (await cas(o.store, key, { ...settled, status: 'delivered' }, claim)) await o.store.delete(pendingKey);
    o.logger.info(
      { fingerprint: n.alert.fingerprint, channel: name, kind: t.kind, seq: t.seq, attempts },
      `alert delivered to ${name}: ${n.alert.title}`,
    );
    return { channel: name, status: 'delivered', pending: false };
  }
  const error = redactString(result.error);
  const invocations = base.invocations + 1;
  const giveUp = !result.retryable || (invocations >= o.maxInvocations && n.alert.severity !== 'critical');
  if (giveUp) {
    await o.deadLetter.publish({
      env: o.env,
      channel: name,
      kind: t.kind,
      seq: t.seq,
      reason: error,
      alert: n.alert,
      at: o.now().toISOString(),
    });
    if (await cas(o.store, key, { ...settled, invocations, status: 'dead-lettered', lastError: error }, claim))
      await o.store.delete(pendingKey);
    o.logger.warn(
      { fingerprint: n.alert.fingerprint, channel: name, kind: t.kind, attempts: settled.attempts },
      `alert to ${name} dead-lettered (${result.retryable ? 'retries exhausted' : 'not retryable'}): ${error}`,
    );
    return { channel: name, status: 'dead-lettered', pending: false, error };
  }
  const notBefore =
    result.retryAfterMs !== undefined && result.retryAfterMs > 0
      ? { notBefore: new Date(o.now().getTime() + result.retryAfterMs).toISOString() }
      : {};
  await cas(o.store, key, { ...settled, invocations, status: 'failed', lastError: error, ...notBefore }, claim);
  o.logger.warn(
    { fingerprint: n.alert.fingerprint, channel: name, kind: t.kind, attempts: settled.attempts, ...notBefore },
    `alert to ${name} failed, will be retried${notBefore.notBefore ? ` after ${notBefore.notBefore} (Retry-After)` : ''}: ${error}`,
  );
  return { channel: name, status: 'failed', pending: true, error };
}

async function writeMarker(store: ObjectStore, key: string, marker: PendingMarker): Promise<void> {
  try {
    await store.writeJson(key, marker, { ifGeneration: null });
  } catch (err) {
    if (isConflict(err)) return;
    throw err;
  }
}

/** Compare-and-swap write; the new generation, or undefined when someone else wrote first. */
async function cas(
  store: ObjectStore,
  key: string,
  value: DeliveryRecord,
  ifGeneration: string | null,
): Promise<string | undefined> {
  try {
    return await store.writeJson(key, value, { ifGeneration });
  } catch (err) {
    if (isConflict(err)) return undefined;
    throw err;
  }
}

/** Deliveries recorded since `since` (days listed one by one), oldest first. */
export async function readDeliveries(
  store: ObjectStore,
  env: string,
  since: Date,
  now = new Date(),
): Promise<DeliveryRecord[]> {
  const out: DeliveryRecord[] = [];
  for (
    let day = new Date(Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), since.getUTCDate()));
    day <= now;
    day = new Date(day.getTime() + 86_400_000)
  ) {
    for await (const info of store.list(alertKeys.outboxDay(env, day.toISOString().slice(0, 10)))) {
      const doc = await store.readJson(info.key);
      const record = doc?.value as DeliveryRecord | undefined;
      if (record && Date.parse(record.updatedAt) >= since.getTime()) out.push(record);
    }
  }
  return out.sort((a, b) => a.at.localeCompare(b.at) || a.channel.localeCompare(b.channel));
}
