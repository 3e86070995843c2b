/**
 * End to end: the Pub/Sub emulator -> the real functions-framework server running `fanoutEvent` -> the fake Slack and
 * PagerDuty (and a real SMTP server). A pull subscription stands in for the push subscription: each message is POSTed
 * to the function as the CloudEvent a 2nd-gen function receives; a 5xx answer nacks it, so the emulator redelivers
 * the same message id, as Pub/Sub does.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { PubSub, type Message } from '@google-cloud/pubsub';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { emulatorJar, emulatorSkipReason, startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack';
import { startFakePagerDuty, type FakePagerDuty } from '../support/fake-pagerduty';
import { delivered } from '../support/fake-http';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { openBus } from '../../shared/bus/open';
import { fanoutEventHandler } from '../../functions/fanout/handlers';
import { backupEventHandler } from '../../functions/backup/handlers';
import { alertTopics } from '../../shared/alerts/topics';

const ALERT_TOPICS = alertTopics();

const skip = emulatorSkipReason();
if (skip) console.warn(`skipping the fan-out end-to-end tests: ${skip}`);

describe.skipIf(!emulatorJar())('fan-out end to end through the Pub/Sub emulator', () => {
  let emulator: PubSubEmulator;
  let pubsub: PubSub;
  let slack: FakeSlack;
  let pd: FakePagerDuty;
  let server: Server;
  let fnUrl: string;
  let rt: ReturnType<typeof testRuntime>;
  const invocations: Array<{ id: string; status: number }> = [];
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    [emulator, slack, pd] = await Promise.all([startPubSubEmulator(), startFakeSlack(), startFakePagerDuty()]);
    pubsub = new PubSub({ projectId: 'mt-test', apiEndpoint: emulator.host, emulatorMode: true });
    for (const name of [ALERT_TOPICS.events, ALERT_TOPICS.monitoring, ALERT_TOPICS.deadLetter])
      await pubsub.createTopic(name);
    rt = testRuntime({
      BACKUP_BUCKET: `file://${tempDir()}`,
      OPS_ENV: 'prod',
      PUBSUB_EMULATOR_HOST: emulator.host,
      GOOGLE_CLOUD_PROJECT: 'mt-test',
      SLACK_WEBHOOK_URL: slack.webhookUrl,
      PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0000000000000000000000',
      PAGERDUTY_EVENTS_URL: pd.eventsUrl,
    });
    ff.cloudEvent(
      'fanoutE2E',
      fanoutEventHandler(() => rt),
    );
    server = getTestServer('fanoutE2E');
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    fnUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // The push subscriptions of infra/topics.yaml, played by pulling and POSTing.
    for (const topic of [ALERT_TOPICS.events, ALERT_TOPICS.monitoring]) {
      const [sub] = await pubsub.topic(topic).createSubscription(`fanout-${topic}`, {
        ackDeadlineSeconds: 10,
        retryPolicy: { minimumBackoff: { seconds: 0 }, maximumBackoff: { seconds: 1 } },
      });
      sub.on('message', (m: Message) => void push(topic, m));
      stops.push(() => sub.close());
    }
  }, 60_000);

  afterAll(async () => {
    for (const s of stops) await s();
    await new Promise<void>((r) => server?.close(() => r()));
    await pubsub?.close();
    await Promise.all([emulator?.stop(), slack?.close(), pd?.close()]);
  });

  async function push(topic: string, m: Message): Promise<void> {
    const event = {
      specversion: '1.0',
      id: m.id,
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      source: `//pubsub.googleapis.com/projects/mt-test/topics/${topic}`,
      time: m.publishTime.toISOString(),
      datacontenttype: 'application/json',
      data: {
        message: {
          data: m.data.toString('base64'),
          messageId: m.id,
          attributes: m.attributes,
          publishTime: m.publishTime.toISOString(),
        },
        subscription: `projects/mt-test/subscriptions/fanout-${topic}`,
      },
    };
    const res = await fetch(fnUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify(event),
    });
    await res.text();
    invocations.push({ id: m.id, status: res.status });
    if (res.status < 300) m.ack();
    else m.nack();
  }

  const until = async (what: string, check: () => boolean, ms = 20_000) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('a backup.failed from a real failing backup reaches the fake PagerDuty as a critical trigger, once', async () => {
    const broken = testRuntime({
      DATABASE_URL: 'postgres://ops:pw-never-shown@127.0.0.1:1/x',
      BACKUP_BUCKET: `file://${tempDir()}`,
      OPS_ENV: 'prod',
      PUBSUB_EMULATOR_HOST: emulator.host,
      GOOGLE_CLOUD_PROJECT: 'mt-test',
    });
    const bus = openBus(broken.config);
    const event = {
      specversion: '1.0',
      id: '901',
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      source: 's',
      data: { message: { data: Buffer.from('{}').toString('base64'), messageId: '901' } },
    };
    await backupEventHandler(() => ({ ...broken, bus }))(event as never).catch(() => undefined);
    await bus.close();
    await until('the PagerDuty trigger', () => delivered(pd).some((r) => r.json?.dedup_key === 'mt-ops/prod/backup'));
    const trigger = delivered(pd).find((r) => r.json?.dedup_key === 'mt-ops/prod/backup')!.json;
    expect(trigger).toMatchObject({ event_action: 'trigger', payload: { severity: 'critical' } });
    expect(JSON.stringify(trigger)).not.toContain('pw-never-shown');
    await until('the Slack message', () =>
      delivered(slack).some((r) => r.json?.text?.includes('Backup failed (prod)')),
    );
  });

  it('Cloud Monitoring open then close on mt-ops-monitoring: one trigger, one resolve; PagerDuty 500s are redelivered to PagerDuty only', async () => {
    const before = { pd: delivered(pd).length, slack: delivered(slack).length };
    // 2 in-invocation attempts x default policy would be slow; the first invocation's 4 attempts all fail, then the redelivery succeeds
    pd.script(...Array.from({ length: 4 }, () => ({ status: 500, body: '{}' })));
    const open = readFileSync(new URL('../fixtures/cm-incident-open.json', import.meta.url));
    const id = await pubsub.topic(ALERT_TOPICS.monitoring).publishMessage({ data: open });
    // the trigger reaches the fake before the function answers: wait for the answer of the redelivery too
    await until(
      'the redelivered trigger',
      () => delivered(pd).length > before.pd && invocations.filter((i) => i.id === id).length >= 2,
      40_000,
    );
    expect(invocations.filter((i) => i.id === id).map((i) => i.status)).toEqual([500, 200]);
    expect(delivered(slack).length - before.slack).toBe(1);
    await pubsub
      .topic(ALERT_TOPICS.monitoring)
      .publishMessage({ data: readFileSync(new URL('../fixtures/cm-incident-closed.json', import.meta.url)) });
    await until('the resolve', () =>
      delivered(pd).some(
        (r) => r.json?.event_action === 'resolve' && r.json?.dedup_key === 'cloud-monitoring/0.nx7k2q9wbc41',
      ),
    );
    expect(
      delivered(pd)
        .filter((r) => r.json?.dedup_key === 'cloud-monitoring/0.nx7k2q9wbc41')
        .map((r) => r.json.event_action),
    ).toEqual(['trigger', 'resolve']);
  }, 60_000);

  it('a poison message is acknowledged (200), not redelivered, and pages nobody', async () => {
    const before = delivered(pd).length;
    const id = await pubsub
      .topic(ALERT_TOPICS.events)
      .publishMessage({ data: Buffer.from('{"type":"backup.failed","reason":') });
    await until('the poison invocation', () => invocations.some((i) => i.id === id));
    await new Promise((r) => setTimeout(r, 1500));
    expect(invocations.filter((i) => i.id === id).map((i) => i.status)).toEqual([200]);
    expect(delivered(pd).length).toBe(before);
    expect(rt.logs.some((l) => l.includes('"poison":true'))).toBe(true);
  });

  it('a delivery PagerDuty refuses (400) goes to the dead-letter topic', async () => {
    const [hold] = await pubsub.topic(ALERT_TOPICS.deadLetter).createSubscription('dead-letter-hold');
    const letters: any[] = [];
    hold.on('message', (m: Message) => (letters.push(JSON.parse(m.data.toString())), m.ack()));
    stops.push(() => hold.close());
    pd.script({ status: 400, body: JSON.stringify({ status: 'invalid event', errors: ['bad'] }) });
    await pubsub.topic(ALERT_TOPICS.events).publishMessage({
      json: {
        type: 'verify.failed',
        severity: 'critical',
        env: 'prod',
        time: new Date().toISOString(),
        reason: 'sha256 mismatch',
      },
    });
    await until('the dead letter', () => letters.length > 0);
    expect(letters[0]).toMatchObject({
      channel: 'pagerduty',
      alert: { fingerprint: 'mt-ops/prod/verify', severity: 'critical' },
    });
  });
});
