/**
 * The periodic sweep (Scheduler job -> `sweepEvent`, every minute): what must happen when no message arrives.
 *   - a firing incident held back by a maintenance window or a silence is sent once nothing mutes it any more;
 *   - a still-firing incident reminds every `repeatIntervalHours`;
 *   - a delivery still owed (failed retryably, a Retry-After not yet passed, a claim left by a crashed instance) is
 *     retried from the pending index, with backoff, after Pub/Sub has stopped redelivering its message;
 *   - resolved incidents are forgotten once no redelivery can refer to them any more.
 * Same stages as the pipeline (handleAlert, the outbox); the clock is injected (`deps.now`).
 */
import { StorageError } from '../storage/types';
import { sweepDue, sweepMessageId, type IncidentState } from './lifecycle';
import { alertKeys } from './layout';
import type { Alert } from './model';
import type { ObjectStore } from '../storage/types';
import {
  DEFAULT_CLAIM_TTL_MS,
  deliverOne,
  isSettled,
  type DeliveryOutcome,
  type DeliveryRecord,
  type OutboxOptions,
  type PendingMarker,
} from './outbox';
import { handleAlert, muteReason, outboxOptions, type AlertOutcome, type FanoutDeps } from './pipeline';
import { listSilences } from './silences';

/** Pub/Sub keeps an unacknowledged message at most 7 days: after that no redelivery can name a resolved incident. */
export const FORGET_RESOLVED_AFTER_MS = 8 * 86_400_000;
/** Between two sweep retries of one delivery: 1 min, doubling per failed invocation, at most 30 min. */
export const sweepBackoffMs = (invocations: number) =>
  Math.min(30 * 60_000, 60_000 * 2 ** Math.max(0, invocations - 1));

export interface SweepResult {
  /** Firing incidents looked at. */
  firing: number;
  /** Sends the sweep decided (held-back firings, reminders). */
  sent: AlertOutcome[];
  /** Deliveries retried from the pending index, with their outcome. */
  retried: Array<DeliveryOutcome & { fingerprint: string; seq: number }>;
  /** Resolved incidents forgotten. */
  forgotten: number;
  /** Some delivery is still owed (the next sweep tries again). */
  pending: boolean;
}

