// The whole topology of infra/ (functions, topics, schedules, project): what it declares, and every kind of bad
// declaration refused with its file and path (names, references, cron, least-privilege IAM, the lifecycle rule).
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { tempDir } from '../support/temp';
import { loadTopology, retentionHorizonDays, type TopologyPaths } from '../../shared/infra/topology';
import { INFRA } from '../../shared/infra/schedules';
import { RetentionSectionSchema } from '../../shared/retention/config';
import { UsageError } from '../../shared/errors';

const dir = tempDir('mt-topology-');
let n = 0;
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const real = (name: string): Doc => parse(readFileSync(INFRA(`${name}.yaml`), 'utf8')) as Doc;

/** The real infra/ files, each changed by `edit`, written to a temp folder. */
function variant(
  edit: (files: { functions: Doc; topics: Doc; schedules: Doc; project: Doc }) => void,
): Required<TopologyPaths> {
  const files = {
    functions: real('functions'),
    topics: real('topics'),
    schedules: real('schedules'),
    project: real('project'),
  };
  edit(files);
  const prefix = join(dir, `v${++n}-`);
  const paths = {} as Required<TopologyPaths>;
  for (const [name, doc] of Object.entries(files)) {
    paths[name as keyof TopologyPaths] = `${prefix}${name}.yaml`;
    writeFileSync(`${prefix}${name}.yaml`, stringify(doc));
  }
  return paths;
}
function problems(paths: TopologyPaths, retention = RetentionSectionSchema.parse({})): string[] {
  try {
    loadTopology(paths, retention);
  } catch (err) {
    if (err instanceof UsageError) return err.issues;
    throw err;
  }
  return [];
}
const fn = (files: { functions: Doc }, name: string): Doc =>
  files.functions.functions.find((f: Doc) => f.name === name);

describe('the topology of infra/', () => {
  const t = loadTopology();

  it('declares a trigger topic per Scheduler job, the events, monitoring and dead-letter topics, and a hold subscription', () => {
    const names = t.topics.map((x) => x.name);
    for (const job of t.jobs) expect(names, job.name).toContain(job.topic);
    expect(new Set(t.jobs.map((j) => j.topic)).size).toBe(t.jobs.length);
    expect(names).toEqual(expect.arrayContaining(['mt-ops-events', 'mt-ops-monitoring', 'mt-ops-dead-letter']));
    expect(t.eventsTopic).toBe('mt-ops-events');
    const hold = t.topics.find((x) => x.name === 'mt-ops-dead-letter')!.subscriptions[0]!;
    expect(hold).toMatchObject({ name: 'mt-ops-dead-letter-hold', messageRetentionSeconds: 604_800 });
    expect(hold.pushTo).toBeUndefined();
  });

  it('gives every subscription an ack deadline, a retry policy, retention, and dead-letters every pushed one', () => {
    for (const topic of t.topics) {
      for (const sub of topic.subscriptions) {
        expect(sub.ackDeadlineSeconds, sub.name).toBeGreaterThanOrEqual(10);
        expect(sub.retryPolicy.minimumBackoffSeconds, sub.name).toBeLessThanOrEqual(
          sub.retryPolicy.maximumBackoffSeconds,
        );
        expect(sub.messageRetentionSeconds, sub.name).toBeGreaterThan(0);
        if (sub.pushTo) expect(sub.deadLetterTopic, sub.name).toBe('mt-ops-dead-letter');
      }
    }
  });

  it('schedules the jobs in America/New_York: backup 03:00, retention 04:30, probes every minute, verify weekly, digest 09:00', () => {
    expect(t.jobs.map((j) => [j.function, j.cron, j.timeZone])).toEqual(
      expect.arrayContaining([
        ['backup', '0 3 * * *', 'America/New_York'],
        ['retention', '30 4 * * *', 'America/New_York'],
        ['probe', '* * * * *', 'America/New_York'],
        ['verify', '0 5 * * 1', 'America/New_York'],
        ['fanout', '0 9 * * *', 'America/New_York'],
      ]),
    );
    for (const job of t.jobs) expect(job.retry.retryCount, job.name).toBeGreaterThan(0);
  });

  it('deploys each entry point on nodejs20 with its own service account per function, within its trigger time limit', () => {
    for (const d of t.deployed) expect(d.timeoutSeconds, d.name).toBeLessThanOrEqual(d.kind === 'event' ? 540 : 3600);
    expect(t.deployed.find((d) => d.entryPoint === 'backupEvent')).toMatchObject({
      name: 'mt-ops-backup-event',
      timeoutSeconds: 540,
      serviceAccount: 'mt-ops-backup',
    });
    expect(t.deployed.find((d) => d.entryPoint === 'backupHttp')).toMatchObject({
      name: 'mt-ops-backup-http',
      timeoutSeconds: 3600,
    });
    expect(new Set(t.functions.map((f) => f.serviceAccount)).size).toBe(t.functions.length);
    for (const f of t.functions) expect(f.runtime).toBe('nodejs20');
    expect(t.functions.find((f) => f.name === 'backup')!.maxInstances).toBe(1);
    // the secrets the issue names come from Secret Manager, never from env
    const secrets = Object.assign({}, ...t.functions.map((f) => f.secrets));
    expect(Object.keys(secrets)).toEqual(
      expect.arrayContaining([
        'DATABASE_URL',
        'VERIFY_DATABASE_URL',
        'SLACK_WEBHOOK_URL',
        'PAGERDUTY_ROUTING_KEY',
        'SMTP_PASSWORD',
      ]),
    );
  });

  it('least privilege: backup never deletes, verify only reads, retention deletes; probe and fanout write only their state', () => {
    const access = (name: string) => t.functions.find((f) => f.name === name)!;
    expect(access('backup').bucket).not.toContain('delete');
    expect(access('verify').bucket).toEqual(['read']);
    expect(access('retention').bucket).toContain('delete');
    expect(access('fanout').bucket).toEqual([]);
    expect(access('probe').bucketPaths).toContain('.state/probes/');
  });

  it('a bucket with uniform access, public access prevention, soft delete and a lifecycle rule no stricter than retention', () => {
    expect(t.project.bucket).toMatchObject({ uniformAccess: true, publicAccessPrevention: 'enforced' });
    expect(t.project.bucket.softDeleteDays).toBeGreaterThan(0);
    expect(t.project.bucket.lifecycle!.deleteAfterDays).toBeGreaterThanOrEqual(
      retentionHorizonDays(RetentionSectionSchema.parse({})),
    );
  });
});

