/**
 * The end-to-end part of npm run bench:fanout (bench/fanout.ts): the Pub/Sub emulator -> the real functions-framework
 * server running fanoutEvent -> the fake Slack: latency from publish to the webhook's receipt, p50/p95 (target: p95 <
 * 500 ms), against the strongest reference in the same run: curl posting the same Slack payload to the same fake server.
 *
 * Bounded: every step (the emulator's start, creating the topic and subscription, each publish, each receipt, each curl,
 * the clean-up) has its own deadline; a step that misses it fails the run with one line naming the step, instead of a
 * silent hang. The fake Slack runs in this process, so nothing here may block the event loop (a synchronous child
 * process would keep it from answering: the reference's curl once waited on it forever).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Subscription } from '@google-cloud/pubsub';
import { openStore } from '../shared/storage/open';
import { createLogger } from '../shared/log/logger';
import { slackPayload } from '../shared/alerts/channels/slack';
import { loadConfig } from '../shared/config/load';
import { MemoryBus } from '../shared/bus/memory-bus';
import { alertTopics } from '../shared/alerts/topics';
import { percentile as pct } from './support';

/** A step of the end-to-end run missed its deadline or failed: the one line the bench prints. */
export class EndToEndFailure extends Error {}

/** Deadline of one step (a publish, a receipt, a curl, creating the topic ...). */
const STEP_MS = Number(process.env.BENCH_FANOUT_STEP_MS ?? 10_000);

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EndToEndFailure(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  promise.catch(() => {}); // a late rejection after the deadline is not unhandled
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** curl's time_total for one POST of `file` to `url`, in ms; asynchronous, so the in-process server can answer. */
function curlMs(file: string, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['-s', '-o', '/dev/null', '-m', String(STEP_MS / 1000), '-w', '%{time_total}'];
    const child = spawn('curl', [...args, '-H', 'content-type: application/json', '--data-binary', `@${file}`, url], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Number(out) * 1000) : reject(new EndToEndFailure(`curl to the fake Slack exited ${code}`)),
    );
  });
}

export interface EndToEndResult {
  samples: number;
  p50: number;
  p95: number;
  curlP50: number;
  curlP95: number;
}

/**
 * `samples` warnings, one at a time, each published once the Slack channel's one-message-a-second spacing has passed
 * since the previous send (so the spacing is not measured as latency): about `samples` seconds. Undefined when the
 * emulator cannot run here; rejects with an EndToEndFailure when a step misses its deadline.
 */
export async function endToEnd(samples: number): Promise<EndToEndResult | undefined> {
  process.env.METADATA_SERVER_DETECTION ??= 'none'; // the emulator needs no credentials; do not look for a metadata server
  const { startPubSubEmulator, emulatorSkipReason } = await import('../test/support/pubsub-emulator');
  const skip = emulatorSkipReason();
  if (skip) {
    console.log(`end to end: skipped (${skip})`);
    return undefined;
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
  const atEmulator = `the Pub/Sub emulator at ${emulator.host}`;
  let server: Server | undefined;
  let sub: Subscription | undefined;
  try {
    await within(pubsub.createTopic(topics.events), STEP_MS, `creating topic ${topics.events} on ${atEmulator}`);
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
    [sub] = await within(
      pubsub.topic(topics.events).createSubscription('fanout-bench', { ackDeadlineSeconds: 30 }),
      STEP_MS,
      `creating the subscription on ${atEmulator}`,
    );
    sub.on('error', (err) => step(`subscription error: ${err.message}`));
    sub.on('message', async (m) => {
      const event = {
        specversion: '1.0',
        id: m.id,
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        source: `//pubsub.googleapis.com/projects/mt-bench/topics/${topics.events}`,
        data: { message: { data: m.data.toString('base64'), messageId: m.id, attributes: m.attributes } },
      };
      try {
        const res = await fetch(fnUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/cloudevents+json' },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(STEP_MS),
        });
        answers.push(`${res.status} ${(await res.text()).slice(0, 200)}`);
        if (res.status < 300) m.ack();
        else m.nack();
      } catch (err) {
        answers.push(`no answer (${(err as Error).message})`);
        m.nack();
      }
    });
    step(`subscribed; ${samples} alerts, about one a second`);
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
    let seen = 0; // slack.received up to here is looked at already
    const received = async (i: number): Promise<number> => {
      const deadline = Date.now() + STEP_MS;
      const text = `Bench alert ${i}:`;
      for (;;) {
        for (; seen < slack.received.length; seen++) {
          const r = slack.received[seen]!;
          if (r.json?.text?.includes(text)) return r.at;
        }
        if (Date.now() > deadline)
          throw new EndToEndFailure(
            `alert ${i} did not reach the fake Slack within ${STEP_MS / 1000} s (last function answers: ${answers.slice(-3).join('; ') || 'none: no message came from the emulator'})`,
          );
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    const latencies: number[] = [];
    let lastReceipt = 0;
    for (let i = -3; i < samples; i++) {
      // Slack takes about one message a second per webhook (the channel spaces its sends, from the start of the
      // previous one): publishing a second after the previous receipt keeps that spacing out of the latency
      await new Promise((r) => setTimeout(r, Math.max(0, lastReceipt + 1010 - Date.now())));
      const t = Date.now();
      await within(
        pubsub.topic(topics.events).publishMessage({ json: warning(i) }),
        STEP_MS,
        `publishing alert ${i} to ${atEmulator}`,
      );
      lastReceipt = await received(i);
      if (i >= 0) latencies.push(lastReceipt - t);
      if (i >= 0 && (i + 1) % 50 === 0) step(`${i + 1} of ${samples} received`);
    }
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
      const ms = await curlMs(payloadFile, slack.webhookUrl);
      if (i >= 3) curl.push(ms);
    }
    return {
      samples,
      p50: pct(latencies, 50),
      p95: pct(latencies, 95),
      curlP50: pct(curl, 50),
      curlP95: pct(curl, 95),
    };
  } finally {
    // bounded too: a client talking to an emulator that stopped answering would wait for it
    const quietly = (p: Promise<unknown> | undefined, what: string) =>
      within(Promise.resolve(p), 5_000, what).catch((err) => step(`clean-up: ${(err as Error).message}`));
    await quietly(sub?.close(), 'closing the subscription');
    server?.closeAllConnections();
    await quietly(new Promise<void>((r) => (server ? server.close(() => r()) : r())), 'closing the function server');
    await quietly(pubsub.close(), 'closing the Pub/Sub client');
    await Promise.all([emulator.stop(), slack.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The result as the bench prints it. */
export function describeEndToEnd(r: EndToEndResult): string[] {
  return [
    `end to end, emulator -> fanoutEvent -> fake Slack, ${r.samples} alerts one at a time: p50 ${r.p50} ms, p95 ${r.p95} ms (target: p95 < 500 ms: ${r.p95 < 500 ? 'met' : 'NOT met'})`,
    `reference, curl posting the same payload to the same fake Slack: p50 ${r.curlP50.toFixed(1)} ms, p95 ${r.curlP95.toFixed(1)} ms; ratio p50 ${(r.p50 / r.curlP50).toFixed(1)}x, p95 ${(r.p95 / r.curlP95).toFixed(1)}x`,
  ];
}
