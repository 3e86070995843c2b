/** The alert fan-out function: each event or incident through the pipeline, the daily digest and the sweep. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { decodeMessage, decodeJson, excerptOf, type DecodedInput } from '../../shared/alerts/decode';
import { fanout, type FanoutDeps, type FanoutResult } from '../../shared/alerts/pipeline';
import { describeChannels, fanoutDeps } from '../../shared/alerts/settings';
import { OpsError } from '../../shared/errors';
import { PUBSUB_CLOUDEVENT_TYPE, type PubSubMessageLike } from '../../shared/bus/decode';
import type { Runtime } from '../../shared/functions/runtime';
import { event, type EntryPoints } from '../../shared/functions/entry-points';
import { decodeTrigger } from '../../shared/functions/trigger';
import { sendDigest, type DigestResult } from '../../shared/alerts/digest';
import { sweep, type SweepResult } from '../../shared/alerts/sweep';
import { errorMessage } from '../../shared/errors';
import { z } from 'zod';

/** The digest trigger carries no options. */
export const DigestRequestSchema = z.object({}).strict();
/** Nor does the sweep's. */
export const SweepRequestSchema = z.object({}).strict();

/** A delivery is still owed: the function fails so that Pub/Sub redelivers (the outbox resends only what failed). */
export class RetryableDeliveryError extends OpsError {
  override readonly name = 'RetryableDeliveryError';
}

/** The CloudEvent of a Pub/Sub message, as the pipeline's decode stage takes it; never throws. */
export function decodeFanoutEvent(event: CloudEvent<unknown>): DecodedInput {
  const id = typeof event?.id === 'string' ? event.id : '';
  if (!event || typeof event !== 'object')
    return { kind: 'poison', reason: 'event: not a CloudEvent', excerpt: '', messageId: '' };
  if (typeof event.type === 'string' && event.type !== PUBSUB_CLOUDEVENT_TYPE)
    return { kind: 'poison', reason: `type: expected ${PUBSUB_CLOUDEVENT_TYPE}`, excerpt: '', messageId: id };
  let data: unknown = event.data;
  if (typeof data === 'string' || Buffer.isBuffer(data)) {
    try {
      data = JSON.parse(String(data));
    } catch {
      return { kind: 'poison', reason: 'data: not valid JSON', excerpt: excerptOf(String(data)), messageId: id };
    }
  }
  const message = (data as { message?: unknown } | null)?.message;
  if (!message || typeof message !== 'object') {
    // A CloudEvent whose data is the document itself (not a Pub/Sub envelope).
    if (data && typeof data === 'object') return decodeJson(data, id);
    return { kind: 'poison', reason: 'data.message: missing (not a Pub/Sub CloudEvent)', excerpt: '', messageId: id };
  }
  const decoded = decodeMessage(message as PubSubMessageLike);
  return decoded.messageId ? decoded : { ...decoded, messageId: id };
}

/**
 * The fan-out entry point (`fanoutEvent`): the suite's events (mt-ops-events) and Cloud Monitoring incidents
 * (mt-ops-monitoring), both as Pub/Sub CloudEvents. Poison is logged and acknowledged; a delivery still owed makes
 * the function fail so Pub/Sub redelivers.
 */
export function fanoutEventHandler(runtime: () => Runtime, now: () => Date = () => new Date()) {
  let deps: FanoutDeps | undefined;
  return async (event: CloudEvent<unknown>): Promise<FanoutResult> => {
    const rt = runtime();
    if (!deps) {
      deps = { ...fanoutDeps(rt.config, rt.store, rt.env, rt.logger, rt.signal), now };
      rt.logger.info(describeChannels(rt.config, deps.channels));
    }
    const result = await fanout(deps, decodeFanoutEvent(event));
    if (result.retry) {
      const failed = result.alerts.flatMap((a) =>
        a.deliveries.filter((d) => d.pending).map((d) => `${d.channel}${d.error ? ` (${d.error})` : ''}`),
      );
      throw new RetryableDeliveryError(
        `alert delivery still owed to ${failed.join(', ')}; Pub/Sub will redeliver`,
        'retry',
      );
    }
    return result;
  };
}

/**
 * The daily digest (`digestEvent`, Scheduler 09:00 America/New_York via mt-ops-digest-trigger): one Slack message and
 * one email of the info notices. A channel that failed retryably makes the function fail, so Pub/Sub redelivers;
 * a channel that already has today's digest is not sent it again.
 */
export function digestEventHandler(runtime: () => Runtime, now: () => Date = () => new Date()) {
  let deps: FanoutDeps | undefined;
  return async (event: CloudEvent<unknown>): Promise<DigestResult | undefined> => {
    const rt = runtime();
    if (!decodeTrigger(DigestRequestSchema, event, rt, 'digest')) return undefined;
    deps ??= fanoutDeps(rt.config, rt.store, rt.env, rt.logger, rt.signal);
    const result = await sendDigest(deps, now());
    if (result.retry)
      throw new RetryableDeliveryError(
        `daily digest ${result.day} still owed to ${Object.entries(result.channels)
          .filter(([, s]) => s === 'failed')
          .map(([c]) => c)
          .join(', ')}`,
        'retry',
      );
    return result;
  };
}

/**
 * The sweep (`sweepEvent`, Scheduler every minute via its trigger topic): firings held back by a maintenance window
 * or a silence that has ended, reminders, and deliveries still owed (shared/alerts/sweep.ts). A failed sweep is
 * logged and acknowledged: the next minute's sweep does the same work (nothing is lost in between).
 */
export function sweepEventHandler(runtime: () => Runtime, now: () => Date = () => new Date()) {
  let deps: FanoutDeps | undefined;
  return async (event: CloudEvent<unknown>): Promise<SweepResult | undefined> => {
    const rt = runtime();
    if (!decodeTrigger(SweepRequestSchema, event, rt, 'alert sweep')) return undefined;
    deps ??= fanoutDeps(rt.config, rt.store, rt.env, rt.logger, rt.signal);
    try {
      return await sweep({ ...deps, now });
    } catch (err) {
      rt.logger.error({ err }, `alert sweep failed (the next one retries): ${errorMessage(err)}`);
      return undefined;
    }
  };
}

export const entryPoints: EntryPoints = {
  fanoutEvent: event((rt) => fanoutEventHandler(rt)),
  digestEvent: event((rt) => digestEventHandler(rt)),
  sweepEvent: event((rt) => sweepEventHandler(rt)),
};
