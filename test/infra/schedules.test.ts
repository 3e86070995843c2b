import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { loadSchedules, loadTopics, nextRuns } from '../../shared/infra/schedules';
import { loadWiring } from '../../shared/infra/wiring';
import { alertTopics } from '../../shared/alerts/topics';
import { UsageError } from '../../shared/errors';
import { INFRA } from '../../shared/infra/schedules';
import { readFileSync } from 'node:fs';

const ALERT_TOPICS = alertTopics();

const dir = tempDir('mt-infra-');
let n = 0;
function file(content: string): string {
  const path = join(dir, `file-${++n}.yaml`);
  writeFileSync(path, content);
  return path;
}
function loadError(load: () => unknown): UsageError {
  try {
    load();
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error('expected an error');
}
const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

describe('infra declarations', () => {
  it('declares the events topic and dead-lettered trigger subscriptions, each pushed to an entry point', () => {
    const topics = loadTopics().topics;
    expect(topics.filter((t) => t.events).map((t) => t.name)).toEqual(['mt-ops-events']);
    const triggers = topics.filter((t) => t.subscriptions.some((s) => s.pushTo));
    expect(triggers.map((t) => t.name)).toEqual([
      'mt-ops-events',
      'mt-ops-monitoring',
      'mt-ops-digest-trigger',
      'mt-ops-alerts-sweep-trigger',
      'mt-ops-backup-trigger',
      'mt-ops-retention-trigger',
      'mt-ops-verify-trigger',
      'mt-ops-probe-trigger',
    ]);
    for (const trigger of triggers.filter(
      (t) => t.name.endsWith('-trigger') && !['mt-ops-digest-trigger', 'mt-ops-alerts-sweep-trigger'].includes(t.name),
    )) {
      expect(trigger.subscriptions, trigger.name).toHaveLength(1);
      expect(trigger.subscriptions[0]).toMatchObject({
        deadLetterTopic: 'mt-ops-dead-letter',
        maxDeliveryAttempts: 5,
        ackDeadlineSeconds: 600,
      });
    }
    // a topic without subscriptions drops what is published to it
    expect(topics.find((t) => t.name === 'mt-ops-dead-letter')!.subscriptions.map((s) => s.name)).toEqual([
      'mt-ops-dead-letter-hold',
    ]);
  });

  it('routes the suite events and Cloud Monitoring incidents to the fan-out, dead-lettered', () => {
    const topics = loadTopics().topics;
    for (const topic of [ALERT_TOPICS.events, ALERT_TOPICS.monitoring]) {
      const subs = topics.find((t) => t.name === topic)?.subscriptions ?? [];
      expect(
        subs.filter((s) => s.pushTo === 'fanoutEvent'),
        topic,
      ).toEqual([expect.objectContaining({ deadLetterTopic: 'mt-ops-dead-letter', maxDeliveryAttempts: 10 })]);
    }
    expect(topics.find((t) => t.name === ALERT_TOPICS.digestTrigger)?.subscriptions).toEqual([
      expect.objectContaining({ pushTo: 'digestEvent' }),
    ]);
    expect(topics.find((t) => t.name === ALERT_TOPICS.sweepTrigger)?.subscriptions).toEqual([
      expect.objectContaining({ pushTo: 'sweepEvent', deadLetterTopic: 'mt-ops-dead-letter' }),
    ]);
  });

  it("the fan-out's topics are read from infra/ (a renamed topic is followed; a missing dead-letter topic is refused)", () => {
    expect(alertTopics()).toEqual({
      events: 'mt-ops-events',
      monitoring: 'mt-ops-monitoring',
      deadLetter: 'mt-ops-dead-letter',
      digestTrigger: 'mt-ops-digest-trigger',
      sweepTrigger: 'mt-ops-alerts-sweep-trigger',
    });
    const real = readFileSync(INFRA('topics.yaml'), 'utf8');
    const renamed = file(real.replace('name: mt-ops-monitoring', 'name: cm-incidents'));
    expect(alertTopics({ topics: renamed })).toMatchObject({
      monitoring: 'cm-incidents',
      deadLetter: 'mt-ops-dead-letter',
    });
    const lost = file(
      real.replace(/(pushTo: fanoutEvent\n\s+ackDeadlineSeconds: \d+\n)\s+deadLetterTopic: mt-ops-dead-letter\n/, '$1'),
    );
    expect(loadError(() => alertTopics({ topics: lost })).message).toMatch(/must share one deadLetterTopic/);
  });

  it('declares the Scheduler jobs, each reaching its function through its topic, with a JSON payload', () => {
    const { jobs } = loadWiring();
    expect(
      jobs.map(({ name, cron, timeZone, topic, function: fn, entryPoint }) => ({
        name,
        cron,
        timeZone,
        topic,
        fn,
        entryPoint,
      })),
    ).toEqual([
      {
        name: 'mt-ops-backup-nightly',
        cron: '0 3 * * *',
        timeZone: 'America/New_York',
        topic: 'mt-ops-backup-trigger',
        fn: 'backup',
        entryPoint: 'backupEvent',
      },
      {
        name: 'mt-ops-retention-daily',
        cron: '30 4 * * *',
        timeZone: 'America/New_York',
        topic: 'mt-ops-retention-trigger',
        fn: 'retention',
        entryPoint: 'retentionEvent',
      },
      {
        name: 'mt-ops-verify-weekly',
        cron: '0 5 * * 1',
        timeZone: 'America/New_York',
        topic: 'mt-ops-verify-trigger',
        fn: 'verify',
        entryPoint: 'verifyEvent',
      },
      {
        name: 'mt-ops-probe-minutely',
        cron: '* * * * *',
        timeZone: 'America/New_York',
        topic: 'mt-ops-probe-trigger',
        fn: 'probe',
        entryPoint: 'probeEvent',
      },
      {
        name: 'mt-ops-alerts-digest',
        cron: '0 9 * * *',
        timeZone: 'America/New_York',
        topic: 'mt-ops-digest-trigger',
        fn: 'fanout',
        entryPoint: 'digestEvent',
      },
      {
        name: 'mt-ops-alerts-sweep',
        cron: '* * * * *',
        timeZone: 'America/New_York',
        topic: 'mt-ops-alerts-sweep-trigger',
        fn: 'fanout',
        entryPoint: 'sweepEvent',
      },
    ]);
    for (const job of jobs) expect(JSON.parse(JSON.stringify(job.payload))).toEqual(job.payload);
    expect(jobs[0]!.payload).toEqual({ label: 'nightly' });
  });
});

describe('next runs (croner, in the job time zone)', () => {
  const job = (name: string) => loadSchedules().find((j) => j.name === name)!;

  it.each([
    // 03:00 New York is 08:00Z in winter (EST) and 07:00Z in summer (EDT)
    [
      'backup across spring-forward (8 March 2026)',
      'mt-ops-backup-nightly',
      '2026-03-06T12:00:00Z',
      ['2026-03-07T08:00:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-09T07:00:00.000Z'],
    ],
    [
      'backup across fall-back (1 November 2026)',
      'mt-ops-backup-nightly',
      '2026-10-30T12:00:00Z',
      ['2026-10-31T07:00:00.000Z', '2026-11-01T08:00:00.000Z', '2026-11-02T08:00:00.000Z'],
    ],
    [
      'retention across spring-forward',
      'mt-ops-retention-daily',
      '2026-03-06T12:00:00Z',
      ['2026-03-07T09:30:00.000Z', '2026-03-08T08:30:00.000Z', '2026-03-09T08:30:00.000Z'],
    ],
    [
      'verify on Mondays across fall-back',
      'mt-ops-verify-weekly',
      '2026-10-20T00:00:00Z',
      ['2026-10-26T09:00:00.000Z', '2026-11-02T10:00:00.000Z', '2026-11-09T10:00:00.000Z'],
    ],
  ])('%s', (_name, name, from, expected) => {
    expect(iso(nextRuns(job(name), new Date(from), 3))).toEqual(expected);
  });

  it('runs strictly after `from`', () => {
    expect(iso(nextRuns(job('mt-ops-backup-nightly'), new Date('2026-11-29T08:00:00Z'), 1))).toEqual([
      '2026-11-30T08:00:00.000Z',
    ]);
    expect(iso(nextRuns(job('mt-ops-backup-nightly'), new Date('2026-11-29T07:59:59Z'), 1))).toEqual([
      '2026-11-29T08:00:00.000Z',
    ]);
  });

  it('a time skipped by spring-forward runs once at 03:00; a repeated time at fall-back runs once', () => {
    const zone = 'America/New_York';
    expect(iso(nextRuns({ cron: '30 2 * * *', timeZone: zone }, new Date('2026-03-07T12:00:00Z'), 2))).toEqual([
      '2026-03-08T07:00:00.000Z',
      '2026-03-09T06:30:00.000Z',
    ]);
    expect(iso(nextRuns({ cron: '30 1 * * *', timeZone: zone }, new Date('2026-10-31T12:00:00Z'), 2))).toEqual([
      '2026-11-01T05:30:00.000Z',
      '2026-11-02T06:30:00.000Z',
    ]);
  });

  it('the time zone matters', () => {
    expect(iso(nextRuns({ cron: '0 3 * * *', timeZone: 'UTC' }, new Date('2026-11-29T00:00:00Z'), 1))).toEqual([
      '2026-11-29T03:00:00.000Z',
    ]);
  });
});

describe('bad declarations report the file and the path of every problem', () => {
  it('schedules: each field problem at once', () => {
    const path = file(
      'jobs:\n  - name: Bad Name\n    cron: "61 * * * *"\n    timeZone: Mars/Olympus\n    topic: mt-ops-backup-trigger\n    extra: 1\n  - name: ok\n    cron: "0 3 * *"\n    timeZone: UTC\n',
    );
    const err = loadError(() => loadSchedules(path));
    expect(err.message).toContain(path);
    expect(err.issues).toEqual([
      expect.stringMatching(/^jobs\[0\]\.name: /),
      'jobs[0].cron: must be a valid 5-field cron expression',
      'jobs[0].timeZone: must be an IANA time zone',
      expect.stringMatching(/^jobs\[0\]: Unrecognized key: "extra"/),
      'jobs[1].cron: must be a valid 5-field cron expression',
      expect.stringMatching(/^jobs\[1\]\.topic: /),
    ]);
  });

  it('schedules: unknown topics and duplicate names', () => {
    const job = (name: string, topic: string) =>
      `  - { name: ${name}, cron: "0 3 * * *", timeZone: UTC, topic: ${topic} }\n`;
    const path = file(`jobs:\n${job('a', 'mt-ops-backup-trigger')}${job('a', 'mt-ops-nope')}`);
    expect(loadError(() => loadSchedules(path)).issues).toEqual([
      'jobs[1].name: duplicate job a',
      expect.stringMatching(/^jobs\[1\]\.topic: unknown topic mt-ops-nope/),
    ]);
  });

  it('topics: undeclared dead-letter topics and duplicate subscriptions', () => {
    const path = file(
      'topics:\n  - name: t1\n    subscriptions:\n      - { name: s1, deadLetterTopic: dlq }\n  - name: t2\n    subscriptions:\n      - { name: s1, ackDeadlineSeconds: 5 }\n',
    );
    expect(loadError(() => loadTopics(path)).issues).toEqual([
      expect.stringMatching(/^topics\[1\]\.subscriptions\[0\]\.ackDeadlineSeconds: /),
    ]);
    const path2 = file(
      'topics:\n  - name: t1\n    subscriptions:\n      - { name: s1, deadLetterTopic: dlq }\n  - name: t2\n    subscriptions:\n      - { name: s1 }\n',
    );
    expect(loadError(() => loadTopics(path2)).issues).toEqual([
      'topics[1].subscriptions[0].name: duplicate subscription s1',
      'topics[0].subscriptions[0].deadLetterTopic: unknown topic dlq',
    ]);
  });

  it('topics: a dead-letter topic without a subscription', () => {
    const path = file(
      'topics:\n  - name: t1\n    subscriptions:\n      - { name: s1, deadLetterTopic: dlq }\n  - name: dlq\n',
    );
    expect(loadError(() => loadTopics(path)).issues).toEqual([
      'topics[0].subscriptions[0].deadLetterTopic: dlq has no subscription (its messages would be dropped)',
    ]);
  });

  it('a file that is not YAML names the file', () => {
    const path = file('jobs: [\n');
    expect(loadError(() => loadSchedules(path)).message).toContain(path);
  });
});
