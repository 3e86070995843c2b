/** The one alert model every input is normalised to. */
import { createHash } from 'node:crypto';
import type { Severity } from '../bus/events';

/**
 * The one alert model every input is normalised to (our own events, the probes, Cloud Monitoring incidents),
 * in the manner of Alertmanager's: a fingerprint names the incident; status says whether it is firing or over.
 */
export interface Alert {
  /** Stable for the incident's whole life: pairs firing with resolved. */
  fingerprint: string;
  status: 'firing' | 'resolved';
  severity: Severity;
  title: string;
  summary: string;
  /** Matched by routes and silences; `severity`, `source` and `env` are matchable too. */
  labels: Record<string, string>;
  /** `mt-ops` (the suite's functions), `probe`, `cloud-monitoring`, `test`. */
  source: string;
  links: Array<{ title: string; url: string }>;
  /** ISO times. */
  startsAt: string;
  endsAt?: string;
  env: string;
  /** Evidence for PagerDuty's custom_details and the email body (documentation, observed value, ...). */
  details: Record<string, string>;
}

/** An event that is not an alert (backup.succeeded, ...): an info notice for the daily digest. */
export interface Notice {
  type: string;
  env: string;
  time: string;
  title: string;
  summary: string;
}

/** What one message normalises to: alerts (opened or closed incidents) and notices for the digest. */
export interface Normalised {
  alerts: Alert[];
  notices: Notice[];
}

/** Where a notification goes: a channel, or the daily digest. */
export const RECEIVERS = ['pagerduty', 'slack', 'email', 'webhook', 'digest'] as const;
export type Receiver = (typeof RECEIVERS)[number];
export type ChannelName = Exclude<Receiver, 'digest'>;

/** The labels routes and silences match on: the alert's own, plus severity, source, status and env. */
export function matchLabels(alert: Alert): Record<string, string> {
  return { ...alert.labels, severity: alert.severity, source: alert.source, status: alert.status, env: alert.env };
}

/** A short, key-safe digest of a fingerprint (fingerprints may hold any character). */
export function fingerprintKey(fingerprint: string): string {
  return createHash('sha256').update(fingerprint).digest('hex').slice(0, 24);
}
