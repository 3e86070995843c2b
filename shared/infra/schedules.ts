/** The Scheduler jobs and topics declared in infra/, read and checked. */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { Cron } from 'croner';
import { UsageError, errorMessage, parseOrThrow } from '../errors';

/** A cron expression croner accepts (5 fields; 6 with seconds when `seconds` is set). */
export function cronExpression(options: { seconds?: boolean } = {}) {
  const fields = options.seconds ? /^(\S+\s+){4,5}\S+$/ : /^(\S+\s+){4}\S+$/;
  return z.string().refine(
    (expr) => {
      if (!fields.test(expr.trim())) return false;
      try {
        new Cron(expr, { paused: true }).stop();
        return true;
      } catch {
        return false;
      }
    },
    options.seconds
      ? 'must be a valid cron expression (5 fields, or 6 with seconds)'
      : 'must be a valid 5-field cron expression',
  );
}

/** An IANA time zone name (America/New_York). */
export const TimeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone');

const cron = cronExpression();
const timeZone = TimeZone;

export const ScheduleJobSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes'),
    description: z.string().default(''),
    cron,
    timeZone,
    topic: z.string().min(1),
    payload: z.record(z.string(), z.unknown()).default({}),
    /** Cloud Scheduler's retry of a failed publish (exponential backoff between min and max). */
    retry: z
      .object({
        retryCount: z.number().int().min(0).max(5).default(3),
        minBackoffSeconds: z.number().int().min(1).max(3600).default(10),
        maxBackoffSeconds: z.number().int().min(1).max(3600).default(300),
        maxDoublings: z.number().int().min(0).max(16).default(5),
      })
      .strict()
      .refine((r) => r.minBackoffSeconds <= r.maxBackoffSeconds, {
        message: 'minBackoffSeconds must not exceed maxBackoffSeconds',
        path: ['minBackoffSeconds'],
      })
      .default({ retryCount: 3, minBackoffSeconds: 10, maxBackoffSeconds: 300, maxDoublings: 5 }),
  })
  .strict();
export type ScheduleJob = z.infer<typeof ScheduleJobSchema>;

export const SchedulesFileSchema = z.object({ jobs: z.array(ScheduleJobSchema).min(1) }).strict();

/** A Pub/Sub topic or subscription id (the cloud's rule; checked by the full topology, see topology.ts). */
export const PUBSUB_NAME = /^(?!goog)[A-Za-z][A-Za-z0-9._~%+-]{2,254}$/;
const pubsubName = z.string().min(1);

export const SubscriptionSchema = z
  .object({
    name: pubsubName,
    description: z.string().optional(),
    pushTo: z.string().optional(),
    ackDeadlineSeconds: z.number().int().min(10).max(600).default(60),
    /** Redelivery backoff after a nack or a missed deadline (exponential between min and max). */
    retryPolicy: z
      .object({
        minimumBackoffSeconds: z.number().int().min(0).max(600).default(10),
        maximumBackoffSeconds: z.number().int().min(0).max(600).default(600),
      })
      .strict()
      .refine((r) => r.minimumBackoffSeconds <= r.maximumBackoffSeconds, {
        message: 'minimumBackoffSeconds must not exceed maximumBackoffSeconds',
        path: ['minimumBackoffSeconds'],
      })
      .default({ minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 }),
    deadLetterTopic: z.string().optional(),
    /** With deadLetterTopic: deliveries before a message goes there (Pub/Sub's default, 5, when unset). */
    maxDeliveryAttempts: z.number().int().min(5).max(100).optional(),
    /** How long an unacknowledged message is kept (10 minutes to 7 days). */
    messageRetentionSeconds: z.number().int().min(600).max(604_800).default(604_800),
    /** A Pub/Sub filter on attributes (`attributes.severity = "critical"`); fixed once the subscription exists. */
    filter: z.string().max(256).optional(),
  })
  .strict();
export type Subscription = z.infer<typeof SubscriptionSchema>;

export const TopicsFileSchema = z
  .object({
    topics: z.array(
      z
        .object({
          name: pubsubName,
          description: z.string().default(''),
          /** The topic the suite's events are published to (exactly one). */
          events: z.boolean().default(false),
          /** How long the topic keeps published messages (unset: as long as a subscription needs them). */
          messageRetentionSeconds: z.number().int().min(600).max(2_678_400).optional(),
          subscriptions: z.array(SubscriptionSchema).default([]),
        })
        .strict(),
    ),
  })
  .strict();
export type TopicsFile = z.infer<typeof TopicsFileSchema>;

