/**
 * The whole topology of infra/ as one validated value: functions.yaml (functions, entry points, deployment, access),
 * topics.yaml (topics and subscriptions), schedules.yaml (Scheduler jobs) and project.yaml (environment, bucket,
 * push delivery). Everything the cloud needs (`mt-ops infra plan/apply/deploy-commands`) and the time limits the
 * long jobs obey come from here; every problem is reported at once with its file and path.
 */
import { z } from 'zod';
import { INFRA, PUBSUB_NAME, fail, loadTopics, loadYaml, type ScheduleJob, type Subscription } from './schedules';
import { FunctionsFileSchema, loadWiring, type EntryPointKind, type ObjectAccess } from './wiring';
import { RetentionSectionSchema, type RetentionSection } from '../retention/config';
import type { RetentionPolicy } from '../retention/policy';

/** The most each trigger lets a function run (Cloud Functions 2nd gen). */
export const TIME_LIMIT_SECONDS: Record<EntryPointKind, number> = { event: 540, http: 3600 };

/** The timeout a deployed entry point gets: its function's timeoutSeconds (default: the trigger's limit), capped there. */
export const deployedTimeout = (timeoutSeconds: number | undefined, kind: EntryPointKind) =>
  Math.min(timeoutSeconds ?? TIME_LIMIT_SECONDS[kind], TIME_LIMIT_SECONDS[kind]);

export const ProjectFileSchema = z
  .object({
    env: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lowercase letters, digits and dashes, at most 40'),
    bucket: z
      .object({
        /** `{project}` is replaced by the project id. */
        name: z
          .string()
          .regex(
            /^[a-z0-9{][a-z0-9._{}-]{1,220}[a-z0-9}]$/,
            'a bucket name (lowercase letters, digits, - _ .), {project} allowed',
          ),
        location: z.string().regex(/^[A-Z0-9-]+$/, 'a location in capitals, such as US-EAST1'),
        storageClass: z.enum(['STANDARD', 'NEARLINE', 'COLDLINE', 'ARCHIVE']).default('STANDARD'),
        uniformAccess: z.literal(true, 'must be true: access is granted by IAM only, never by object ACLs'),
        publicAccessPrevention: z.literal('enforced', 'must be enforced: backups are never public'),
        /** Days a deleted object can still be restored (0 turns soft delete off; at most 90). */
        softDeleteDays: z.number().int().min(0).max(90).default(7),
        lifecycle: z
          .object({ deleteAfterDays: z.number().int().min(1) })
          .strict()
          .optional(),
        retentionLock: z
          .object({ days: z.number().int().min(1), locked: z.boolean().default(false) })
          .strict()
          .optional(),
      })
      .strict(),
    pushServiceAccount: z
      .string()
      .regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'a service account id')
      .default('mt-ops-pusher'),
  })
  .strict();
export type ProjectFile = z.infer<typeof ProjectFileSchema>;
type FunctionDecl = z.infer<typeof FunctionsFileSchema>['functions'][number];

/** One deployed Cloud Function: one entry point of a function. */
export interface DeployedFunction {
  /** mt-ops-<entry point in kebab case>. */
  name: string;
  entryPoint: string;
  kind: EntryPointKind;
  /** The function it belongs to (functions/<function>/, dist/<function>/). */
  function: string;
  timeoutSeconds: number;
  serviceAccount: string;
  /** For an event entry point: the subscriptions that push to it, with their topic. */
  subscriptions: Array<{ topic: string; subscription: string }>;
}

export interface Topology {
  project: ProjectFile;
  functions: Array<FunctionDecl & { serviceAccount: string }>;
  deployed: DeployedFunction[];
  topics: Array<{
    name: string;
    description: string;
    events: boolean;
    messageRetentionSeconds?: number;
    subscriptions: Subscription[];
  }>;
  jobs: Array<ScheduleJob & { function?: string; entryPoint?: string }>;
  eventsTopic: string;
}

export interface TopologyPaths {
  functions?: string;
  topics?: string;
  schedules?: string;
  project?: string;
}

/**
 * What each known function may be granted on the bucket as a whole (least privilege): backup creates and reads but
 * never deletes, retention deletes, verify only reads, probe reads (backup freshness), fanout touches only its own
 * folders. A function not listed here may read and create, never delete.
 */
export const BUCKET_CEILING: Record<string, ObjectAccess[]> = {
  backup: ['read', 'create'],
  retention: ['read', 'delete'],
  verify: ['read'],
  probe: ['read'],
  fanout: [],
};
const DEFAULT_CEILING: ObjectAccess[] = ['read', 'create'];
/**
 * Functions whose folders (bucketPaths) are limited to their state: fanout and probe (the probe's hot documents and
 * its hourly history; each function's outbox, and the poison folder its drain moves a bad entry to).
 */
const STATE_ONLY: Record<string, RegExp> = {
  probe: /^(\.state\/probes\/|\.state\/probe-history\/|\.outbox\/|\.outbox-poison\/)$/,
  fanout: /^(\.alerts\/|\.outbox\/|\.outbox-poison\/)$/,
};

