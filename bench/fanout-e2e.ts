/**
 * The end-to-end part of npm run bench:fanout (bench/fanout.ts): the Pub/Sub emulator -> the real functions-framework
 * server running fanoutEvent -> the fake Slack: latency from publish to the webhook's receipt, p50/p95 (target: p95 <
 * 500 ms), against the strongest reference in the same run: curl posting the same Slack payload to the same fake server.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { openStore } from '../shared/storage/open';
import { createLogger } from '../shared/log/logger';
import { slackPayload } from '../shared/alerts/channels/slack';
import { loadConfig } from '../shared/config/load';
import { MemoryBus } from '../shared/bus/memory-bus';
import { alertTopics } from '../shared/alerts/topics';
import { percentile as pct } from './support';

export async function endToEnd(samples: number) {
  process.env.METADATA_SERVER_DETECTION ??= 'none'; // the emulator needs no credentials; do not look for a metadata server
  const { startPubSubEmulator, emulatorSkipReason } = await import('../test/support/pubsub-emulator');
  const skip = emulatorSkipReason();
  if (skip) {
    console.log(`end to end: skipped (${skip})`);
    return;
  }
  const { startFakeSlack } = await import('../test/support/fake-slack');
  const { PubSub } = await import('@google-cloud/pubsub');
  const ff = await import('@google-cloud/functions-framework');
  const { getTestServer } = await import('@google-cloud/functions-framework/testing');
  const { fanoutEventHandler } = await import('../functions/fanout/handlers');
  const step = (what: string) => process.stderr.write(`end to end: ${what}\n`);
  step('starting the Pub/Sub emulator');
  const [emulator, slack] = await Promise.all([startPubSubEmulator(), startFakeSlack()]);
  step(`emulator on ${emulator.host}`);
  const topics = alertTopics();
  const pubsub = new PubSub({ projectId: 'mt-bench', apiEndpoint: emulator.host, emulatorMode: true });
  const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'mt-bench-e2e-'));
  let server: Server | undefined;
  try {
    await pubsub.createTopic(topics.events);
    step(`topic ${topics.events} created`);
    const config = loadConfig({
      OPS_CONFIG: undefined,
      BACKUP_BUCKET: `file://${dir}`,
      OPS_ENV: 'prod',
      SLACK_WEBHOOK_URL: slack.webhookUrl,
      METADATA_SERVER_DETECTION: 'none',
    });
    // warnings and errors of the function reach stderr (a failed delivery would otherwise look like latency)
    const rt = {
      config,
      store: openStore(config.env.BACKUP_BUCKET),
      bus: new MemoryBus(),
      logger: createLogger({ level: 'warn', pretty: false }),
      env: 'prod',
    };
    ff.cloudEvent(
      'fanoutBench',
      fanoutEventHandler(() => rt),
    );
    server = getTestServer('fanoutBench');
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const fnUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    step(`function served at ${fnUrl}`);
    const answers: string[] = [];
    // the push subscription, played by pulling and POSTing the CloudEvent a 2nd-gen function receives
    const [sub] = await pubsub.topic(topics.events).createSubscription('fanout-bench', { ackDeadlineSeconds: 30 });
    sub.on('message', async (m) => {
      const event = {
        specversion: '1.0',
        id: m.id,
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        source: `//pubsub.googleapis.com/projects/mt-bench/topics/${topics.events}`,
        data: { message: { data: m.data.toString('base64'), messageId: m.id, attributes: m.attributes } },
      };
      const res = await fetch(fnUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify(event),
      });
      answers.push(`${res.status} ${(await res.text()).slice(0, 200)}`);
      if (res.status < 300) m.ack();
      else m.nack();
    });
    step('subscribed');
    const warning = (i: number) => ({
      type: 'alert',
      severity: 'warning',
      env: 'prod',
      time: new Date().toISOString(),
      status: 'firing',
      fingerprint: `bench/e2e/${i}`,
      title: `Bench alert ${i}`,
      summary: 'latency',
      startsAt: new Date().toISOString(),
      source: 'probe',
    });
    const received = (i: number) =>
      new Promise<number>((resolve, reject) => {
        const started = Date.now();
        const check = setInterval(() => {
          const hit = slack.received.find((r) => r.json?.text?.includes(`Bench alert ${i}:`));
          if (hit || Date.now() - started > 30_000) clearInterval(check);
          if (hit) resolve(hit.at);
          else if (Date.now() - started > 30_000)
            reject(
              new Error(
                `alert ${i} did not reach the fake Slack within 30 s (function answers: ${answers.slice(-5).join(', ')})`,
              ),
            );
        }, 2);
      });
    const latencies: number[] = [];
    for (let i = -3; i < samples; i++) {
      // Slack takes about one message a second per webhook (the channel spaces its sends): one alert at a time,
      // each published a second after the previous send, so the spacing is not measured as latency
      await new Promise((r) => setTimeout(r, 1050));
      const t = Date.now();
      await pubsub.topic(topics.events).publishMessage({ json: warning(i) });
      const at = await received(i);
      if (i >= 0) latencies.push(at - t);
    }
    await sub.close();
    // the reference: curl posting the same payload to the same fake server
    const payloadFile = join(dir, 'payload.json');
    const sample = {
      kind: 'firing' as const,
      seq: 1,
      alert: {
        fingerprint: 'bench/e2e/x',
        status: 'firing' as const,
        severity: 'warning' as const,
        title: 'Bench alert x',
        summary: 'latency',
        labels: {},
        source: 'probe',
        links: [],
        startsAt: new Date().toISOString(),
        env: 'prod',
        details: {},
      },
    };
    writeFileSync(payloadFile, JSON.stringify(slackPayload(sample)));
    const curl: number[] = [];
    for (let i = 0; i < samples + 3; i++) {
      const r = spawnSync(
        'curl',
        [
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{time_total}',
          '-H',
          'content-type: application/json',
          '--data-binary',
          `@${payloadFile}`,
          slack.webhookUrl,
        ],
        { encoding: 'utf8' },
      );
      if (i >= 3) curl.push(Number(r.stdout) * 1000);
    }
    const p50 = pct(latencies, 50);
    const p95 = pct(latencies, 95);
    const c50 = pct(curl, 50);
    const c95 = pct(curl, 95);
    console.log(
      `end to end, emulator -> fanoutEvent -> fake Slack, ${samples} alerts one at a time: p50 ${p50} ms, p95 ${p95} ms (target: p95 < 500 ms: ${p95 < 500 ? 'met' : 'NOT met'})`,
    );
    console.log(
      `reference, curl posting the same payload to the same fake Slack: p50 ${c50.toFixed(1)} ms, p95 ${c95.toFixed(1)} ms; ratio p50 ${(p50 / c50).toFixed(1)}x, p95 ${(p95 / c95).toFixed(1)}x`,
    );
  } finally {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await pubsub.close();
    await Promise.all([emulator.stop(), slack.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}
