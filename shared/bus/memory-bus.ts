/** The in-process event bus (local runs and tests): subscribers get events as they are published. */
import { randomUUID } from 'node:crypto';
import { OpsEvent, attributesOf, type EventBus, type OpsEventInput, type ReceivedEvent } from './events';
import { parseOrThrow, formatIssues } from '../errors';
import { log, type Logger } from '../log/logger';

export type Handler = (message: ReceivedEvent) => Promise<void> | void;

/**
 * Which events a subscriber gets:
 * - `'*'`: every event (the in-process bus is the events topic);
 * - an event type (`'backup.failed'`) or a type prefix (`'backup.*'`);
 * - attributes to match exactly, like a Pub/Sub subscription filter (`{ severity: 'critical' }`);
 * - a predicate on the event and its attributes.
 */
export type Selector =
  | string
  | Partial<Record<'type' | 'severity' | 'env', string>>
  | ((event: OpsEvent, attributes: Record<string, string>) => boolean);

interface Subscriber {
  matches: (event: OpsEvent, attributes: Record<string, string>) => boolean;
  handler: Handler;
}

function matcher(selector: Selector): Subscriber['matches'] {
  if (typeof selector === 'function') return selector;
  if (typeof selector === 'string') {
    if (selector === '*') return () => true;
    if (selector.endsWith('.*')) {
      const prefix = selector.slice(0, -1);
      return (e) => e.type.startsWith(prefix);
    }
    return (e) => e.type === selector;
  }
  const wanted = Object.entries(selector).filter(([, v]) => v !== undefined);
  return (_e, attributes) => wanted.every(([k, v]) => attributes[k] === v);
}

/**
 * The in-process event bus: for `npm start` and tests. Validates on publish and again before each delivery
 * (every subscriber gets its own parsed copy); a failing subscriber is logged and never stops the others.
 */
export class MemoryBus implements EventBus {
  private readonly subscribers: Subscriber[] = [];
  /** The last 1000 published messages, oldest first. */
  readonly published: ReceivedEvent[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly logger?: Logger;

  constructor(options: { logger?: Logger } = {}) {
    this.logger = options.logger;
  }

  async publish(input: OpsEventInput): Promise<string> {
    const event = parseOrThrow(OpsEvent, input, 'event');
    const message: ReceivedEvent = { event, attributes: attributesOf(event), messageId: randomUUID() };
    this.published.push(message);
    if (this.published.length > 1000) this.published.shift();
    for (const subscriber of this.subscribers) {
      if (!subscriber.matches(event, message.attributes)) continue;
      this.track(this.deliver(subscriber.handler, message));
    }
    return message.messageId;
  }

  /** Delivers every event the selector matches to `handler`, asynchronously; returns an unsubscribe function. */
  subscribe(handler: Handler): () => void;
  subscribe(selector: Selector, handler: Handler): () => void;
  subscribe(a: Selector | Handler, b?: Handler): () => void {
    const entry: Subscriber = b
      ? { matches: matcher(a as Selector), handler: b }
      : { matches: () => true, handler: a as Handler };
    this.subscribers.push(entry);
    return () => {
      const i = this.subscribers.indexOf(entry);
      if (i >= 0) this.subscribers.splice(i, 1);
    };
  }

  /** Waits until every delivery started so far (and any they caused) has finished. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    await this.drain();
  }

  private async deliver(handler: Handler, message: ReceivedEvent): Promise<void> {
    const { messageId } = message;
    const logger = this.logger ?? log();
    // A fresh, validated copy: one subscriber mutating its event cannot affect another.
    const checked = OpsEvent.safeParse(structuredClone(message.event));
    if (!checked.success) {
      logger.error({ messageId, issues: formatIssues(checked.error) }, 'event dropped before delivery: invalid');
      return;
    }
    try {
      await handler({ event: checked.data, attributes: { ...message.attributes }, messageId });
    } catch (err) {
      logger.error({ err, type: message.event.type, messageId }, 'event subscriber failed');
    }
  }

  private track(delivery: Promise<void>): void {
    this.pending.add(delivery);
    void delivery.finally(() => this.pending.delete(delivery));
  }
}
