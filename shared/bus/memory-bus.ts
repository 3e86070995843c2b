import { randomUUID } from 'node:crypto';
import { OpsEvent, attributesOf, type EventBus, type OpsEventInput, type ReceivedEvent } from './events';
import { parseOrThrow } from '../errors';
import { log } from '../log/logger';

export type Handler = (message: ReceivedEvent) => Promise<void> | void;

/**
 * The in-process event bus: for `npm start` and tests. Validates on publish and before delivery;
 * a failing subscriber is logged and never stops the others.
 */
export class MemoryBus implements EventBus {
  private readonly subscribers: Array<{ filter: (e: OpsEvent) => boolean; handler: Handler }> = [];
  readonly published: ReceivedEvent[] = [];
  private pending = new Set<Promise<void>>();

  async publish(input: OpsEventInput): Promise<string> {
    const event = parseOrThrow(OpsEvent, input, 'event');
    const message: ReceivedEvent = { event, attributes: attributesOf(event), messageId: randomUUID() };
    this.published.push(message);
    if (this.published.length > 1000) this.published.shift();
    for (const { filter, handler } of this.subscribers) {
      if (!filter(event)) continue;
      const delivery = (async () => {
        try {
          await handler({ ...message, event: OpsEvent.parse(message.event) });
        } catch (err) {
          log().error({ err, type: event.type, messageId: message.messageId }, 'event subscriber failed');
        }
      })();
      this.pending.add(delivery);
      void delivery.finally(() => this.pending.delete(delivery));
    }
    return message.messageId;
  }

  /** Delivers every event for which `filter` is true (by default all) to `handler`, asynchronously. */
  subscribe(handler: Handler, filter: (e: OpsEvent) => boolean = () => true): () => void {
    const entry = { filter, handler };
    this.subscribers.push(entry);
    return () => {
      const i = this.subscribers.indexOf(entry);
      if (i >= 0) this.subscribers.splice(i, 1);
    };
  }

  /** Waits until every delivery started so far has finished. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    await this.drain();
  }
}
