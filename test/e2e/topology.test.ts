/**
 * End to end through the Pub/Sub emulator, wired as infra/ declares it: every topic of infra/topics.yaml, and each
 * subscription with a `pushTo` as a push subscription to its entry point, each entry point served by the real
 * functions-framework on its own port (the emulator POSTs the Pub/Sub push body; the framework turns it into the
 * CloudEvent a 2nd-gen function receives; a non-2xx answer makes the emulator redeliver). Each function has its own
 * runtime, publishing its events to the emulator's mt-ops-events. The test plays Cloud Scheduler: it publishes a
 * declared job's payload to the job's topic.
 *   (a) the scheduled backup -> backup.succeeded -> fanout -> the daily digest (fake Slack);
 *   (b) a probe target failing three times -> one PagerDuty trigger (fake PagerDuty); its recovery -> the resolve.
 *   (c) `npm start` with PUBSUB_EMULATOR_HOST: its schedule goes through the emulator and its event reaches the fan-out.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PubSub } from '@google-cloud/pubsub';
import * as ff from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { emulatorJar, emulatorSkipReason, startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack';
import { startFakePagerDuty, type FakePagerDuty } from '../support/fake-pagerduty';
import { delivered } from '../support/fake-http';
import { startTargets, type Targets } from '../support/probe-targets';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { freePort } from '../support/postgres-server';
import { loadConfig } from '../../shared/config/load';
import { functionRuntime, type Runtime } from '../../shared/functions/runtime';
import { bindEntryPoint, type EventHandler } from '../../shared/functions/entry-points';
import { installJsonErrors } from '../../shared/functions/framework';
import { loadWiring } from '../../shared/infra/wiring';
import { loadTopics } from '../../shared/infra/schedules';
import { ENTRY_POINTS } from '../../functions/local/wiring';
import { openStore } from '../../shared/storage/open';
import { listBackups } from '../../shared/backup/catalog';
import { readState } from '../../shared/probes/plan';
import { alertKeys } from '../../shared/alerts/layout';

const skip = emulatorSkipReason();
if (skip) console.warn(`skipping the end-to-end tests through the Pub/Sub emulator: ${skip}`);

const PROJECT = 'mt-e2e';
const START = fileURLToPath(new URL('../../bin/start.js', import.meta.url));

interface Invocation {
  entryPoint: string;
  messageId: string;
  /** The message's JSON payload (an event for the fan-out, a trigger's payload otherwise). */
  payload: any;
  result?: any;
  error?: string;
}