export async function sweep(deps: FanoutDeps): Promise<SweepResult> {
  const now = (deps.now ?? (() => new Date()))();
  const repeatMs = deps.routing.repeatIntervalHours * 3_600_000;
  const silences = deps.silences ?? (await listSilences(deps.store, deps.env));
  const result: SweepResult = { firing: 0, sent: [], retried: [], forgotten: 0, pending: false };

  for await (const info of deps.store.list(alertKeys.incidents(deps.env))) {
    const doc = await deps.store.readJson(info.key);
    const state = doc?.value as IncidentState | undefined;
    if (!doc || !state || typeof state !== 'object' || typeof state.fingerprint !== 'string') continue;
    if (state.status === 'resolved') {
      if (now.getTime() - Date.parse(state.endsAt ?? state.startsAt) > FORGET_RESOLVED_AFTER_MS) {
        await deleteIf(deps, info.key, doc.generation);
        result.forgotten += 1;
      }
      continue;
    }
    result.firing += 1;
    if (!sweepDue(state, now, repeatMs, muteReason(deps, state.alert, now, silences))) continue;
    const outcome = await handleAlert(
      deps,
      state.alert,
      sweepMessageId(state.fingerprint, now, repeatMs),
      now,
      silences,
    );
    if (outcome.transition) result.sent.push(outcome);
  }

  const o: OutboxOptions = outboxOptions(deps);
  for await (const info of deps.store.list(alertKeys.pendingAll(deps.env))) {
    const marker = (await deps.store.readJson(info.key))?.value as PendingMarker | undefined;
    if (!marker?.outbox) continue;
    const record = (await deps.store.readJson(marker.outbox))?.value as DeliveryRecord | undefined;
    if (!record) {
      // written just before a claim: leave it to its writer unless that writer is long gone
      if (now.getTime() - Date.parse(marker.createdAt) > o.claimTtlMs) await deps.store.delete(info.key);
      continue;
    }
    if (isSettled(record.status)) {
      await deps.store.delete(info.key);
      continue;
    }
    if (
      record.status === 'failed' &&
      now.getTime() - Date.parse(record.updatedAt) < sweepBackoffMs(record.invocations)
    ) {
      result.pending = true;
      continue;
    }
    const state = (await deps.store.readJson(alertKeys.incident(deps.env, record.fingerprint)))?.value as
      IncidentState | undefined;
    const transition = state?.transitions.find((t) => t.seq === record.seq);
    // the incident's newest alert is what the newest transition carries; an older transition is superseded anyway
    const alert: Alert = state?.alert ?? {
      fingerprint: record.fingerprint,
      status: 'firing',
      severity: record.severity,
      title: record.title,
      summary: '',
      labels: {},
      source: 'mt-ops',
      links: [],
      startsAt: record.at,
      env: record.env,
      details: {},
    };
    const t = transition ?? {
      seq: record.seq,
      kind: record.kind,
      at: record.at,
      receivers: [record.channel],
      messageId: '',
    };
    const superseded = !state || !transition || record.seq < state.seq;
    const outcome = await deliverOne(
      o,
      { kind: t.kind, alert, seq: t.seq },
      t,
      record.channel,
      deps.channels[record.channel],
      superseded,
    );
    result.retried.push({ ...outcome, fingerprint: record.fingerprint, seq: record.seq });
    if (outcome.pending) result.pending = true;
  }
  result.pending ||= result.sent.some((s) => s.deliveries.some((d) => d.pending));
  // what was really sent again, apart from deliveries not yet due (a Retry-After) or being sent by another instance:
  // the line said "1 deliveries retried" every sweep while a fan-out waited out Slack's Retry-After
  const tried = result.retried.filter((r) => ['delivered', 'failed', 'dead-lettered'].includes(r.status)).length;
  const waiting = result.retried.filter((r) => r.status === 'waiting' || r.status === 'in-flight').length;
  deps.logger.info(
    {
      firing: result.firing,
      sent: result.sent.length,
      retried: tried,
      waiting,
      forgotten: result.forgotten,
      pending: result.pending,
    },
    `alert sweep: ${result.firing} firing, ${result.sent.length} sent (held back or reminders), ${tried} deliveries retried${waiting ? `, ${waiting} not yet due or being sent elsewhere` : ''}${result.pending ? '; some still owed' : ''}`,
  );
  return result;
}

async function deleteIf(deps: FanoutDeps, key: string, generation: string): Promise<void> {
  try {
    await deps.store.delete(key, { ifGeneration: generation });
  } catch (err) {
    // a message touched it meanwhile: keep it
    if (!(err instanceof StorageError && err.code === 'precondition_failed')) throw err;
  }
}

/** A delivery still owed: failed and waiting for its retry, or claimed by a send that has not settled. */
export interface OwedDelivery extends DeliveryRecord {
  /**
   * When the sweep tries it next, at the earliest: a failed one after its backoff (and any Retry-After), a claimed one
   * once the claim is old enough to be a crashed instance's. A redelivery of its message by Pub/Sub may come sooner.
   */
  nextAttempt: string;
}

/** The deliveries still owed, from the pending index (what the sweep retries), oldest first. */
export async function readOwed(
  store: ObjectStore,
  env: string,
  claimTtlMs = DEFAULT_CLAIM_TTL_MS,
): Promise<OwedDelivery[]> {
  const out: OwedDelivery[] = [];
  for await (const info of store.list(alertKeys.pendingAll(env))) {
    const marker = (await store.readJson(info.key))?.value as PendingMarker | undefined;
    if (!marker?.outbox) continue;
    const record = (await store.readJson(marker.outbox))?.value as DeliveryRecord | undefined;
    if (!record || isSettled(record.status)) continue;
    const next =
      record.status === 'sending' && record.claimedAt
        ? Date.parse(record.claimedAt) + claimTtlMs
        : Math.max(
            Date.parse(record.updatedAt) + sweepBackoffMs(record.invocations),
            record.notBefore ? Date.parse(record.notBefore) : 0,
          );
    out.push({ ...record, nextAttempt: new Date(next).toISOString() });
  }
  return out.sort(
    (a, b) =>
      a.at.localeCompare(b.at) || a.fingerprint.localeCompare(b.fingerprint) || a.channel.localeCompare(b.channel),
  );
}
