import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { Cron } from 'croner';
import { parseOrThrow } from '../errors';

const cron = z
  .string()
  .refine((expr) => {
    try {
      new Cron(expr, { paused: true }).stop();
      return /^(\S+\s+){4}\S+$/.test(expr);
    } catch {
      return false;
    }
  }, 'must be a valid 5-field cron expression');

const timeZone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone');

export const ScheduleJobSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes'),
    description: z.string().default(''),
    cron,
    timeZone,
    topic: z.string().min(1),
    payload: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type ScheduleJob = z.infer<typeof ScheduleJobSchema>;

export const SchedulesFileSchema = z.object({ jobs: z.array(ScheduleJobSchema).min(1) }).strict();

export const TopicsFileSchema = z
  .object({
    topics: z.array(
      z
        .object({
          name: z.string().min(1),
          description: z.string().default(''),
          subscriptions: z
            .array(
              z
                .object({
                  name: z.string().min(1),
                  description: z.string().optional(),
                  pushTo: z.string().optional(),
                  ackDeadlineSeconds: z.number().int().min(10).max(600).default(60),
                  deadLetterTopic: z.string().optional(),
                  maxDeliveryAttempts: z.number().int().min(5).max(100).optional(),
                })
                .strict(),
            )
            .default([]),
        })
        .strict(),
    ),
  })
  .strict();
export type TopicsFile = z.infer<typeof TopicsFileSchema>;

const INFRA = (name: string) => fileURLToPath(new URL(`../../infra/${name}`, import.meta.url));

function loadYaml<S extends z.ZodType>(path: string, schema: S): z.output<S> {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  return parseOrThrow(schema, raw, path);
}

/** The Scheduler jobs declared in infra/schedules.yaml (or another file). */
export function loadSchedules(path = INFRA('schedules.yaml')): ScheduleJob[] {
  const file = loadYaml(path, SchedulesFileSchema);
  const topics = new Set(loadTopics().topics.map((t) => t.name));
  for (const job of file.jobs) {
    if (!topics.has(job.topic)) throw new Error(`${path}: jobs.${job.name}.topic: unknown topic ${job.topic} (see infra/topics.yaml)`);
  }
  return file.jobs;
}

export function loadTopics(path = INFRA('topics.yaml')): TopicsFile {
  return loadYaml(path, TopicsFileSchema);
}

/** The next `count` run times of a job after `from`, in its time zone (DST-aware). */
export function nextRuns(job: Pick<ScheduleJob, 'cron' | 'timeZone'>, from: Date, count: number): Date[] {
  const c = new Cron(job.cron, { timezone: job.timeZone, paused: true });
  const runs = c.nextRuns(count, from);
  c.stop();
  return runs;
}
