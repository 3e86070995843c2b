/**
 * The wiring declared in infra/: which functions exist and their entry points (functions.yaml), which subscription
 * pushes which topic to which entry point (topics.yaml), and which Scheduler job triggers which function
 * (schedules.yaml, through its topic). The local runtime and the tests read it from here; no topic or entry-point
 * name is written in code.
 */
import { z } from 'zod';
import { INFRA, fail, loadSchedules, loadTopics, loadYaml, type ScheduleJob } from './schedules';
import { UsageError } from '../errors';

export const EntryPointKind = z.enum(['http', 'event']);
export type EntryPointKind = z.infer<typeof EntryPointKind>;

/** Object access on the bucket: read (list, get), create (new objects only), delete. */
export const ObjectAccess = z.enum(['read', 'create', 'delete']);
export type ObjectAccess = z.infer<typeof ObjectAccess>;

const memory = z.string().regex(/^\d+(Mi|Gi)$/, 'a size such as 512Mi or 1Gi');

/**
 * How a function is deployed (Cloud Functions 2nd gen), all optional so that a bare declaration still loads. Time
 * limits: an event-driven function is stopped after at most 540 s, an HTTP one after 3,600 s; unset means the most
 * its trigger allows. Each function runs as its own service account and gets only the access declared here.
 */
export const FunctionDeploymentFields = {
  description: z.string().default(''),
  runtime: z.literal('nodejs20').default('nodejs20'),
  memory: memory.default('512Mi'),
  cpu: z.number().min(0.083).max(8).default(1),
  timeoutSeconds: z.number().int().min(1).max(3600).optional(),
  minInstances: z.number().int().min(0).max(100).default(0),
  maxInstances: z.number().int().min(1).max(1000).default(10),
  /** Requests one instance serves at once (more than 1 needs at least 1 CPU). */
  concurrency: z.number().int().min(1).max(1000).default(1),
  /** Plain environment variables (never secrets). */
  env: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name'), z.string()).default({}),
  /** Environment variable -> Secret Manager secret (`name` or `name:version`, default latest). */
  secrets: z
    .record(
      z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'an environment variable name'),
      z.string().regex(/^[A-Za-z0-9_-]{1,255}(:(latest|\d+))?$/, 'a secret name, optionally :version'),
    )
    .default({}),
  /** The function's own service account (account id; default mt-ops-<name>). */
  serviceAccount: z
    .string()
    .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'a service account id: 6-30 lowercase letters, digits and dashes')
    .optional(),
  /** Object access on the whole bucket. */
  bucket: z.array(ObjectAccess).default([]),
  /**
   * Read, create and delete only these objects of the environment's folder, through an IAM condition on the object
   * name: a folder (`.state/probes/`: everything under it) or `*\/name` (an object of that name in any backup).
   */
  bucketPaths: z
    .array(
      z
        .string()
        .regex(
          /^([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/|\*\/[A-Za-z0-9._-]+)$/,
          'a folder ending in / (.state/probes/) or */name (*\/verify.json)',
        ),
    )
    .default([]),
  /** The topics this function publishes to (nothing else). */
  publishes: z.array(z.string().min(1)).default([]),
  /**
   * Run the same bundled CLI as a Cloud Run job (up to 24 h) instead of inside the function, for databases that
   * outgrow the function's time limit; the Scheduler job's topic then starts the job.
   */
  cloudRunJob: z
    .object({
      enabled: z.boolean().default(false),
      /** The CLI command the job runs (`backup`, `verify latest`, `cleanup --yes`). */
      command: z.array(z.string().min(1)).min(1),
      memory: memory.default('2Gi'),
      cpu: z.number().min(1).max(8).default(2),
      taskTimeoutSeconds: z.number().int().min(60).max(86_400).default(86_400),
    })
    .strict()
    .optional(),
};

