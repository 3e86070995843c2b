import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tempDir } from '../support/temp';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack';
import { startFakePagerDuty, type FakePagerDuty } from '../support/fake-pagerduty';
import { startSmtpServer, type SmtpServer } from '../support/smtp-server';
import { delivered } from '../support/fake-http';
import { openStore } from '../../shared/storage/open';
import { createLogger } from '../../shared/log/logger';
import { RoutingSchema } from '../../shared/alerts/config';
import { decodeDocument, decodeMessage } from '../../shared/alerts/decode';
import { backupFailed, message } from '../support/alert-messages';
import { fanout, type FanoutDeps } from '../../shared/alerts/pipeline';
import { SlackChannel } from '../../shared/alerts/channels/slack';
import { PagerDutyChannel } from '../../shared/alerts/channels/pagerduty';
import { EmailChannel } from '../../shared/alerts/channels/email';
import { readDeliveries } from '../../shared/alerts/outbox';
import type { DeadLetter } from '../../shared/alerts/deadletter';
import { addSilence } from '../../shared/alerts/silences';

let slack: FakeSlack;
let pd: FakePagerDuty;
let smtp: SmtpServer;
const logs: string[] = [];
const letters: DeadLetter[] = [];

beforeAll(async () => {
  [slack, pd, smtp] = await Promise.all([startFakeSlack(), startFakePagerDuty(), startSmtpServer()]);
});
afterAll(async () => {
  await Promise.all([slack.close(), pd.close(), smtp.stop()]);
});

function deps(over: Partial<FanoutDeps> = {}): FanoutDeps {
  const store = openStore(`file://${tempDir('mt-alerts-')}`);
  const destination = new Writable({ write: (c, _e, done) => (logs.push(String(c)), done()) });
  return {
    store,
    env: 'prod',
    logger: createLogger({ destination, pretty: false, level: 'info' }),
    routing: RoutingSchema.parse({}),
    maintenance: [],
    channels: {
      slack: new SlackChannel(slack.webhookUrl, { minIntervalMs: 0 }),
      pagerduty: new PagerDutyChannel('R0UTINGKEY0000000000000000000000', pd.eventsUrl),
      email: new EmailChannel({ smtpUrl: smtp.url, from: 'ops@example.org', to: ['oncall@example.org'] }),
    },
    deadLetter: { publish: async (l) => void letters.push(l), close: async () => {} },
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10, timeoutMs: 15_000, maxRetryAfterMs: 2000 },
    maxInvocations: 3,
    ...over,
  };
}

const counts = () => ({ slack: delivered(slack).length, pd: delivered(pd).length, email: smtp.messages().length });
const delta = (before: ReturnType<typeof counts>) => {
  const now = counts();
  return { slack: now.slack - before.slack, pd: now.pd - before.pd, email: now.email - before.email };
};