/**
 * The infra/ folder: beside the module when there is one (a function's bundle, `dist/<function>/infra/`, copied there
 * by build.mjs: a deployed function has its own folder and nothing above it), else the repository's (the sources,
 * `shared/infra/../../infra/`, and a bundle run inside the repository, `dist/<name>/../../infra/`).
 */
export function infraDir(moduleUrl: string | URL): URL {
  const beside = new URL('./infra/', moduleUrl);
  return existsSync(beside) ? beside : new URL('../../infra/', moduleUrl);
}

let infraFolder: URL | undefined;
export const INFRA = (name: string) => fileURLToPath(new URL(name, (infraFolder ??= infraDir(import.meta.url))));

export function loadYaml<S extends z.ZodType>(path: string, schema: S): z.output<S> {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`invalid ${path}: ${errorMessage(err)}`);
  }
  return parseOrThrow(schema, raw, path);
}

export function fail(path: string, issues: string[]): never {
  throw new UsageError(`invalid ${path}: ${issues.join('; ')}`, issues);
}

/** The Scheduler jobs declared in infra/schedules.yaml (or another file); each must target a declared topic. */
export function loadSchedules(path = INFRA('schedules.yaml'), topicsPath = INFRA('topics.yaml')): ScheduleJob[] {
  const file = loadYaml(path, SchedulesFileSchema);
  const topics = new Set(loadTopics(topicsPath).topics.map((t) => t.name));
  const issues: string[] = [];
  const seen = new Set<string>();
  file.jobs.forEach((job, i) => {
    if (seen.has(job.name)) issues.push(`jobs[${i}].name: duplicate job ${job.name}`);
    seen.add(job.name);
    if (!topics.has(job.topic)) issues.push(`jobs[${i}].topic: unknown topic ${job.topic} (not in ${topicsPath})`);
  });
  if (issues.length > 0) fail(path, issues);
  return file.jobs;
}

/** The topics and subscriptions declared in infra/topics.yaml; names unique, dead-letter topics declared. */
export function loadTopics(path = INFRA('topics.yaml')): TopicsFile {
  const file = loadYaml(path, TopicsFileSchema);
  const names = new Set<string>();
  const subscriptions = new Set<string>();
  const issues: string[] = [];
  file.topics.forEach((topic, i) => {
    if (names.has(topic.name)) issues.push(`topics[${i}].name: duplicate topic ${topic.name}`);
    names.add(topic.name);
    topic.subscriptions.forEach((sub, j) => {
      if (subscriptions.has(sub.name))
        issues.push(`topics[${i}].subscriptions[${j}].name: duplicate subscription ${sub.name}`);
      subscriptions.add(sub.name);
    });
  });
  file.topics.forEach((topic, i) =>
    topic.subscriptions.forEach((sub, j) => {
      if (sub.deadLetterTopic && !names.has(sub.deadLetterTopic)) {
        issues.push(`topics[${i}].subscriptions[${j}].deadLetterTopic: unknown topic ${sub.deadLetterTopic}`);
      }
      if (sub.deadLetterTopic === topic.name)
        issues.push(`topics[${i}].subscriptions[${j}].deadLetterTopic: must differ from the topic`);
      const target = file.topics.find((t) => t.name === sub.deadLetterTopic);
      if (target && target.subscriptions.length === 0) {
        issues.push(
          `topics[${i}].subscriptions[${j}].deadLetterTopic: ${target.name} has no subscription (its messages would be dropped)`,
        );
      }
    }),
  );
  const events = file.topics.filter((t) => t.events);
  if (events.length > 1) issues.push(`topics: at most one topic may have events: true (found ${events.length})`);
  if (issues.length > 0) fail(path, issues);
  return file;
}

/** The topic the suite's events go to: EVENTS_TOPIC when set (the cloud deployment sets it), else the one infra/topics.yaml marks. */
export function eventsTopic(override?: string, path?: string): string {
  if (override) return override;
  const topic = loadTopics(path).topics.find((t) => t.events);
  if (!topic)
    throw new UsageError(
      `no events topic: set EVENTS_TOPIC, or mark one topic with events: true in ${path ?? INFRA('topics.yaml')}`,
    );
  return topic.name;
}

/** An operator's override of a job's schedule for `npm start` (keyed by the function the job triggers). */
export const ScheduleOverrideSchema = z
  .object({
    cron: cronExpression({ seconds: true }),
    timeZone: TimeZone.optional(),
  })
  .strict();

/** The next `count` run times of a job after `from`, in its time zone (DST-aware). */
export function nextRuns(job: Pick<ScheduleJob, 'cron' | 'timeZone'>, from: Date, count: number): Date[] {
  const c = new Cron(job.cron, { timezone: job.timeZone, paused: true });
  const runs = c.nextRuns(count, from);
  c.stop();
  return runs;
}
