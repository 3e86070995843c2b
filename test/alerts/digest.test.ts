/**
 * The daily digest end to end: info notices filed by the real fan-out entry point (backups, a cleanup, a verify,
 * deployments, an incident opened and closed, an info alert), then the digest entry point at the time the Scheduler job declared in
 * infra/ fires (09:00 New York), to the fake Slack and a real SMTP server only; redelivery, an empty day, a channel
 * that fails and one that refuses. Clock injected, no sleeps.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack';
import { startFakePagerDuty, type FakePagerDuty } from '../support/fake-pagerduty';
import { startFakeHttp, delivered, type FakeHttp } from '../support/fake-http';
import { startSmtpServer, type SmtpServer } from '../support/smtp-server';
import { loadWiring } from '../../shared/infra/wiring';
import { nextRuns } from '../../shared/infra/schedules';
import { digestEventHandler, fanoutEventHandler, RetryableDeliveryError } from '../../functions/fanout/handlers';
import { alertKeys } from '../../shared/alerts/layout';

let slack: FakeSlack;
let pd: FakePagerDuty;
let webhook: FakeHttp;
let smtp: SmtpServer;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [slack, pd, webhook, smtp] = await Promise.all([
    startFakeSlack(),
    startFakePagerDuty(),
    startFakeHttp(() => ({ status: 204 })),
    startSmtpServer(),
  ]);
});
afterAll(async () => {
  for (const c of cleanups) await c();
  await Promise.all([slack.close(), pd.close(), webhook.close(), smtp.stop()]);
});

const job = loadWiring().jobs.find((j) => j.entryPoint === 'digestEvent')!;
let ids = 8000;
const cloudEvent = (topic: string, data: unknown) => {
  const id = String(++ids);
  return {
    specversion: '1.0',
    id,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: `//pubsub.googleapis.com/projects/p/topics/${topic}`,
    data: { message: { data: Buffer.from(JSON.stringify(data)).toString('base64'), messageId: id } },
  } as never;
};

function suite(over: Record<string, string> = {}) {
  const rt = testRuntime({
    BACKUP_BUCKET: `file://${tempDir('mt-digest-')}`,
    OPS_ENV: 'prod',
    METADATA_SERVER_DETECTION: 'none',
    SLACK_WEBHOOK_URL: slack.webhookUrl,
    PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0000000000000000000000',
    PAGERDUTY_EVENTS_URL: pd.eventsUrl,
    SMTP_URL: smtp.url,
    ALERT_EMAIL_FROM: 'ops@example.org',
    ALERT_EMAIL_TO: 'oncall@example.org',
    ALERT_WEBHOOK_URL: `${webhook.url}/hook`,
    ...over,
  });
  let clock = new Date(0);
  const fan = fanoutEventHandler(
    () => rt,
    () => clock,
  );
  const digest = digestEventHandler(
    () => rt,
    () => clock,
  );
  return {
    rt,
    /** An event through the fan-out entry point, at its own time. */
    publish: async (event: { time: string } & Record<string, unknown>) => {
      clock = new Date(event.time);
      return fan(cloudEvent('mt-ops-events', event));
    },
    /** The digest entry point run at `time` (a schedule overridden to run more often than daily). */
    runAt: async (time: string, trigger = cloudEvent(job.topic, job.payload)) => {
      clock = new Date(time);
      return digest(trigger);
    },
    /** The Scheduler job's next run after `from`, delivered to the digest entry point at that time. */
    scheduled: async (from: string, trigger = cloudEvent(job.topic, job.payload)) => {
      clock = nextRuns(job, new Date(from), 1)[0]!;
      return { at: clock.toISOString(), result: await digest(trigger), trigger };
    },
  };
}

const counts = () => ({
  slack: delivered(slack).length,
  pd: delivered(pd).length,
  email: smtp.messages().length,
  webhook: delivered(webhook).length,
});
const since = (before: ReturnType<typeof counts>) => {
  const now = counts();
  return {
    slack: now.slack - before.slack,
    pd: now.pd - before.pd,
    email: now.email - before.email,
    webhook: now.webhook - before.webhook,
  };
};
const backupOk = (time: string, backupId: string) => ({
  type: 'backup.succeeded',
  severity: 'info',
  env: 'prod',
  time,
  backupId,
  trigger: 'scheduled',
  bytes: 26_700_000,
  rows: 1_000_000,
  tables: 5,
  durationMs: 2100,
});