describe('fan-out pipeline against the fake Slack and PagerDuty and a real SMTP server', () => {
  it('a critical goes to PagerDuty, Slack and email exactly once; a redelivery and a repeat send nothing', async () => {
    const d = deps();
    const before = counts();
    const first = await fanout(d, message(backupFailed('2026-11-29T08:00:00.000Z'), 'm1'));
    expect(first.retry).toBe(false);
    expect(first.alerts[0]!.deliveries.map((x) => [x.channel, x.status])).toEqual([
      ['pagerduty', 'delivered'],
      ['slack', 'delivered'],
      ['email', 'delivered'],
    ]);
    await fanout(d, message(backupFailed('2026-11-29T08:00:00.000Z'), 'm1'));
    await fanout(d, message(backupFailed('2026-11-29T08:30:00.000Z'), 'm2'));
    expect(delta(before)).toEqual({ slack: 1, pd: 1, email: 1 });
    expect(delivered(pd).at(-1)!.json).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'mt-ops/prod/backup',
      payload: { severity: 'critical' },
    });
  });

  it('a resolve goes out at once; a warning goes to Slack and email only', async () => {
    const d = deps();
    await fanout(d, message(backupFailed('2026-11-29T08:00:00.000Z'), 'a1'));
    const before = counts();
    const ok = {
      type: 'backup.succeeded',
      severity: 'info',
      env: 'prod',
      time: '2026-11-29T09:00:00.000Z',
      backupId: 'b1',
      trigger: 'manual',
      bytes: 1,
      rows: 1,
      tables: 1,
      durationMs: 10,
    };
    const r = await fanout(d, message(ok, 'a2'));
    expect(r.alerts[0]!.transition?.kind).toBe('resolved');
    expect(delivered(pd).at(-1)!.json).toMatchObject({ event_action: 'resolve', dedup_key: 'mt-ops/prod/backup' });
    await fanout(
      d,
      message(
        {
          type: 'retention.failed',
          severity: 'warning',
          env: 'prod',
          time: '2026-11-29T09:00:00.000Z',
          reason: 'held',
        },
        'a3',
      ),
    );
    expect(delta(before)).toEqual({ slack: 2, pd: 1, email: 2 });
  });

  it('a retried message is resent only to the channel that failed', async () => {
    const d = deps();
    pd.script({ status: 500, body: '{}' }, { status: 503, body: '{}' });
    const before = counts();
    const first = await fanout(d, message(backupFailed('2026-11-29T08:00:00.000Z'), 'r1'));
    expect(first.retry).toBe(true);
    expect(first.alerts[0]!.deliveries.find((x) => x.channel === 'pagerduty')).toMatchObject({
      status: 'failed',
      pending: true,
    });
    expect(delta(before)).toEqual({ slack: 1, pd: 0, email: 1 });
    const again = await fanout(d, message(backupFailed('2026-11-29T08:00:00.000Z'), 'r1'));
    expect(again.retry).toBe(false);
    expect(delta(before)).toEqual({ slack: 1, pd: 1, email: 1 });
    const log = await readDeliveries(d.store, 'prod', new Date('2026-11-29T00:00:00Z'));
    expect(log.find((x) => x.channel === 'pagerduty')).toMatchObject({
      status: 'delivered',
      attempts: 3,
      invocations: 1,
    });
  });

  it('a 400 from PagerDuty is not retried: the delivery is dead-lettered with a warning, the others still go', async () => {
    const d = deps();
    pd.script({ status: 400, body: JSON.stringify({ status: 'invalid event', errors: ['bad'] }) });
    const r = await fanout(d, message(backupFailed('2026-11-29T08:00:00.000Z'), 'd1'));
    expect(r.retry).toBe(false);
    expect(r.alerts[0]!.deliveries.find((x) => x.channel === 'pagerduty')).toMatchObject({ status: 'dead-lettered' });
    expect(letters.at(-1)).toMatchObject({ channel: 'pagerduty', alert: { fingerprint: 'mt-ops/prod/backup' } });
    expect(logs.some((l) => /"severity":"WARNING".*dead-lettered/.test(l))).toBe(true);
  });

  it('a warning whose channel keeps failing is dead-lettered after maxInvocations; a critical is kept and retried', async () => {
    const d = deps({
      channels: { slack: new SlackChannel(slack.webhookUrl.replace(/\/X+$/, '/WRONG'), { minIntervalMs: 0 }) },
    });
    // the fake answers 404 no_service for an unknown webhook: not retryable
    const w = await fanout(
      d,
      message(
        {
          type: 'retention.failed',
          severity: 'warning',
          env: 'prod',
          time: '2026-11-29T09:00:00.000Z',
          reason: 'held',
        },
        'w1',
      ),
    );
    expect(w.alerts[0]!.deliveries).toEqual([
      expect.objectContaining({ channel: 'slack', status: 'dead-lettered' }),
      expect.objectContaining({ channel: 'email', status: 'off' }),
    ]);

    const down = deps({
      channels: {
        pagerduty: new PagerDutyChannel('R0UTINGKEY0000000000000000000000', 'http://127.0.0.1:1/v2/enqueue'),
      },
    });
    for (let i = 0; i < 4; i++) {
      const c = await fanout(down, message(backupFailed('2026-11-29T08:00:00.000Z'), 'c1'));
      expect(c.retry).toBe(true);
    }
    const log = await readDeliveries(down.store, 'prod', new Date('2026-11-29T00:00:00Z'));
    expect(log.find((x) => x.channel === 'pagerduty')).toMatchObject({ status: 'failed', invocations: 4 });
  });

  it('the Cloud Monitoring samples end to end: open pages once, a redelivered open is quiet, close resolves', async () => {
    const d = deps();
    const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
    const before = counts();
    await fanout(d, decodeDocument(fixture('cm-pubsub-push-envelope.json'), 'x'));
    await fanout(d, decodeDocument(fixture('cm-pubsub-push-envelope.json'), 'x'));
    await fanout(d, decodeDocument(fixture('cm-incident-open.json'), 'open-2'));
    expect(delta(before)).toEqual({ slack: 1, pd: 1, email: 1 });
    expect(delivered(pd).at(-1)!.json).toMatchObject({
      dedup_key: 'cloud-monitoring/0.nx7k2q9wbc41',
      payload: { custom_details: { documentation: expect.stringContaining('Runbook') } },
    });
    await fanout(d, decodeDocument(fixture('cm-incident-closed.json'), 'close-1'));
    expect(delivered(pd).at(-1)!.json).toMatchObject({
      event_action: 'resolve',
      dedup_key: 'cloud-monitoring/0.nx7k2q9wbc41',
    });
    expect(delta(before)).toEqual({ slack: 2, pd: 2, email: 2 });
  });

  it('an incident escalated from warning to critical pages PagerDuty at once; its repeat is quiet, its resolve reaches PagerDuty', async () => {
    // a probe's certificate warning (Slack and email), then the same probe down (the same fingerprint, now critical)
    const probeAlert = (over: Record<string, unknown>) => ({
      type: 'alert',
      env: 'prod',
      fingerprint: 'probe/prod/api',
      startsAt: '2026-11-30T03:00:00.000Z',
      source: 'probe',
      labels: { probe: 'api' },
      ...over,
    });
    const warning = probeAlert({
      severity: 'warning',
      status: 'firing',
      time: '2026-11-30T03:02:00.000Z',
      title: 'api fails a warning check: [CERTIFICATE_EXPIRATION] > 21d',
    });
    const critical = probeAlert({
      severity: 'critical',
      status: 'firing',
      time: '2026-11-30T03:10:00.000Z',
      title: 'api is down (now critical)',
    });
    const resolved = probeAlert({
      severity: 'critical',
      status: 'resolved',
      time: '2026-11-30T03:20:00.000Z',
      endsAt: '2026-11-30T03:20:00.000Z',
      title: 'api is up again',
    });
    const d = deps();
    const before = counts();
    await fanout(d, message(warning, 'e1'));
    expect(delta(before)).toEqual({ slack: 1, pd: 0, email: 1 });
    const escalated = await fanout(d, message(critical, 'e2'));
    expect(escalated.alerts[0]!.transition?.kind).toBe('firing');
    expect(delivered(pd).at(-1)!.json).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'probe/prod/api',
      payload: { severity: 'critical' },
    });
    expect(delta(before)).toEqual({ slack: 2, pd: 1, email: 2 });
    await fanout(d, message({ ...critical, time: '2026-11-30T03:11:00.000Z' }, 'e3'));
    expect(delta(before)).toEqual({ slack: 2, pd: 1, email: 2 });
    await fanout(d, message(resolved, 'e4'));
    expect(delivered(pd).at(-1)!.json).toMatchObject({ event_action: 'resolve', dedup_key: 'probe/prod/api' });
    expect(delta(before)).toEqual({ slack: 3, pd: 2, email: 3 });
  });

  it('a close that arrives before its open: nothing is sent, and the late open is ignored', async () => {
    const d = deps();
    const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
    const before = counts();
    await fanout(d, decodeDocument(fixture('cm-incident-closed.json'), 'close-1'));
    const late = await fanout(d, decodeDocument(fixture('cm-incident-open.json'), 'open-1'));
    expect(late.alerts[0]!.why).toMatch(/stale firing/);
    expect(delta(before)).toEqual({ slack: 0, pd: 0, email: 0 });
  });

  it('a silenced alert is not sent; poison is acknowledged with a reason and counted', async () => {
    const d = deps();
    await addSilence(d.store, 'prod', {
      matchers: ['job = backup'],
      reason: 'migrating',
      author: 'tom',
      expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString(), // a silence lasts at most 90 days
    });
    const before = counts();
    const r = await fanout(d, message(backupFailed('2026-11-29T08:00:00.000Z'), 's1'));
    expect(r.alerts[0]!.mutedBy).toMatch(/^silence /);
    const p = await fanout(
      d,
      decodeMessage({ data: Buffer.from('{"type":"backup.failed"').toString('base64'), messageId: 'p1' }),
    );
    expect(p).toMatchObject({ poison: { reason: 'data: not valid JSON' }, retry: false });
    expect(logs.some((l) => l.includes('"poison":true') && l.includes('"messageId":"p1"'))).toBe(true);
    expect(delta(before)).toEqual({ slack: 0, pd: 0, email: 0 });
  });
});
