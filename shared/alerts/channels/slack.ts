/** The Slack channel (incoming webhook, Block Kit). */
import { COLOUR, postJson, statusWord, type Channel, type Notification, type SendResult } from './types';

/**
 * Slack incoming webhook: Block Kit blocks with a plain-text fallback, a colour bar by severity, links.
 * Slack allows about one message per second per webhook: sends are spaced at least `minIntervalMs` apart
 * (per webhook, in this process); a 429's Retry-After is honoured by the delivery stage.
 */
export class SlackChannel implements Channel {
  readonly name = 'slack' as const;
  private static lastSent = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly webhookUrl: string,
    private readonly options: { channel?: string; minIntervalMs?: number } = {},
  ) {}

  accepts(): boolean {
    return true;
  }

  send(n: Notification, signal: AbortSignal): Promise<SendResult> {
    const run = this.queue.then(async () => {
      const gap = (SlackChannel.lastSent.get(this.webhookUrl) ?? 0) + (this.options.minIntervalMs ?? 1000) - Date.now();
      if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      SlackChannel.lastSent.set(this.webhookUrl, Date.now());
      return postJson(this.webhookUrl, slackPayload(n), signal, 'Slack');
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

export function slackPayload(n: Notification): Record<string, unknown> {
  if (n.kind === 'digest') {
    const d = n.digest;
    const lines = d.notices.map((x) => `• *${x.title}*: ${x.summary}`);
    const text = `Daily digest (${d.env}): ${d.notices.length} notice(s) since ${d.from}`;
    return {
      text,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: `Daily digest (${d.env})` } },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: lines.length ? lines.join('\n').slice(0, 2900) : 'Nothing to report.' },
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: `${d.from} - ${d.to}` }] },
      ],
    };
  }
  const a = n.alert;
  const word = statusWord(n);
  const colour = n.kind === 'resolved' ? COLOUR.resolved : COLOUR[a.severity];
  const text = `[${word}] [${a.severity.toUpperCase()}] ${a.title}: ${a.summary}`;
  const links = a.links.map((l) => `<${l.url}|${l.title}>`).join(' · ');
  const fields = Object.entries(a.details)
    .filter(([k]) => k !== 'documentation')
    .slice(0, 10)
    .map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${v.slice(0, 200)}` }));
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `*[${word}] ${a.title}*\n${a.summary}`.slice(0, 2900) } },
    ...(fields.length ? [{ type: 'section', fields }] : []),
    ...(a.details.documentation
      ? [{ type: 'section', text: { type: 'mrkdwn', text: a.details.documentation.slice(0, 2900) } }]
      : []),
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `${a.severity} · ${a.source} · ${a.env} · since ${a.startsAt}${links ? ` · ${links}` : ''}`,
        },
      ],
    },
  ];
  return { text, attachments: [{ color: colour, fallback: text, blocks }] };
}