describe('bad topologies are refused with the file and path of every problem', () => {
  it('names: topics and subscriptions the cloud would refuse', () => {
    const paths = variant((f) => {
      f.topics.topics[0].name = 'goog-events';
      f.topics.topics[0].events = true;
      f.topics.topics[1].subscriptions[0].name = 'x';
    });
    const found = problems(paths);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/topics\.yaml: topics\[0\]\.name: goog-events is not a Pub\/Sub name/),
        expect.stringMatching(/topics\[1\]\.subscriptions\[0\]\.name: x is not a Pub\/Sub name/),
      ]),
    );
  });

  it('references: a job whose topic no function receives, a publish to an unknown topic', () => {
    const paths = variant((f) => {
      f.topics.topics.push({ name: 'mt-ops-orphan-trigger' });
      f.schedules.jobs[0].topic = 'mt-ops-orphan-trigger';
      fn(f, 'verify').publishes = ['mt-ops-nowhere'];
    });
    expect(problems(paths)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /schedules\.yaml: jobs\[0\]\.topic: no subscription pushes mt-ops-orphan-trigger to a function/,
        ),
        expect.stringMatching(/functions\.yaml: functions\[2\]\.publishes\[0\]: unknown topic mt-ops-nowhere/),
      ]),
    );
  });

  it('references: a job on an undeclared topic, and a subscription pushing to an undeclared entry point', () => {
    const paths = variant((f) => {
      f.schedules.jobs[1].topic = 'mt-ops-missing';
    });
    expect(() => loadTopology(paths)).toThrow(/jobs\[1\]\.topic: unknown topic mt-ops-missing/);
    const paths2 = variant((f) => {
      f.topics.topics.find((t: Doc) => t.name === 'mt-ops-verify-trigger').subscriptions[0].pushTo = 'verifyEvnt';
    });
    expect(() => loadTopology(paths2)).toThrow(/pushTo: verifyEvnt is not an entry point/);
  });

  it('cron syntax and time zones', () => {
    const paths = variant((f) => {
      f.schedules.jobs[0].cron = '0 25 * * *';
      f.schedules.jobs[1].timeZone = 'America/Nowhere';
    });
    expect(() => loadTopology(paths)).toThrow(
      /schedules\.yaml: .*jobs\[0\]\.cron: must be a valid 5-field cron expression.*jobs\[1\]\.timeZone: must be an IANA time zone/,
    );
  });

  it('IAM that grants backup a delete is refused; so is verify writing, and fanout or probe outside their state', () => {
    const paths = variant((f) => {
      fn(f, 'backup').bucket = ['read', 'create', 'delete'];
      fn(f, 'verify').bucket = ['read', 'create'];
      fn(f, 'fanout').bucketPaths = ['.alerts/', 'prod-data/'];
    });
    expect(problems(paths)).toEqual([
      expect.stringMatching(
        /functions\.yaml: functions\[0\]\.bucket\[2\]: backup may not be granted delete on the bucket \(least privilege: read, create\)$/,
      ),
      expect.stringMatching(/functions\[2\]\.bucket\[1\]: verify may not be granted create/),
      expect.stringMatching(
        /functions\[4\]\.bucketPaths\[1\]: fanout may touch only its state folder, not prod-data\//,
      ),
    ]);
  });

  it('time limits, instances and service accounts', () => {
    const paths = variant((f) => {
      fn(f, 'retention').timeoutSeconds = 600;
      fn(f, 'backup').maxInstances = 2;
      fn(f, 'verify').serviceAccount = 'mt-ops-retention';
    });
    expect(problems(paths)).toEqual([
      expect.stringMatching(/functions\[0\]\.maxInstances: must be 1 for backup/),
      expect.stringMatching(
        /functions\[1\]\.timeoutSeconds: 600 is above 540 s, the most an event-driven function may run/,
      ),
      expect.stringMatching(
        /functions\[2\]\.serviceAccount: mt-ops-retention is already retention's \(one service account per function\)/,
      ),
    ]);
  });

  it('a secret also set as a plain variable, and an unknown field, are refused', () => {
    const paths = variant((f) => {
      fn(f, 'backup').env.DATABASE_URL = 'postgres://x@y/z';
    });
    expect(problems(paths)).toEqual([expect.stringMatching(/functions\[0\]\.secrets\.DATABASE_URL: also set in env/)]);
    const paths2 = variant((f) => {
      fn(f, 'probe').allowUnauthenticated = true;
    });
    expect(() => loadTopology(paths2)).toThrow(/functions\[3\]: Unrecognized key: "allowUnauthenticated"/);
  });

  it('the lifecycle rule may not be stricter than the retention policy; the bucket may not be public', () => {
    const paths = variant((f) => {
      f.project.bucket.lifecycle.deleteAfterDays = 30;
    });
    // default policy: keepWithinDays 30 and keepMonthly 12: a backup can be kept 12 * 31 + 30 days
    expect(problems(paths)).toEqual([
      expect.stringMatching(
        /project\.yaml: bucket\.lifecycle\.deleteAfterDays: 30 is stricter than the retention policy, which may keep a backup 402 days/,
      ),
    ]);
    const longer = RetentionSectionSchema.parse({ policy: { keepYearly: 3 } });
    expect(
      problems(
        variant(() => {}),
        longer,
      ),
    ).toEqual([expect.stringMatching(/deleteAfterDays: 800 is stricter .* 1463 days/)]);
    const paths2 = variant((f) => {
      f.project.bucket.publicAccessPrevention = 'inherited';
    });
    expect(() => loadTopology(paths2)).toThrow(/bucket\.publicAccessPrevention: must be enforced/);
  });

  it('a retention lock longer than the lifecycle rule, or than what retention removes after a failed backup, is refused', () => {
    const paths = variant((f) => {
      f.project.bucket.retentionLock = { days: 900 };
    });
    expect(problems(paths)).toEqual([
      expect.stringMatching(/bucket\.retentionLock\.days: 900 is longer than the lifecycle rule's 800 days/),
      expect.stringMatching(/bucket\.retentionLock\.days: 900 days would stop retention removing/),
    ]);
    expect(problems(variant((f) => (f.project.bucket.retentionLock = { days: 1 })))).toEqual([]);
  });
});