describe.skipIf(!emulatorJar())(
  'end to end: infra/ on the Pub/Sub emulator, each function on the functions-framework',
  () => {
    let emulator: PubSubEmulator;
    let pubsub: PubSub;
    let slack: FakeSlack;
    let pd: FakePagerDuty;
    let targets: Targets;
    let db: TestDatabase;
    let bucket: string;
    const servers: Server[] = [];
    const runtimes: Runtime[] = [];
    const invocations: Invocation[] = [];
    const wiring = loadWiring();
    const job = (entryPoint: string) => wiring.jobs.find((j) => j.entryPoint === entryPoint)!;

    /** Waits for a condition over the recorded invocations, the fakes or the bucket (checked every 50 ms), never a fixed time. */
    const until = async (what: string, check: () => boolean | Promise<boolean>, ms = 60_000) => {
      const deadline = Date.now() + ms;
      while (!(await check())) {
        if (Date.now() > deadline) {
          throw new Error(
            `timed out waiting for ${what}; invocations: ${JSON.stringify(invocations.map((i) => [i.entryPoint, i.payload?.type ?? i.payload, i.error ?? 'ok']))}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    beforeAll(async () => {
      [emulator, slack, pd, targets, db] = await Promise.all([
        startPubSubEmulator(),
        startFakeSlack(),
        startFakePagerDuty(),
        startTargets(),
        createTestDatabase('mt_e2e'),
      ]);
      await loadAwkwardSchema(db, { withData: true });
      bucket = tempDir('mt-e2e-');
      const configFile = join(tempDir('mt-e2e-config-'), 'ops.config.json');
      writeFileSync(
        configFile,
        JSON.stringify({
          maintenance: [],
          probes: [
            {
              name: 'api',
              url: `${targets.url}/toggle`,
              intervalSeconds: 10,
              failureThreshold: 3,
              successThreshold: 1,
              conditions: ['[STATUS] == 200'],
            },
          ],
        }),
      );
      const env = {
        DATABASE_URL: db.url,
        BACKUP_BUCKET: `file://${bucket}`,
        OPS_ENV: 'prod',
        OPS_CONFIG: configFile,
        PUBSUB_EMULATOR_HOST: emulator.host,
        GOOGLE_CLOUD_PROJECT: PROJECT,
        SLACK_WEBHOOK_URL: slack.webhookUrl,
        PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0000000000000000000000',
        PAGERDUTY_EVENTS_URL: pd.eventsUrl,
        LOG_LEVEL: 'warn',
      };
      pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: emulator.host, emulatorMode: true });
      for (const topic of loadTopics().topics) await pubsub.createTopic(topic.name);

      installJsonErrors();
      const urls = new Map<string, string>();
      for (const ep of wiring.entryPoints.filter((e) => e.kind === 'event')) {
        // the function's own runtime, as its deployed instance builds it from its environment
        const rt = functionRuntime(loadConfig({ ...process.env, ...env }), ep.function);
        runtimes.push(rt);
        const handler = bindEntryPoint(ENTRY_POINTS[ep.name]!, () => rt) as EventHandler;
        ff.cloudEvent(`e2e-${ep.name}`, async (event: CloudEvent<any>) => {
          const message = event.data?.message ?? {};
          let payload: unknown;
          try {
            payload = JSON.parse(Buffer.from(message.data ?? '', 'base64').toString('utf8'));
          } catch {
            payload = undefined;
          }
          const record: Invocation = { entryPoint: ep.name, messageId: String(message.messageId ?? event.id), payload };
          try {
            record.result = await handler(event);
            return record.result;
          } catch (err) {
            record.error = (err as Error).message;
            throw err;
          } finally {
            invocations.push(record);
          }
        });
        const server = getTestServer(`e2e-${ep.name}`);
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
        servers.push(server);
        urls.set(ep.name, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      }
      // the push subscriptions of infra/topics.yaml, each to its entry point's server (the path names the topic, as the
      // framework expects of a push endpoint)
      for (const topic of loadTopics().topics) {
        for (const sub of topic.subscriptions) {
          if (!sub.pushTo) continue;
          await pubsub.topic(topic.name).createSubscription(sub.name, {
            ackDeadlineSeconds: 30,
            pushConfig: { pushEndpoint: `${urls.get(sub.pushTo)}/projects/${PROJECT}/topics/${topic.name}` },
          });
        }
      }
    }, 120_000);

    afterAll(async () => {
      for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
      for (const rt of runtimes) await rt.bus.close();
      await pubsub?.close();
      await Promise.all([emulator?.stop(), slack?.close(), pd?.close(), targets?.close()]);
    });

    it('(a) a scheduled trigger leads to a backup whose backup.succeeded reaches the fan-out and the daily digest', async () => {
      const backupJob = job('backupEvent');
      const messageId = await pubsub.topic(backupJob.topic).publishMessage({ json: backupJob.payload });
      await until('the backup function', () =>
        invocations.some((i) => i.entryPoint === 'backupEvent' && i.messageId === messageId),
      );
      const run = invocations.find((i) => i.entryPoint === 'backupEvent' && i.messageId === messageId)!;
      expect(run.error).toBeUndefined();
      const store = openStore(`file://${bucket}`);
      const [backup] = await listBackups(store, 'prod');
      expect(backup?.manifest).toMatchObject({ label: 'nightly', trigger: { kind: 'scheduled', messageId } });
      const id = backup!.id;

      await until('backup.succeeded at the fan-out', () =>
        invocations.some(
          (i) => i.entryPoint === 'fanoutEvent' && i.payload?.type === 'backup.succeeded' && i.payload.backupId === id,
        ),
      );
      const fanned = invocations.find((i) => i.entryPoint === 'fanoutEvent' && i.payload?.backupId === id)!;
      expect(fanned.error).toBeUndefined();
      // an info notice waits for the digest; nobody is paged for it
      const notices: string[] = [];
      for await (const o of store.list(alertKeys.digest('prod'))) notices.push(o.key);
      expect(notices).toHaveLength(1);
      expect(delivered(pd)).toEqual([]);

      const digestJob = job('digestEvent');
      const before = delivered(slack).length;
      await pubsub.topic(digestJob.topic).publishMessage({ json: digestJob.payload });
      await until('the digest on Slack', () => delivered(slack).length > before);
      const text = JSON.stringify(delivered(slack).at(-1)!.json);
      expect(text).toContain(id);
      await until('the digest function answered', () => invocations.some((i) => i.entryPoint === 'digestEvent'));
      expect(invocations.find((i) => i.entryPoint === 'digestEvent')!.result).toMatchObject({
        notices: 1,
        channels: { slack: 'delivered' },
      });
    }, 120_000);

    it('(b) a probe target failing three times pages once on PagerDuty; its recovery resolves it', async () => {
      const probeJob = job('probeEvent');
      const store = openStore(`file://${bucket}`);
      const probe = async () => {
        // a probe is due once its interval (10 s, less 5 s of scheduler slack) has passed since its last run: wait for
        // that moment, then play the minute's Scheduler job
        const { state } = await readState(store, 'prod', 'api', new Date().toISOString());
        const due = state.lastRunAt ? Date.parse(state.lastRunAt) + 5_000 - Date.now() : 0;
        if (due > 0) await new Promise((r) => setTimeout(r, due + 50));
        const messageId = await pubsub.topic(probeJob.topic).publishMessage({ json: probeJob.payload });
        await until('the probe run', () =>
          invocations.some((i) => i.entryPoint === 'probeEvent' && i.messageId === messageId),
        );
        return invocations.find((i) => i.entryPoint === 'probeEvent' && i.messageId === messageId)!.result as {
          passed: number;
          failed: number;
          notDue: number;
        };
      };
      const pages = () => delivered(pd).filter((r) => String(r.json?.dedup_key ?? '').includes('/api'));

      targets.toggle = 'unhealthy';
      let failures = 0;
      while (failures < 3) {
        const result = await probe();
        failures += result.failed;
        if (failures < 3) expect(pages()).toEqual([]); // nothing before the threshold
      }
      await until('the PagerDuty trigger', () => pages().length > 0);
      expect(pages().map((r) => r.json.event_action)).toEqual(['trigger']);
      expect(pages()[0]!.json).toMatchObject({ payload: { severity: 'critical' } });

      targets.toggle = 'healthy';
      let passed = 0;
      while (passed < 1) passed += (await probe()).passed;
      await until('the PagerDuty resolve', () => pages().length > 1);
      expect(pages().map((r) => r.json.event_action)).toEqual(['trigger', 'resolve']);
      expect(pages()[1]!.json.dedup_key).toBe(pages()[0]!.json.dedup_key);
    }, 120_000);

    it('(c) npm start with PUBSUB_EMULATOR_HOST: its schedule travels through the emulator, and its event reaches its fan-out', async () => {
      const cwd = tempDir('mt-e2e-start-');
      const project = 'mt-e2e-local'; // its own project on the emulator: the push subscriptions above are not its
      writeFileSync(
        join(cwd, 'ops.config.json'),
        JSON.stringify({
          schedules: { backup: { cron: '*/2 * * * * *' } },
          probes: [{ name: 'fresh', kind: 'backup-freshness' }],
          maintenance: [],
        }),
      );
      const port = await freePort();
      const child = spawn(process.execPath, [START], {
        cwd,
        env: {
          ...process.env,
          PORT: String(port),
          DATABASE_URL: db.url,
          PUBSUB_EMULATOR_HOST: emulator.host,
          GOOGLE_CLOUD_PROJECT: project,
          OPS_API_TOKEN: 'e2e-token-0123456789',
          BACKUP_BUCKET: '',
          OPS_CONFIG: '',
          LOG_LEVEL: 'info',
          METADATA_SERVER_DETECTION: 'none',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        await until('npm start', () => out.includes('listening on') || child.exitCode !== null);
        expect(out).toContain(`on the emulator at ${emulator.host}`);
        expect(out).toMatch(
          /schedules published and events delivered through the emulator \(\d+ subscriptions of infra\/ pulled here\)/,
        );
        // the subscriptions of infra/ exist in its project, pulled (no push endpoint)
        const local = new PubSub({ projectId: project, apiEndpoint: emulator.host, emulatorMode: true });
        const [subs] = await local.getSubscriptions();
        await local.close();
        expect(subs.map((s) => s.name.split('/').pop()).sort()).toEqual(
          wiring.entryPoints.flatMap((e) => e.subscriptions.map((s) => s.name)).sort(),
        );
        // the scheduled backup's message went through the emulator (a decimal message id the emulator gave it), and its
        // backup.succeeded came back through mt-ops-fanout to the fan-out, which filed it for the digest
        const store = openStore(`file://${join(cwd, 'backups')}`);
        const notices = async () => {
          const keys: string[] = [];
          for await (const o of store.list(alertKeys.digest('local'))) keys.push(o.key);
          return keys;
        };
        await until(
          'the digest notice of a scheduled backup, filed by the fan-out',
          async () => (await notices()).length > 0,
        );
        const [backup] = await listBackups(store, 'local');
        // the id the emulator gave the message (in-process, the runtime would have made a 15-digit one from the time)
        expect(backup?.manifest?.trigger).toMatchObject({
          kind: 'scheduled',
          messageId: expect.stringMatching(/^\d{1,14}$/),
        });
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
    }, 120_000);
  },
);
