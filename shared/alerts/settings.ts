/** The fan-out's channels and dependencies, from the environment and the operator file. */
import type { Config } from '../config/load';
import { UsageError } from '../errors';
import type { Logger } from '../log/logger';
import type { ObjectStore } from '../storage/types';
import type { Channel } from './channels/types';
import { EmailChannel } from './channels/email';
import { PagerDutyChannel } from './channels/pagerduty';
import { SlackChannel } from './channels/slack';
import { WebhookChannel } from './channels/webhook';
import { openDeadLetter } from './deadletter';
import type { ChannelName } from './model';
import type { FanoutDeps } from './pipeline';

/**
 * The channels the environment turns on (fixed names: SLACK_WEBHOOK_URL, PAGERDUTY_ROUTING_KEY, PAGERDUTY_EVENTS_URL,
 * SMTP_URL with ALERT_EMAIL_FROM and ALERT_EMAIL_TO, ALERT_WEBHOOK_URL). A channel without its settings is off.
 */
export function channelsFromConfig(config: Pick<Config, 'env' | 'file'>): Partial<Record<ChannelName, Channel>> {
  const e = config.env;
  const channels: Partial<Record<ChannelName, Channel>> = {};
  if (e.PAGERDUTY_ROUTING_KEY)
    channels.pagerduty = new PagerDutyChannel(e.PAGERDUTY_ROUTING_KEY, e.PAGERDUTY_EVENTS_URL);
  if (e.SLACK_WEBHOOK_URL)
    channels.slack = new SlackChannel(e.SLACK_WEBHOOK_URL, { channel: config.file.routing.slackChannel });
  if (e.SMTP_URL && e.ALERT_EMAIL_FROM && e.ALERT_EMAIL_TO) {
    if (!/^smtps?:\/\/[^/]+/.test(e.SMTP_URL))
      throw new UsageError('SMTP_URL: must be smtp://[user:pass@]host[:port] or smtps://...');
    const to = e.ALERT_EMAIL_TO.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    channels.email = new EmailChannel({ smtpUrl: e.SMTP_URL, password: e.SMTP_PASSWORD, from: e.ALERT_EMAIL_FROM, to });
  }
  if (e.ALERT_WEBHOOK_URL) channels.webhook = new WebhookChannel(e.ALERT_WEBHOOK_URL);
  return channels;
}

/** One line at start-up: which channels are on, and why the others are off. */
export function describeChannels(config: Pick<Config, 'env'>, channels: Partial<Record<ChannelName, Channel>>): string {
  const e = config.env;
  const why: Record<ChannelName, string> = {
    pagerduty: 'PAGERDUTY_ROUTING_KEY not set',
    slack: 'SLACK_WEBHOOK_URL not set',
    email: !e.SMTP_URL ? 'SMTP_URL not set' : 'ALERT_EMAIL_FROM and ALERT_EMAIL_TO needed',
    webhook: 'ALERT_WEBHOOK_URL not set',
  };
  const names = Object.keys(why) as ChannelName[];
  const on = names.filter((n) => channels[n]);
  const off = names.filter((n) => !channels[n]).map((n) => `${n} (${why[n]})`);
  return `alert channels on: ${on.join(', ') || 'none'}${off.length ? `; off: ${off.join(', ')}` : ''}`;
}

/** Everything the pipeline needs, from the configuration (the function and the CLI build it the same way). */
export function fanoutDeps(
  config: Config,
  store: ObjectStore,
  env: string,
  logger: Logger,
  signal?: AbortSignal,
): FanoutDeps {
  const channels = channelsFromConfig(config);
  return {
    ...(signal ? { signal } : {}),
    store,
    env,
    logger,
    routing: config.file.routing,
    maintenance: config.file.maintenance,
    channels,
    deadLetter: openDeadLetter(config),
  };
}
