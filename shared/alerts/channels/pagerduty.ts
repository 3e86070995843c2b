/** The PagerDuty channel (Events API v2). */
import type { Severity } from '../../bus/events';
import { postJson, type Channel, type Notification, type SendResult } from './types';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

const PD_SEVERITY: Record<Severity, 'critical' | 'warning' | 'info'> = {
  critical: 'critical',
  warning: 'warning',
  info: 'info',
};

/**
 * PagerDuty Events API v2: `trigger` (firing, reminders) and `resolve`, with dedup_key = the fingerprint, so
 * PagerDuty itself folds repeats into one incident. 429 and 5xx are retryable; 400 (an invalid event) is not.
 */
export class PagerDutyChannel implements Channel {
  readonly name = 'pagerduty' as const;
  constructor(
    private readonly routingKey: string,
    private readonly eventsUrl: string = PAGERDUTY_EVENTS_URL,
  ) {}

  accepts(n: Notification): boolean {
    return n.kind !== 'digest';
  }

  send(n: Notification, signal: AbortSignal): Promise<SendResult> {
    return postJson(this.eventsUrl, pagerDutyEvent(this.routingKey, n), signal, 'PagerDuty');
  }
}

export function pagerDutyEvent(routingKey: string, n: Notification): Record<string, unknown> {
  if (n.kind === 'digest') throw new Error('PagerDuty does not take digests');
  const a = n.alert;
  if (n.kind === 'resolved') return { routing_key: routingKey, event_action: 'resolve', dedup_key: a.fingerprint };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: a.fingerprint,
    payload: {
      summary: `${n.kind === 'test' ? '[TEST] ' : ''}${a.title}: ${a.summary}`.slice(0, 1024),
      source: a.labels.resource_type ?? a.source,
      severity: PD_SEVERITY[a.severity],
      timestamp: a.startsAt,
      component: a.labels.job ?? a.labels.probe ?? a.labels.policy,
      group: a.env,
      class: a.labels.type,
      custom_details: { ...a.details, labels: a.labels, links: a.links, summary: a.summary },
    },
    links: a.links.map((l) => ({ href: l.url, text: l.title })),
  };
}
