/**
 * The periodic sweep (shared/alerts/sweep.ts, entry point sweepEvent) against the fake Slack and PagerDuty and a real
 * SMTP server, with the clock injected: reminders, firings held back by a maintenance window or a silence, deliveries
 * still owed (backoff, Retry-After, superseded by a resolve), and forgetting old resolved incidents. No sleeps.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Writable } from 'node:stream';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack';
import { startFakePagerDuty, type FakePagerDuty } from '../support/fake-pagerduty';
import { startSmtpServer, type SmtpServer } from '../support/smtp-server';
import { delivered } from '../support/fake-http';
import { openStore } from '../../shared/storage/open';
import { createLogger } from '../../shared/log/logger';
import { RoutingSchema } from '../../shared/alerts/config';
import { MaintenanceSectionSchema } from '../../shared/maintenance/window';
import { b64, backupFailed, message } from '../support/alert-messages';
import { fanout, type FanoutDeps } from '../../shared/alerts/pipeline';
import { sweep } from '../../shared/alerts/sweep';
import { SlackChannel } from '../../shared/alerts/channels/slack';
import { PagerDutyChannel } from '../../shared/alerts/channels/pagerduty';
import { EmailChannel } from '../../shared/alerts/channels/email';
import { readDeliveries } from '../../shared/alerts/outbox';
import { readIncidents } from '../../shared/alerts/state';
import { alertKeys } from '../../shared/alerts/layout';
import { addSilence } from '../../shared/alerts/silences';
import { sweepEventHandler } from '../../functions/fanout/handlers';

let slack: FakeSlack;
let pd: FakePagerDuty;
let smtp: SmtpServer;
const logs: string[] = [];

beforeAll(async () => {
  [slack, pd, smtp] = await Promise.all([startFakeSlack(), startFakePagerDuty(), startSmtpServer()]);
});
afterAll(async () => {
  await Promise.all([slack.close(), pd.close(), smtp.stop()]);
});

/** Pipeline dependencies on a fresh bucket, with a clock the test moves. */
function setup(over: Partial<FanoutDeps> = {}) {
  let clock = new Date('2026-11-29T08:00:00.000Z');
  const destination = new Writable({ write: (c, _e, done) => (logs.push(String(c)), done()) });
  const deps: FanoutDeps = {
    store: openStore(`file://${tempDir('mt-sweep-')}`),
    env: 'prod',
    logger: createLogger({ destination, pretty: false, level: 'info' }),
    routing: RoutingSchema.parse({}),
    maintenance: [],
    channels: {
      slack: new SlackChannel(slack.webhookUrl, { minIntervalMs: 0 }),
      pagerduty: new PagerDutyChannel('R0UTINGKEY0000000000000000000000', pd.eventsUrl),
      email: new EmailChannel({ smtpUrl: smtp.url, from: 'ops@example.org', to: ['oncall@example.org'] }),
    },
    deadLetter: { publish: async () => {}, close: async () => {} },
    retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10, timeoutMs: 15_000, maxRetryAfterMs: 2000 },
    maxInvocations: 3,
    now: () => clock,
    ...over,
  };
  return {
    deps,
    at: (iso: string) => void (clock = new Date(iso)),
    plus: (ms: number) => void (clock = new Date(clock.getTime() + ms)),
  };
}

const backupOk = (time: string) => ({
  type: 'backup.succeeded',
  severity: 'info',
  env: 'prod',
  time,
  backupId: 'b1',
  trigger: 'scheduled',
  bytes: 1,
  rows: 1,
  tables: 1,
  durationMs: 10,
});
const counts = () => ({ slack: delivered(slack).length, pd: delivered(pd).length, email: smtp.messages().length });
const since = (before: ReturnType<typeof counts>) => {
  const now = counts();
  return { slack: now.slack - before.slack, pd: now.pd - before.pd, email: now.email - before.email };
};