export const kebab = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
export const deployedName = (entryPoint: string) => `mt-ops-${kebab(entryPoint)}`;

/**
 * The longest a backup can be kept by the retention policy, in days, assuming the daily backup schedule (counts such
 * as keepLast are read as days). A bucket lifecycle rule shorter than this would delete what retention keeps.
 */
export function retentionHorizonDays(section: Pick<RetentionSection, 'policy' | 'minKeep' | 'safety'>): number {
  const p: RetentionPolicy = section.policy;
  return Math.ceil(
    Math.max(
      p.keepLast ?? 0,
      p.keepWithinDays ?? 0,
      (p.keepHourly ?? 0) / 24,
      p.keepDaily ?? 0,
      (p.keepWeekly ?? 0) * 7 + 6,
      (p.keepMonthly ?? 0) * 31 + 30,
      (p.keepYearly ?? 0) * 366 + 365,
      section.minKeep,
      section.safety.keepWithinDays,
    ),
  );
}

/**
 * Loads and checks every file of infra/. `retention` is the operator's retention section (default: the built-in
 * policy) that the bucket's lifecycle rule must never be stricter than.
 */
export function loadTopology(
  paths: TopologyPaths = {},
  retention: RetentionSection = RetentionSectionSchema.parse({}),
): Topology {
  const functionsPath = paths.functions ?? INFRA('functions.yaml');
  const topicsPath = paths.topics ?? INFRA('topics.yaml');
  const schedulesPath = paths.schedules ?? INFRA('schedules.yaml');
  const projectPath = paths.project ?? INFRA('project.yaml');
  const wiring = loadWiring({ functions: functionsPath, topics: topicsPath, schedules: schedulesPath });
  const functionsFile = loadYaml(functionsPath, FunctionsFileSchema);
  const topicsFile = loadTopics(topicsPath);
  const project = loadYaml(projectPath, ProjectFileSchema);
  const topicNames = new Set(topicsFile.topics.map((t) => t.name));

  const problems = new Map<string, string[]>();
  const problem = (path: string, text: string) => problems.set(path, [...(problems.get(path) ?? []), text]);

  // The timeout of each entry point's deployed function: what a push subscription to it must wait for.
  const timeouts = new Map<string, { fn: string; seconds: number }>();
  for (const fn of functionsFile.functions)
    for (const [entryPoint, kind] of Object.entries(fn.entryPoints))
      timeouts.set(entryPoint, { fn: fn.name, seconds: deployedTimeout(fn.timeoutSeconds, kind) });

  // topics.yaml: the cloud's naming rules, and what the cloud needs that the local runtime does not
  topicsFile.topics.forEach((topic, i) => {
    if (!PUBSUB_NAME.test(topic.name))
      problem(
        topicsPath,
        `topics[${i}].name: ${topic.name} is not a Pub/Sub name (a letter, then 2-254 letters, digits or - . _ ~ % +; not goog...)`,
      );
    topic.subscriptions.forEach((sub, j) => {
      const at = `topics[${i}].subscriptions[${j}]`;
      if (!PUBSUB_NAME.test(sub.name)) problem(topicsPath, `${at}.name: ${sub.name} is not a Pub/Sub name`);
      if (sub.maxDeliveryAttempts !== undefined && !sub.deadLetterTopic)
        problem(topicsPath, `${at}.maxDeliveryAttempts: needs deadLetterTopic`);
      if (sub.pushTo && sub.ackDeadlineSeconds < 10) problem(topicsPath, `${at}.ackDeadlineSeconds: too short`);
      // A push subscription's ack deadline is its push request's timeout: a function still running past it has its
      // message redelivered (to another instance) while the first delivery goes on.
      const target = sub.pushTo ? timeouts.get(sub.pushTo) : undefined;
      if (target && sub.ackDeadlineSeconds < target.seconds) {
        problem(
          topicsPath,
          `${at}.ackDeadlineSeconds: ${sub.ackDeadlineSeconds} is below the ${target.seconds} s timeout of ${deployedName(sub.pushTo!)} (${target.fn}), which it pushes to: Pub/Sub would redeliver a message while its first delivery still runs (set at least ${target.seconds}, at most 600)`,
        );
      }
    });
  });
  const eventsTopic = topicsFile.topics.find((t) => t.events)?.name;
  if (!eventsTopic) problem(topicsPath, 'topics: no topic has events: true');

  // schedules.yaml: every job must reach a function
  wiring.jobs.forEach((job, i) => {
    if (!job.function) problem(schedulesPath, `jobs[${i}].topic: no subscription pushes ${job.topic} to a function`);
  });

  // functions.yaml: limits, access, references
  const functions = functionsFile.functions.map((fn, i) => {
    const at = `functions[${i}]`;
    const kinds = new Set(Object.values(fn.entryPoints));
    const limit = Math.min(...[...kinds].map((k) => TIME_LIMIT_SECONDS[k]));
    if (fn.timeoutSeconds !== undefined && fn.timeoutSeconds > limit) {
      problem(
        functionsPath,
        `${at}.timeoutSeconds: ${fn.timeoutSeconds} is above ${limit} s, the most a${kinds.has('event') ? 'n event-driven' : 'n HTTP'} function may run`,
      );
    }
    if (fn.name === 'backup' && fn.maxInstances !== 1)
      problem(functionsPath, `${at}.maxInstances: must be 1 for backup (one backup at a time)`);
    if (fn.concurrency > 1 && fn.cpu < 1)
      problem(functionsPath, `${at}.concurrency: more than 1 needs cpu of at least 1`);
    if (fn.minInstances > fn.maxInstances) problem(functionsPath, `${at}.minInstances: above maxInstances`);
    const ceiling = BUCKET_CEILING[fn.name] ?? DEFAULT_CEILING;
    fn.bucket.forEach((access, j) => {
      if (!ceiling.includes(access)) {
        problem(
          functionsPath,
          `${at}.bucket[${j}]: ${fn.name} may not be granted ${access} on the bucket (least privilege: ${ceiling.length > 0 ? ceiling.join(', ') : 'only its own folders'})`,
        );
      }
    });
    const stateOnly = STATE_ONLY[fn.name];
    fn.bucketPaths.forEach((path, j) => {
      if (stateOnly && !stateOnly.test(path))
        problem(functionsPath, `${at}.bucketPaths[${j}]: ${fn.name} may touch only its state folder, not ${path}`);
    });
    fn.publishes.forEach((topic, j) => {
      if (!topicNames.has(topic))
        problem(functionsPath, `${at}.publishes[${j}]: unknown topic ${topic} (not in ${topicsPath})`);
    });
    for (const name of Object.keys(fn.secrets)) {
      if (name in fn.env)
        problem(functionsPath, `${at}.secrets.${name}: also set in env (a secret is never a plain variable)`);
    }
    if (fn.cloudRunJob && !Object.values(fn.entryPoints).includes('event')) {
      problem(functionsPath, `${at}.cloudRunJob: only a scheduled (event) function can run as a Cloud Run job`);
    }
    return { ...fn, serviceAccount: fn.serviceAccount ?? `mt-ops-${fn.name}` };
  });
  const accounts = new Map<string, string>();
  functions.forEach((fn, i) => {
    const other = accounts.get(fn.serviceAccount);
    if (other)
      problem(
        functionsPath,
        `functions[${i}].serviceAccount: ${fn.serviceAccount} is already ${other}'s (one service account per function)`,
      );
    accounts.set(fn.serviceAccount, fn.name);
    if (fn.serviceAccount === project.pushServiceAccount)
      problem(functionsPath, `functions[${i}].serviceAccount: ${fn.serviceAccount} is the push service account`);
  });

  // project.yaml: the lifecycle rule is a safety net, never stricter than retention
  const { lifecycle, retentionLock } = project.bucket;
  const horizon = retentionHorizonDays(retention);
  if (lifecycle && lifecycle.deleteAfterDays < horizon) {
    problem(
      projectPath,
      `bucket.lifecycle.deleteAfterDays: ${lifecycle.deleteAfterDays} is stricter than the retention policy, which may keep a backup ${horizon} days (set at least ${horizon})`,
    );
  }
  if (retentionLock && lifecycle && retentionLock.days > lifecycle.deleteAfterDays) {
    problem(
      projectPath,
      `bucket.retentionLock.days: ${retentionLock.days} is longer than the lifecycle rule's ${lifecycle.deleteAfterDays} days`,
    );
  }
  if (retentionLock && retentionLock.days > retention.orphanGraceHours / 24 + 1) {
    problem(
      projectPath,
      `bucket.retentionLock.days: ${retentionLock.days} days would stop retention removing what a failed backup left (after ${retention.orphanGraceHours} h)`,
    );
  }

  if (problems.size > 0) {
    const all = [...problems].flatMap(([path, list]) => list.map((p) => `${path}: ${p}`));
    fail([...problems.keys()].join(', '), all);
  }

  const deployed: DeployedFunction[] = [];
  for (const fn of functions) {
    for (const [entryPoint, kind] of Object.entries(fn.entryPoints)) {
      deployed.push({
        name: deployedName(entryPoint),
        entryPoint,
        kind,
        function: fn.name,
        timeoutSeconds: deployedTimeout(fn.timeoutSeconds, kind),
        serviceAccount: fn.serviceAccount,
        subscriptions: topicsFile.topics.flatMap((t) =>
          t.subscriptions.filter((s) => s.pushTo === entryPoint).map((s) => ({ topic: t.name, subscription: s.name })),
        ),
      });
    }
  }
  return { project, functions, deployed, topics: topicsFile.topics, jobs: wiring.jobs, eventsTopic: eventsTopic! };
}

/** The time limit of a function's entry point (seconds), from the topology: what the deployed function is given. */
export function timeLimitOf(topology: Topology, entryPoint: string): number | undefined {
  return topology.deployed.find((d) => d.entryPoint === entryPoint)?.timeoutSeconds;
}