export const FunctionsFileSchema = z
  .object({
    functions: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes'),
            entryPoints: z.record(
              z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a JavaScript identifier'),
              EntryPointKind,
            ),
            ...FunctionDeploymentFields,
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

export interface DeclaredEntryPoint {
  name: string;
  kind: EntryPointKind;
  /** The function it belongs to (functions/<function>/). */
  function: string;
  /** For an event entry point: the topics pushed to it. */
  topics: string[];
  /** For an event entry point: the subscriptions that push to it (the local runtime pulls them on the Pub/Sub emulator). */
  subscriptions: Array<{
    name: string;
    topic: string;
    ackDeadlineSeconds: number;
    /** Deliveries before Pub/Sub dead-letters the message (absent: no dead-letter topic, redelivered until it expires). */
    maxDeliveryAttempts?: number;
  }>;
}

export interface Wiring {
  entryPoints: DeclaredEntryPoint[];
  /** Each job with the function its topic is pushed to (a job on a topic no function receives has none). */
  jobs: Array<ScheduleJob & { function?: string; entryPoint?: string }>;
}

export interface WiringPaths {
  functions?: string;
  topics?: string;
  schedules?: string;
}

export function loadWiring(paths: WiringPaths = {}): Wiring {
  const functionsPath = paths.functions ?? INFRA('functions.yaml');
  const topicsPath = paths.topics ?? INFRA('topics.yaml');
  const file = loadYaml(functionsPath, FunctionsFileSchema);
  const topics = loadTopics(topicsPath);
  const issues: string[] = [];
  const entryPoints = new Map<string, DeclaredEntryPoint>();
  file.functions.forEach((fn, i) => {
    if (file.functions.findIndex((f) => f.name === fn.name) !== i)
      issues.push(`functions[${i}].name: duplicate function ${fn.name}`);
    for (const [name, kind] of Object.entries(fn.entryPoints)) {
      if (entryPoints.has(name))
        issues.push(`functions[${i}].entryPoints.${name}: already declared by ${entryPoints.get(name)!.function}`);
      else entryPoints.set(name, { name, kind, function: fn.name, topics: [], subscriptions: [] });
    }
  });
  topics.topics.forEach((topic, i) =>
    topic.subscriptions.forEach((sub, j) => {
      if (!sub.pushTo) return;
      const target = entryPoints.get(sub.pushTo);
      if (!target)
        issues.push(
          `${topicsPath}: topics[${i}].subscriptions[${j}].pushTo: ${sub.pushTo} is not an entry point in ${functionsPath}`,
        );
      else if (target.kind !== 'event')
        issues.push(
          `${topicsPath}: topics[${i}].subscriptions[${j}].pushTo: ${sub.pushTo} is an ${target.kind} entry point`,
        );
      else {
        target.topics.push(topic.name);
        target.subscriptions.push({
          name: sub.name,
          topic: topic.name,
          ackDeadlineSeconds: sub.ackDeadlineSeconds,
          ...(sub.deadLetterTopic ? { maxDeliveryAttempts: sub.maxDeliveryAttempts ?? 5 } : {}),
        });
      }
    }),
  );
  for (const ep of entryPoints.values()) {
    if (ep.kind === 'event' && ep.topics.length === 0)
      issues.push(`entryPoints.${ep.name}: no subscription in ${topicsPath} pushes to it`);
  }
  if (issues.length > 0) fail(functionsPath, issues);
  const jobs = loadSchedules(paths.schedules ?? INFRA('schedules.yaml'), topicsPath).map((job) => {
    const target = [...entryPoints.values()].find((ep) => ep.topics.includes(job.topic));
    return target ? { ...job, function: target.function, entryPoint: target.name } : { ...job };
  });
  return { entryPoints: [...entryPoints.values()], jobs };
}

/**
 * Compares the declared entry points with the registered ones (name -> kind): every problem, one line each.
 * Empty when they agree.
 */
export function entryPointMismatches(
  declared: ReadonlyArray<Pick<DeclaredEntryPoint, 'name' | 'kind'>>,
  registered: Record<string, EntryPointKind>,
): string[] {
  const problems: string[] = [];
  for (const ep of declared) {
    const kind = registered[ep.name];
    if (!kind) problems.push(`entry point ${ep.name} is declared in infra/ but not registered by any function`);
    else if (kind !== ep.kind)
      problems.push(`entry point ${ep.name} is declared as ${ep.kind} but registered as ${kind}`);
  }
  for (const name of Object.keys(registered)) {
    if (!declared.some((ep) => ep.name === name))
      problems.push(`entry point ${name} is registered but not declared in infra/functions.yaml`);
  }
  return problems;
}

/**
 * The operator's schedule overrides (`schedules` in the operator file) per job: keyed by the job's name, or by the
 * function it triggers when that function has only one job (fanout has two: the digest and the sweep, so they are
 * keyed by job name). A key that matches nothing, or names a function with several jobs, is refused (UsageError).
 */
export function scheduleOverrides<O>(jobs: Wiring['jobs'], schedules: Record<string, O>): Map<string, O> {
  const byFunction = new Map<string, string[]>();
  for (const job of jobs)
    if (job.function) byFunction.set(job.function, [...(byFunction.get(job.function) ?? []), job.name]);
  const problems: string[] = [];
  for (const key of Object.keys(schedules)) {
    const names = byFunction.get(key);
    if (jobs.some((j) => j.name === key && j.function)) continue;
    if (!names) problems.push(`${key}: no scheduled job triggers this function, and no job has this name`);
    else if (names.length > 1)
      problems.push(`${key}: triggers several jobs (${names.join(', ')}); key the override by job name`);
  }
  if (problems.length > 0) {
    throw new UsageError(
      `schedules: ${problems.join('; ')} (functions: ${[...byFunction.keys()].join(', ')}; jobs: ${jobs
        .filter((j) => j.function)
        .map((j) => j.name)
        .join(', ')})`,
      problems,
    );
  }
  const out = new Map<string, O>();
  for (const job of jobs) {
    const override =
      schedules[job.name] ??
      (job.function && byFunction.get(job.function)?.length === 1 ? schedules[job.function] : undefined);
    if (override) out.set(job.name, override);
  }
  return out;
}
