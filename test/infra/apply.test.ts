// `mt-ops infra plan/apply` against the real Pub/Sub emulator and a protocol-level fake of Cloud Scheduler's REST API
// (reached by the real @google-cloud/scheduler client in its HTTP/JSON fallback mode): idempotent, drift found field
// by field and fixed, undeclared resources reported and deleted only with --prune, an interrupted apply finished by
// running it again.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { loadTopology } from '../../shared/infra/topology';
import { applyInfra, formatPlan, planInfra } from '../../shared/infra/reconcile';
import { openCloudClients } from '../../shared/infra/clients';
import { emulatorJar, emulatorSkipReason, startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator';
import { startFakeScheduler, type FakeScheduler } from '../support/fake-scheduler';
import { CLI, runCli } from '../support/cli';

const skip = emulatorSkipReason();
if (skip) console.warn(`skipping infra apply tests: ${skip}`);

describe.skipIf(!emulatorJar())('infra apply against the Pub/Sub emulator and a fake Cloud Scheduler', () => {
  let emulator: PubSubEmulator;
  let scheduler: FakeScheduler;
  let env: Record<string, string>;
  let projectN = 0;
  const topology = loadTopology();
  const declared =
    topology.topics.length + topology.topics.reduce((n, t) => n + t.subscriptions.length, 0) + topology.jobs.length;

  beforeAll(async () => {
    [emulator, scheduler] = await Promise.all([startPubSubEmulator(), startFakeScheduler()]);
    env = {
      PUBSUB_EMULATOR_HOST: emulator.host,
      SCHEDULER_API_ENDPOINT: scheduler.url,
      METADATA_SERVER_DETECTION: 'none',
    };
  }, 60_000);
  afterAll(async () => {
    await Promise.all([emulator?.stop(), scheduler?.close()]);
  });

  /** A fresh project per test: the emulator and the fake keep every project apart. */
  async function project() {
    const target = { project: `mt-apply-${++projectN}`, region: 'us-east1' };
    const clients = await openCloudClients(target.project, env);
    return { target, clients };
  }

  it('creates everything, then a second apply has nothing to do; the Scheduler client spoke HTTP/JSON', async () => {
    const { target, clients } = await project();
    try {
      const first = await planInfra(topology, clients, target);
      expect(first.changes.every((c) => c.action === 'create')).toBe(true);
      expect(first.changes).toHaveLength(declared);
      await applyInfra(topology, clients, target);
      const second = await planInfra(topology, clients, target);
      expect(second).toEqual({ changes: [], unchanged: declared });
      expect(formatPlan(second)).toBe(`no changes (${declared} up to date)\n`);

      const [subs] = await clients.pubsub.getSubscriptions();
      expect(subs.find((s) => s.name.endsWith('/mt-ops-dead-letter-hold'))!.metadata!.expirationPolicy).toEqual({
        ttl: null,
      });
      const backup = subs.find((s) => s.name.endsWith('/mt-ops-backup'))!.metadata!;
      expect(backup).toMatchObject({
        topic: `projects/${target.project}/topics/mt-ops-backup-trigger`,
        ackDeadlineSeconds: 600,
        deadLetterPolicy: {
          deadLetterTopic: `projects/${target.project}/topics/mt-ops-dead-letter`,
          maxDeliveryAttempts: 5,
        },
        expirationPolicy: { ttl: null }, // never: an idle subscription is otherwise deleted after 31 days
        pushConfig: {
          pushEndpoint: `https://us-east1-${target.project}.cloudfunctions.net/mt-ops-backup-event/projects/${target.project}/topics/mt-ops-backup-trigger`,
          oidcToken: { serviceAccountEmail: `mt-ops-pusher@${target.project}.iam.gserviceaccount.com` },
        },
      });
      const job = scheduler.jobs.get(`projects/${target.project}/locations/us-east1/jobs/mt-ops-backup-nightly`)!;
      expect(job).toMatchObject({
        schedule: '0 3 * * *',
        timeZone: 'America/New_York',
        pubsubTarget: {
          topicName: `projects/${target.project}/topics/mt-ops-backup-trigger`,
          attributes: { job: 'mt-ops-backup-nightly' },
        },
      });
      expect(JSON.parse(Buffer.from(String((job.pubsubTarget as { data: string }).data), 'base64').toString())).toEqual(
        { label: 'nightly' },
      );
      // the fallback (REST) transport: JSON over HTTP/1.1 with the REST paths, not gRPC
      expect(
        scheduler.requests.some(
          (r) =>
            r.method === 'GET' &&
            r.path === `/v1/projects/${target.project}/locations/us-east1/jobs` &&
            r.query.get('$alt')?.startsWith('json'),
        ),
      ).toBe(true);
    } finally {
      await clients.close();
    }
  }, 60_000);

  it('drift is shown field by field and fixed; a field that cannot be updated is replaced', async () => {
    const { target, clients } = await project();
    try {
      await applyInfra(topology, clients, target);
      // someone changes things by hand
      await clients.pubsub.subscription('mt-ops-backup').setMetadata({
        ackDeadlineSeconds: 30,
        retryPolicy: { minimumBackoff: { seconds: 10 }, maximumBackoff: { seconds: 60 } },
      });
      await clients.pubsub.subscription('mt-ops-probe').delete();
      await clients.pubsub
        .topic('mt-ops-probe-trigger')
        .createSubscription('mt-ops-probe', { filter: 'attributes.job = "x"', ackDeadlineSeconds: 600 });
      const jobName = `projects/${target.project}/locations/us-east1/jobs/mt-ops-retention-daily`;
      scheduler.jobs.get(jobName)!.schedule = '0 6 * * *';
      scheduler.jobs.delete(`projects/${target.project}/locations/us-east1/jobs/mt-ops-verify-weekly`);

      const plan = await planInfra(topology, clients, target);
      const text = formatPlan(plan);
      expect(text).toContain(
        '~ subscription mt-ops-backup: update\n    ackDeadlineSeconds: 30 -> 600\n    retryPolicy.maximumBackoffSeconds: 60 -> 600\n',
      );
      expect(text).toMatch(
        /-\/\+ subscription mt-ops-probe: replace [^\n]*\n( {4}.*\n)* {4}filter: "attributes.job = \\"x\\"" -> \(unset\)\n/,
      );
      expect(text).toContain('~ job mt-ops-retention-daily: update\n    schedule: "0 6 * * *" -> "30 4 * * *"\n');
      expect(text).toContain('+ job mt-ops-verify-weekly: create\n');
      expect(text).toMatch(/4 changes, \d+ up to date\n$/);

      await applyInfra(topology, clients, target);
      expect(await planInfra(topology, clients, target)).toEqual({ changes: [], unchanged: declared });
      expect(scheduler.jobs.get(jobName)!.schedule).toBe('30 4 * * *');
      const [meta] = await clients.pubsub.subscription('mt-ops-probe').getMetadata();
      expect(meta.filter).toBe('');
    } finally {
      await clients.close();
    }
  }, 60_000);

  it('undeclared mt-ops-* resources are reported and kept; --prune deletes them; the rest of the project is not touched', async () => {
    const { target, clients } = await project();
    try {
      await applyInfra(topology, clients, target);
      const [old] = await clients.pubsub.createTopic('mt-ops-old-trigger');
      await old.createSubscription('mt-ops-old');
      const [other] = await clients.pubsub.createTopic('someone-elses-topic');
      await other.createSubscription('someone-elses-sub');
      await clients.scheduler.createJob({
        parent: `projects/${target.project}/locations/us-east1`,
        job: {
          name: `projects/${target.project}/locations/us-east1/jobs/mt-ops-old-job`,
          schedule: '0 1 * * *',
          timeZone: 'UTC',
          pubsubTarget: { topicName: old.name, data: Buffer.from('{}') },
        },
      });

      const kept = await applyInfra(topology, clients, target);
      expect(formatPlan(kept, { applied: true })).toBe(
        [
          '? topic mt-ops-old-trigger: exists but is not declared (kept; --prune deletes it)',
          '? subscription mt-ops-old: exists but is not declared (kept; --prune deletes it)',
          '? job mt-ops-old-job: exists but is not declared (kept; --prune deletes it)',
          `no changes (${declared} up to date)`,
          '',
        ].join('\n'),
      );
      expect((await clients.pubsub.topic('mt-ops-old-trigger').exists())[0]).toBe(true);

      const cli = await runCli(['infra', 'apply', '--project', target.project, '--region', 'us-east1', '--prune'], {
        env,
      });
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stderr).toBe(
        'deleted job mt-ops-old-job\ndeleted subscription mt-ops-old\ndeleted topic mt-ops-old-trigger\n',
      );
      expect((await clients.pubsub.topic('mt-ops-old-trigger').exists())[0]).toBe(false);
      expect((await clients.pubsub.subscription('mt-ops-old').exists())[0]).toBe(false);
      expect(scheduler.jobs.has(`projects/${target.project}/locations/us-east1/jobs/mt-ops-old-job`)).toBe(false);
      expect((await clients.pubsub.topic('someone-elses-topic').exists())[0]).toBe(true);
      expect((await clients.pubsub.subscription('someone-elses-sub').exists())[0]).toBe(true);
    } finally {
      await clients.close();
    }
  }, 60_000);

  it('an apply killed half way is finished by the next one (the real CLI)', async () => {
    const { target, clients } = await project();
    try {
      // SIGKILL as soon as the first resource is reported created
      const child = spawn(
        process.execPath,
        [CLI, 'infra', 'apply', '--project', target.project, '--region', 'us-east1'],
        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      await new Promise<void>((resolve) => {
        child.stderr.on('data', (d) => {
          stderr += d;
          if (stderr.includes('created ')) child.kill('SIGKILL');
        });
        child.on('close', () => resolve());
      });
      expect(stderr).toMatch(/^created topic mt-ops-events\n/);
      const partial = await planInfra(topology, clients, target);
      expect(partial.changes.length).toBeGreaterThan(0);
      expect(partial.changes.length).toBeLessThan(declared);

      const plan = await runCli(['infra', 'plan', '--project', target.project, '--region', 'us-east1'], { env });
      expect(plan.code, plan.stderr).toBe(0);
      // what the killed run did is up to date; the rest is still to create (how much it did depends on timing)
      expect(plan.stdout).toMatch(/^\+ job mt-ops-backup-nightly: create\n/m);
      expect(plan.stdout).not.toContain('mt-ops-events: create');
      expect(plan.stdout).toMatch(/\n\d+ changes, [1-9]\d* up to date\n$/);

      const rerun = await runCli(['infra', 'apply', '--project', target.project, '--region', 'us-east1'], { env });
      expect(rerun.code, rerun.stderr).toBe(0);
      expect(rerun.stdout).toMatch(/^\+ job mt-ops-backup-nightly: created\n/m);
      expect(rerun.stdout).toMatch(/\n\d+ changes, [1-9]\d* up to date\n$/);
      expect(await planInfra(topology, clients, target)).toEqual({ changes: [], unchanged: declared });
    } finally {
      await clients.close();
    }
  }, 90_000);

  it('infra notify publishes deployment.failed (warning, naming the step) to the events topic', async () => {
    const { target, clients } = await project();
    try {
      const [topic] = await clients.pubsub.createTopic('mt-ops-events');
      const [sub] = await topic.createSubscription('watch');
      const cli = await runCli(
        [
          'infra',
          'notify',
          '--project',
          target.project,
          '--region',
          'us-east1',
          '--status',
          'failed',
          '--step',
          'tests',
          '--commit',
          'abc123',
        ],
        { env },
      );
      expect(cli.code, cli.stderr).toBe(0);
      const message = await new Promise<{ attributes: Record<string, string>; data: Buffer; ack(): void }>((resolve) =>
        sub.once('message', resolve),
      );
      message.ack();
      await sub.close();
      expect(message.attributes).toMatchObject({ type: 'deployment.failed', severity: 'warning', env: 'prod' });
      expect(JSON.parse(message.data.toString())).toMatchObject({
        project: target.project,
        region: 'us-east1',
        step: 'tests',
        commit: 'abc123',
      });
    } finally {
      await clients.close();
    }
  }, 60_000);
});