describe('the daily digest', () => {
  it('the Scheduler job is declared for 09:00 New York, across DST', () => {
    expect(job).toMatchObject({ cron: '0 9 * * *', timeZone: 'America/New_York', function: 'fanout' });
    expect(nextRuns(job, new Date('2026-11-29T13:00:00Z'), 1)[0]!.toISOString()).toBe('2026-11-29T14:00:00.000Z');
    expect(nextRuns(job, new Date('2026-07-01T00:00:00Z'), 1)[0]!.toISOString()).toBe('2026-07-01T13:00:00.000Z');
  });

  it("collects the day's info notices and sends them at 09:00 as one Slack message and one email, nowhere else", async () => {
    const s = suite();
    await s.publish(backupOk('2026-11-29T08:00:00.000Z', '20261129T080000Z-aaaa'));
    await s.publish({
      type: 'retention.completed',
      severity: 'info',
      env: 'prod',
      time: '2026-11-29T09:30:00.000Z',
      kept: 31,
      removed: 1,
      orphansRemoved: 0,
      bytesFreed: 26_000_000,
      skipped: 0,
    });
    await s.publish({
      type: 'verify.succeeded',
      severity: 'info',
      env: 'prod',
      time: '2026-11-29T10:00:00.000Z',
      backupId: '20261129T080000Z-aaaa',
      restoreDrill: true,
      details: '5 tables match',
    });
    await s.publish({
      type: 'backup.failed',
      severity: 'critical',
      env: 'prod',
      time: '2026-11-29T10:05:00.000Z',
      trigger: 'manual',
      reason: 'could not read public.games',
    });
    await s.publish(backupOk('2026-11-29T10:50:00.000Z', '20261129T105000Z-bbbb'));
    await s.publish({
      type: 'alert',
      severity: 'info',
      env: 'prod',
      time: '2026-11-29T11:00:00.000Z',
      status: 'firing',
      fingerprint: 'probe/prod/cert',
      title: 'Certificate renews in 25 days',
      startsAt: '2026-11-29T11:00:00.000Z',
      source: 'probe',
    });
    const before = counts();

    const { at, result, trigger } = await s.scheduled('2026-11-29T12:00:00Z');
    expect(at).toBe('2026-11-29T14:00:00.000Z');
    expect(result).toMatchObject({
      day: '2026-11-29',
      notices: 7,
      empty: false,
      retry: false,
      channels: { slack: 'delivered', email: 'delivered' },
    });
    expect(since(before)).toEqual({ slack: 1, pd: 0, email: 1, webhook: 0 });

    const message = delivered(slack).at(-1)!.json;
    expect(message.text).toBe('Daily digest (prod): 7 notice(s) since 2026-11-29T08:00:00.000Z');
    const lines = message.blocks[1].text.text.split('\n');
    expect(lines).toEqual([
      '• *Backup 20261129T080000Z-aaaa*: 5 tables, 1000000 rows, 26700000 bytes in 2 s (scheduled)',
      '• *Cleanup*: 1 removed, 0 orphans removed, 31 kept, 26000000 bytes freed',
      '• *Verify of 20261129T080000Z-aaaa*: with restore drill: 5 tables match',
      '• *Incident opened: Backup failed (prod)*: critical: could not read public.games',
      '• *Backup 20261129T105000Z-bbbb*: 5 tables, 1000000 rows, 26700000 bytes in 2 s (scheduled)',
      '• *Incident closed: Backup failed (prod)*: critical, lasted 45 min',
      '• *Incident opened: Certificate renews in 25 days*: info',
    ]);
    const mail = smtp.messages().at(-1)!;
    expect(mail.to).toEqual(['oncall@example.org']);
    expect(mail.raw).toMatch(/^Subject: \[DIGEST\] Missing Table ops \(prod\): 7 notice\(s\)/m);
    // the text part, quoted-printable soft line breaks undone
    expect(mail.raw.replace(/=\r?\n/g, '')).toContain('Incident closed: Backup failed (prod): critical, lasted 45 min');

    // the same trigger redelivered: nothing is sent twice
    await s.scheduled('2026-11-29T12:00:00Z', trigger);
    // the next day with nothing filed: nothing is sent, and the log says why
    const quiet = await s.scheduled('2026-11-29T14:00:00Z');
    expect(quiet.at).toBe('2026-11-30T14:00:00.000Z');
    expect(quiet.result).toMatchObject({ day: '2026-11-30', notices: 0, empty: true, channels: {} });
    expect(since(before)).toEqual({ slack: 1, pd: 0, email: 1, webhook: 0 });
    expect(s.rt.logs.some((l) => l.includes('daily digest 2026-11-30: nothing to report, not sent'))).toBe(true);
  });

  it('lists every deployment, failed or succeeded, with its project, commit and build; the incident a failure opens too', async () => {
    const s = suite();
    const deployment = (time: string, build: string, commit: string) => ({
      severity: 'info',
      env: 'prod',
      time,
      project: 'mt-prod',
      region: 'us-east1',
      commit,
      build,
    });
    const failed = (time: string, build: string, commit: string) => ({
      ...deployment(time, build, commit),
      type: 'deployment.failed',
      severity: 'warning',
      step: 'deploy-functions',
      reason: 'permission denied on run.services.update',
    });
    await s.publish(failed('2026-11-29T08:00:00.000Z', 'b-1', 'aaaaaaa'));
    // a second failure while the first one's incident is open: no new incident, but still a deployment of the day
    await s.publish(failed('2026-11-29T08:30:00.000Z', 'b-2', 'bbbbbbb'));
    await s.publish({ ...deployment('2026-11-29T09:00:00.000Z', 'b-3', 'ccccccc'), type: 'deployment.succeeded' });
    const before = counts();

    const { result } = await s.scheduled('2026-11-29T12:00:00Z');
    expect(result).toMatchObject({ notices: 5, channels: { slack: 'delivered', email: 'delivered' } });
    expect(since(before)).toEqual({ slack: 1, pd: 0, email: 1, webhook: 0 });
    const lines = delivered(slack).at(-1)!.json.blocks[1].text.text.split('\n');
    expect(lines).toEqual([
      '• *Deployment failed*: mt-prod (us-east1) at aaaaaaa, build b-1: step deploy-functions: permission denied on run.services.update',
      '• *Incident opened: Deployment failed (prod)*: warning: step deploy-functions: permission denied on run.services.update',
      '• *Deployment failed*: mt-prod (us-east1) at bbbbbbb, build b-2: step deploy-functions: permission denied on run.services.update',
      '• *Deployment succeeded*: mt-prod (us-east1) at ccccccc, build b-3',
      '• *Incident closed: Deployment failed (prod)*: warning, lasted 60 min',
    ]);
    const text = smtp
      .messages()
      .at(-1)!
      .raw.replace(/=\r?\n/g, '');
    expect(text).toContain('Deployment failed: mt-prod (us-east1) at bbbbbbb, build b-2');
    expect(text).toContain('Deployment succeeded: mt-prod (us-east1) at ccccccc, build b-3');
  });

  it("a second run the same day sends nothing and keeps the newer notices for the next day's digest", async () => {
    // With `schedules: { mt-ops-alerts-digest: ... }` more often than daily (or a redelivery after every channel had
    // it), notices filed after the day's digest were removed unsent: every channel had today's, so nobody got them.
    const s = suite();
    await s.publish(backupOk('2026-11-29T08:00:00.000Z', 'b1'));
    const before = counts();
    const first = await s.scheduled('2026-11-29T12:00:00Z');
    expect(first.result).toMatchObject({ notices: 1, channels: { slack: 'delivered', email: 'delivered' } });
    await s.publish(backupOk('2026-11-29T16:00:00.000Z', 'late-b2'));
    const second = await s.runAt('2026-11-29T16:30:00.000Z');
    expect(second).toMatchObject({ notices: 1, kept: true });
    expect(since(before)).toMatchObject({ slack: 1, email: 1 });
    expect(s.rt.logs.some((l) => l.includes('already sent today; 1 newer notice(s) kept for the next one'))).toBe(true);
    const next = await s.scheduled('2026-11-29T16:30:00.000Z');
    expect(next.result).toMatchObject({ notices: 1, channels: { slack: 'delivered', email: 'delivered' } });
    expect(since(before)).toMatchObject({ slack: 2, email: 2 });
    expect(JSON.stringify(delivered(slack).at(-1)!.json)).toContain('late-b2');
  });

  it.each(['email', 'slack'] as const)(
    '%s late: a notice filed between the two deliveries of the day reaches the channel that went first in the next digest, once',
    async (late) => {
      // Issue 12's rule is that nothing is dropped silently. Slack had the day's digest at 09:00, email was down and
      // its redelivery sent it later that day with a notice filed in between; the notices were then removed, so
      // Slack never had that notice (or the reverse, with Slack late).
      const server = late === 'email' ? await startSmtpServer({ rejectFirst: 4, rejectCode: 451 }) : smtp;
      if (late === 'email') cleanups.push(server.stop);
      const s = suite({ SMTP_URL: server.url });
      const other = late === 'email' ? 'slack' : 'email';
      const slackFrom = delivered(slack).length;
      const emailFrom = server.messages().length;
      const sent = () => ({
        slack: delivered(slack)
          .slice(slackFrom)
          .map((r) => JSON.stringify(r.json)),
        email: server
          .messages()
          .slice(emailFrom)
          .map((m) => m.raw.replace(/=\r?\n/g, '')),
      });
      await s.publish(backupOk('2026-11-29T08:00:00.000Z', 'early-b1'));
      if (late === 'slack')
        slack.script(
          ...Array.from({ length: 4 }, () => ({ status: 429, body: 'rate_limited', headers: { 'retry-after': '0' } })),
        );
      const trigger = cloudEvent(job.topic, job.payload);
      await expect(s.scheduled('2026-11-29T12:00:00Z', trigger)).rejects.toThrow(RetryableDeliveryError);
      expect(sent()[other]).toHaveLength(1);
      expect(sent()[late]).toHaveLength(0);

      await s.publish(backupOk('2026-11-29T15:00:00.000Z', 'between-b2'));
      // the 09:00 trigger redelivered in the afternoon: the late channel has both, the other is not sent again today
      const redelivered = await s.runAt('2026-11-29T15:30:00.000Z', trigger);
      expect(redelivered).toMatchObject({ retry: false, channels: { [late]: 'delivered', [other]: 'delivered' } });
      expect(sent()[late]).toHaveLength(1);
      expect(sent()[late][0]).toContain('early-b1');
      expect(sent()[late][0]).toContain('between-b2');
      expect(sent()[other]).toHaveLength(1);
      // and the same message once more: nothing is sent twice
      await s.runAt('2026-11-29T15:31:00.000Z', trigger);
      expect(sent()[late]).toHaveLength(1);
      expect(sent()[other]).toHaveLength(1);

      // the next day's digest: the other channel gets what it missed, only that; the late one has nothing new
      const next = await s.scheduled('2026-11-29T15:30:00.000Z');
      expect(next.at).toBe('2026-11-30T14:00:00.000Z');
      expect(sent()[other]).toHaveLength(2);
      expect(sent()[other][1]).toContain('between-b2');
      expect(sent()[other][1]).not.toContain('early-b1');
      expect(sent()[late]).toHaveLength(1);
      // every channel has every notice: none is left, and the day after sends nothing
      const left: string[] = [];
      for await (const o of s.rt.store.list(alertKeys.digest('prod'))) left.push(o.key);
      expect(left).toEqual([]);
      const quiet = await s.scheduled('2026-11-30T15:00:00Z');
      expect(quiet.result).toMatchObject({ day: '2026-12-01', empty: true });
      expect(sent()[other]).toHaveLength(2);
      expect(sent()[late]).toHaveLength(1);
    },
  );

  it('a channel that fails is retried by redelivery (only that one); a channel that refuses is dead-lettered and the notices do not pile up', async () => {
    const s = suite();
    await s.publish(backupOk('2026-11-29T08:00:00.000Z', 'b1'));
    const before = counts();
    slack.script(
      ...Array.from({ length: 4 }, () => ({ status: 429, body: 'rate_limited', headers: { 'retry-after': '0' } })),
    );
    const trigger = cloudEvent(job.topic, job.payload);
    await expect(s.scheduled('2026-11-29T12:00:00Z', trigger)).rejects.toThrow(RetryableDeliveryError);
    expect(since(before)).toMatchObject({ slack: 0, email: 1 });
    const again = await s.scheduled('2026-11-29T12:00:00Z', trigger);
    expect(again.result).toMatchObject({ channels: { slack: 'delivered', email: 'delivered' }, retry: false });
    expect(since(before)).toMatchObject({ slack: 1, email: 1 });

    const refusing = await startSmtpServer({ rejectFirst: 1, rejectCode: 550 });
    cleanups.push(refusing.stop);
    const r = suite({ SMTP_URL: refusing.url });
    await r.publish(backupOk('2026-11-29T08:00:00.000Z', 'b2'));
    const refused = await r.scheduled('2026-11-29T12:00:00Z');
    expect(refused.result).toMatchObject({
      notices: 1,
      retry: false,
      channels: { slack: 'delivered', email: 'dead-lettered' },
    });
    expect(r.rt.logs.some((l) => /"severity":"WARNING".*digest to email dead-lettered/.test(l))).toBe(true);
    const left: string[] = [];
    for await (const o of r.rt.store.list(alertKeys.digest('prod'))) left.push(o.key);
    expect(left).toEqual([]);
  });
});