describe('the alert sweep', () => {
  it('reminds a still-firing incident every repeat interval, once, even with two sweeps at once', async () => {
    const { deps, at } = setup();
    await fanout(deps, message(backupFailed('2026-11-29T08:00:00.000Z'), 'f1'));
    const before = counts();
    at('2026-11-29T11:59:00.000Z');
    expect((await sweep(deps)).sent).toEqual([]);
    expect(since(before)).toEqual({ slack: 0, pd: 0, email: 0 });
    at('2026-11-29T12:00:00.000Z');
    const r = await sweep(deps);
    expect(r.sent.map((s) => s.transition?.kind)).toEqual(['reminder']);
    expect(since(before)).toEqual({ slack: 1, pd: 1, email: 1 });
    expect(delivered(slack).at(-1)!.json.text).toMatch(/^\[STILL FIRING\] \[CRITICAL\] Backup failed \(prod\)/);
    expect(delivered(pd).at(-1)!.json).toMatchObject({ event_action: 'trigger', dedup_key: 'mt-ops/prod/backup' });
    at('2026-11-29T12:01:00.000Z');
    await sweep(deps);
    expect(since(before)).toEqual({ slack: 1, pd: 1, email: 1 });
    // two instances sweeping the same minute: one reminder
    at('2026-11-29T16:00:30.000Z');
    await Promise.all([sweep(deps), sweep(deps)]);
    expect(since(before)).toEqual({ slack: 2, pd: 2, email: 2 });
    // once resolved, no more reminders
    await fanout(deps, message(backupOk('2026-11-29T16:10:00.000Z'), 'ok1'));
    at('2026-11-29T23:00:00.000Z');
    expect((await sweep(deps)).firing).toBe(0);
    expect(since(before)).toEqual({ slack: 3, pd: 3, email: 3 });
  });

  it('a critical held back by the maintenance window is sent when the window ends; a warning resolved inside it tells nobody', async () => {
    // first Sunday of December 2026: 02:00-04:00 New York (EST) = 07:00-09:00Z
    const { deps, at } = setup({ maintenance: MaintenanceSectionSchema.parse(undefined) });
    at('2026-12-06T07:30:00.000Z');
    const before = counts();
    const muted = await fanout(deps, message(backupFailed('2026-12-06T07:30:00.000Z'), 'm1'));
    expect(muted.alerts[0]!.mutedBy).toMatch(/^maintenance window monthly/);
    await fanout(
      deps,
      message(
        {
          type: 'retention.failed',
          severity: 'warning',
          env: 'prod',
          time: '2026-12-06T07:31:00.000Z',
          reason: 'held',
        },
        'm2',
      ),
    );
    at('2026-12-06T08:30:00.000Z');
    await sweep(deps);
    const closed = await fanout(
      deps,
      message(
        {
          type: 'retention.completed',
          severity: 'info',
          env: 'prod',
          time: '2026-12-06T08:40:00.000Z',
          removed: 0,
          orphansRemoved: 0,
          kept: 3,
          bytesFreed: 0,
          skipped: 0,
        },
        'm3',
      ),
    );
    expect(closed.poison).toBeUndefined();
    at('2026-12-06T08:59:59.000Z');
    await sweep(deps);
    expect(since(before)).toEqual({ slack: 0, pd: 0, email: 0 });
    at('2026-12-06T09:00:30.000Z');
    const r = await sweep(deps);
    expect(r.sent.map((s) => [s.fingerprint, s.transition?.kind, s.why])).toEqual([
      ['mt-ops/prod/backup', 'firing', 'no longer muted: sent now'],
    ]);
    expect(since(before)).toEqual({ slack: 1, pd: 1, email: 1 });
    expect(delivered(pd).at(-1)!.json).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'mt-ops/prod/backup',
      payload: { severity: 'critical' },
    });
    at('2026-12-06T09:05:00.000Z');
    await sweep(deps);
    expect(since(before)).toEqual({ slack: 1, pd: 1, email: 1 });
  });

  it('a firing held back by a silence is sent once the silence has expired', async () => {
    const { deps, at } = setup();
    await addSilence(
      deps.store,
      'prod',
      { matchers: ['job = backup'], reason: 'migrating', author: 'tom', expiresAt: '2026-11-29T09:00:00.000Z' },
      new Date('2026-11-29T07:00:00.000Z'),
    );
    const before = counts();
    expect((await fanout(deps, message(backupFailed('2026-11-29T08:00:00.000Z'), 's1'))).alerts[0]!.mutedBy).toMatch(
      /^silence /,
    );
    at('2026-11-29T08:59:00.000Z');
    await sweep(deps);
    expect(since(before)).toEqual({ slack: 0, pd: 0, email: 0 });
    at('2026-11-29T09:00:00.000Z');
    await sweep(deps);
    expect(since(before)).toEqual({ slack: 1, pd: 1, email: 1 });
  });

  it('retries a delivery still owed, with backoff, after Pub/Sub has stopped redelivering; only that channel', async () => {
    const { deps, at } = setup();
    pd.script({ status: 500, body: '{}' }, { status: 503, body: '{}' });
    const before = counts();
    const first = await fanout(deps, message(backupFailed('2026-11-29T08:00:00.000Z'), 'r1'));
    expect(first.retry).toBe(true);
    expect(since(before)).toEqual({ slack: 1, pd: 0, email: 1 });
    at('2026-11-29T08:00:30.000Z');
    const early = await sweep(deps);
    expect(early).toMatchObject({ retried: [], pending: true });
    expect(pd.received.length).toBe(before.pd + 2);
    at('2026-11-29T08:01:00.000Z');
    const r = await sweep(deps);
    expect(r.retried).toEqual([
      expect.objectContaining({ channel: 'pagerduty', status: 'delivered', fingerprint: 'mt-ops/prod/backup', seq: 1 }),
    ]);
    expect(r.pending).toBe(false);
    expect(since(before)).toEqual({ slack: 1, pd: 1, email: 1 });
    const log = await readDeliveries(
      deps.store,
      'prod',
      new Date('2026-11-29T00:00:00Z'),
      new Date('2026-11-29T09:00:00Z'),
    );
    expect(log.find((x) => x.channel === 'pagerduty')).toMatchObject({
      status: 'delivered',
      attempts: 3,
      invocations: 1,
    });
    // settled: nothing left in the pending index
    const pending: string[] = [];
    for await (const o of deps.store.list(alertKeys.pendingAll('prod'))) pending.push(o.key);
    expect(pending).toEqual([]);
    at('2026-11-29T08:30:00.000Z');
    expect((await sweep(deps)).retried).toEqual([]);
  });

  it('a trigger still owed is not sent after the resolve went out (superseded), and the redelivered firing stays quiet', async () => {
    const { deps, at } = setup();
    pd.script({ status: 500, body: '{}' }, { status: 500, body: '{}' });
    const before = counts();
    expect((await fanout(deps, message(backupFailed('2026-11-29T08:00:00.000Z'), 'x1'))).retry).toBe(true);
    at('2026-11-29T08:02:00.000Z');
    const resolved = await fanout(deps, message(backupOk('2026-11-29T08:02:00.000Z'), 'x2'));
    expect(resolved.alerts[0]!.transition?.kind).toBe('resolved');
    expect(delivered(pd).at(-1)!.json).toMatchObject({ event_action: 'resolve', dedup_key: 'mt-ops/prod/backup' });
    // Pub/Sub redelivers the firing's message, then the sweep runs: PagerDuty must not be left with an open incident
    at('2026-11-29T08:03:00.000Z');
    const redelivered = await fanout(deps, message(backupFailed('2026-11-29T08:00:00.000Z'), 'x1'));
    expect(redelivered.retry).toBe(false);
    expect(redelivered.alerts[0]!.deliveries.find((d) => d.channel === 'pagerduty')).toMatchObject({
      status: 'superseded',
      pending: false,
    });
    at('2026-11-29T08:30:00.000Z');
    await sweep(deps);
    expect(
      delivered(pd)
        .slice(before.pd)
        .map((r) => r.json.event_action),
    ).toEqual(['resolve']);
    expect(since(before)).toEqual({ slack: 2, pd: 1, email: 2 });
  });

  it('honours a Retry-After longer than one invocation waits: nothing is sent before it, the sweep sends after', async () => {
    const { deps, at } = setup({ channels: { slack: new SlackChannel(slack.webhookUrl, { minIntervalMs: 0 }) } });
    slack.script({ status: 429, body: 'rate_limited', headers: { 'retry-after': '120' } });
    const warning = {
      type: 'retention.failed',
      severity: 'warning',
      env: 'prod',
      time: '2026-11-29T08:00:00.000Z',
      reason: 'held',
    };
    const requests = () => slack.received.length;
    const first = await fanout(deps, message(warning, 'ra1'));
    expect(first.alerts[0]!.deliveries).toEqual([
      expect.objectContaining({ channel: 'slack', status: 'failed', pending: true }),
      expect.objectContaining({ channel: 'email', status: 'off' }),
    ]);
    const after429 = requests();
    // Pub/Sub redelivers 10 s later: not sent (the server asked for 120 s), still owed, and not counted as a failure
    at('2026-11-29T08:00:10.000Z');
    const again = await fanout(deps, message(warning, 'ra1'));
    expect(again.retry).toBe(true);
    expect(again.alerts[0]!.deliveries[0]).toMatchObject({ status: 'waiting', pending: true });
    at('2026-11-29T08:01:30.000Z');
    const early = logs.length;
    await sweep(deps);
    expect(requests()).toBe(after429);
    // and it says so: nothing was retried (it said "1 deliveries retried")
    expect(logs.slice(early).join('')).toContain(
      '0 deliveries retried, 1 not yet due or being sent elsewhere; some still owed',
    );
    at('2026-11-29T08:02:01.000Z');
    const r = await sweep(deps);
    expect(r.retried).toEqual([expect.objectContaining({ channel: 'slack', status: 'delivered' })]);
    expect(requests()).toBe(after429 + 1);
    const log = await readDeliveries(
      deps.store,
      'prod',
      new Date('2026-11-29T00:00:00Z'),
      new Date('2026-11-29T09:00:00Z'),
    );
    expect(log.find((x) => x.channel === 'slack')).toMatchObject({ status: 'delivered', invocations: 1 });
  });

  it('forgets resolved incidents after 8 days (beyond any Pub/Sub redelivery), keeps recent ones', async () => {
    const { deps, at } = setup({ channels: {} });
    await fanout(deps, message(backupFailed('2026-11-29T08:00:00.000Z'), 'g1'));
    await fanout(deps, message(backupOk('2026-11-29T09:00:00.000Z'), 'g2'));
    at('2026-12-07T08:59:00.000Z');
    expect((await sweep(deps)).forgotten).toBe(0);
    at('2026-12-07T09:01:00.000Z');
    expect((await sweep(deps)).forgotten).toBe(1);
    expect(await readIncidents(deps.store, 'prod')).toEqual([]);
  });
});

