/**
 * The outbox: an event a function could not publish is saved in the bucket, and the next run of any function
 * publishes it (then deletes it). Delivery is at least once (a crash between publish and delete publishes it again),
 * never lost. Keys (relative to the bucket URL's prefix):
 *
 *   <env>/.outbox/<time>-<uuid>.json   one undelivered event (JSON), oldest first by key
 */
import { randomUUID } from 'node:crypto';
import type { ObjectStore } from '../storage/types';
import type { OpsEvent, OpsEventInput } from './events';
import type { Logger } from '../log/logger';
import { errorMessage } from '../errors';
import { redactString } from '../log/redact';

export const outboxKeys = {
  prefix: (env: string) => `${env}/.outbox/`,
  event: (env: string, now = new Date()) =>
    `${env}/.outbox/${now.toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}.json`,
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

/**
 * Publishes every event in the outbox, oldest first, deleting each once published. Stops at the first failure (the
 * bus is still down; the next run tries again). Never throws.
 */
export async function flushOutbox(
  store: ObjectStore,
  env: string,
  deliver: (event: OpsEventInput) => Promise<string>,
  logger: Logger,
): Promise<{ published: number; left: boolean }> {
  let published = 0;
  try {
    for await (const object of store.list(outboxKeys.prefix(env))) {
      const doc = await store.readJson(object.key);
      if (!doc) continue;
      await deliver(doc.value as OpsEventInput);
      await store.delete(object.key);
      published++;
    }
  } catch (err) {
    logger.warn(
      `outbox: ${published} event(s) published, the rest stay for the next run: ${redactString(errorMessage(err))}`,
    );
    return { published, left: true };
  }
  if (published > 0) logger.info({ published }, `outbox: ${published} event(s) published`);
  return { published, left: false };
}
