/** The generic JSON webhook channel. */
import { postJson, type Channel, type Notification, type SendResult } from './types';

/** A generic JSON webhook: `{version: 1, kind, alert | digest}`; 408, 429 and 5xx are retried. */
export class WebhookChannel implements Channel {
  readonly name = 'webhook' as const;
  constructor(private readonly url: string) {}

  accepts(): boolean {
    return true;
  }

  send(n: Notification, signal: AbortSignal): Promise<SendResult> {
    const body =
      n.kind === 'digest'
        ? { version: 1, kind: 'digest', digest: n.digest }
        : { version: 1, kind: n.kind, seq: n.seq, alert: n.alert };
    return postJson(this.url, body, signal, 'webhook');
  }
}