describe('sweepEvent (the entry point the Scheduler job reaches)', () => {
  const trigger = (data: unknown, id: string) => ({
    specversion: '1.0',
    id,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: '//pubsub.googleapis.com/projects/p/topics/mt-ops-alerts-sweep-trigger',
    data: { message: { data: b64(data), messageId: id } },
  });

  it('sweeps with the configured channels at the time it is given; a bad trigger is acknowledged', async () => {
    const rt = testRuntime({
      BACKUP_BUCKET: `file://${tempDir('mt-sweep-fn-')}`,
      OPS_ENV: 'prod',
      SLACK_WEBHOOK_URL: slack.webhookUrl,
      METADATA_SERVER_DETECTION: 'none',
    });
    const { deps } = setup({
      store: rt.store,
      channels: { slack: new SlackChannel(slack.webhookUrl, { minIntervalMs: 0 }) },
    });
    await fanout(
      deps,
      message(
        {
          type: 'retention.failed',
          severity: 'warning',
          env: 'prod',
          time: '2026-11-29T08:00:00.000Z',
          reason: 'held',
        },
        'e1',
      ),
    );
    const before = delivered(slack).length;
    let clock = new Date('2026-11-29T12:00:00.000Z');
    const handler = sweepEventHandler(
      () => rt,
      () => clock,
    );
    const result = await handler(trigger({}, '7001') as never);
    expect(result).toMatchObject({
      firing: 1,
      sent: [
        expect.objectContaining({
          fingerprint: 'mt-ops/prod/retention',
          transition: expect.objectContaining({ kind: 'reminder' }),
        }),
      ],
    });
    expect(delivered(slack).length).toBe(before + 1);
    clock = new Date('2026-11-29T12:01:00.000Z');
    expect(await handler(trigger({ now: 'soon' }, '7002') as never)).toBeUndefined();
    expect(rt.logs.some((l) => l.includes('alert sweep trigger rejected') && l.includes('now'))).toBe(true);
    expect(delivered(slack).length).toBe(before + 1);
  });

  it('a channel that is off leaves nothing in the pending index; a marker a first claim left behind is removed by the sweep', async () => {
    const { deps, at } = setup({ channels: {} });
    const r = await fanout(deps, message(backupFailed('2026-11-29T08:00:00.000Z'), 'o1'));
    expect(r.alerts[0]!.deliveries.map((d) => [d.channel, d.status])).toEqual([
      ['pagerduty', 'off'],
      ['slack', 'off'],
      ['email', 'off'],
    ]);
    const pending = async () => {
      const keys: string[] = [];
      for await (const o of deps.store.list(alertKeys.pendingAll('prod'))) keys.push(o.key);
      return keys;
    };
    expect(await pending()).toEqual([]);
    // an instance that wrote its marker for a first claim and died (or lost the claim to the 'off' record)
    const [record] = await readDeliveries(
      deps.store,
      'prod',
      new Date('2026-11-29T00:00:00Z'),
      new Date('2026-11-29T09:00:00Z'),
    );
    const marker = alertKeys.pending('prod', 'mt-ops/prod/backup', 1, record!.channel);
    await deps.store.writeJson(
      marker,
      {
        outbox: alertKeys.outbox('prod', 'mt-ops/prod/backup', 1, record!.at, record!.channel),
        fingerprint: 'mt-ops/prod/backup',
        seq: 1,
        channel: record!.channel,
        createdAt: record!.at,
      },
      { ifGeneration: null },
    );
    expect(await pending()).toEqual([marker]);
    const before = counts();
    at('2026-11-29T08:01:00.000Z');
    const swept = await sweep(deps);
    expect(swept).toMatchObject({ retried: [], pending: false });
    expect(await pending()).toEqual([]);
    expect(since(before)).toEqual({ slack: 0, pd: 0, email: 0 });
  });
});
