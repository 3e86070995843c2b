/**
 * `mt-ops infra plan | apply`: the topics, subscriptions and Scheduler jobs of the topology against a project.
 * rules (desired state, field-level diff: pure) -> plan (reads the project) -> run (creates, updates, replaces what
 * cannot be updated, deletes undeclared only with prune). Every step is idempotent, so an interrupted apply is
 * finished by running it again; a second apply finds nothing to do. Only names starting with `mt-ops-` are ever
 * reported as undeclared or pruned: the rest of the project is not ours.
 */
import type { PubSub } from '@google-cloud/pubsub';
import type { CloudSchedulerClient } from '@google-cloud/scheduler';
import type { Topology } from './topology';
import { functionUrl, runJobName, serviceAccountEmail } from './deploy';

export const OWNED_PREFIX = 'mt-ops-';

export type Kind = 'topic' | 'subscription' | 'job';
export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}
export interface Change {
  kind: Kind;
  name: string;
  /** create; update (fields); replace (a field that cannot be updated: delete then create); undeclared (kept unless pruned); delete (pruned). */
  action: 'create' | 'update' | 'replace' | 'undeclared' | 'delete';
  fields: FieldChange[];
}
export interface Plan {
  changes: Change[];
  unchanged: number;
}

export interface CloudTarget {
  project: string;
  region: string;
}

/** The comparable shape of each resource (what the diff looks at). */
type Flat = Record<string, string | number | boolean | undefined>;
interface Desired {
  topics: Map<string, Flat>;
  subscriptions: Map<string, Flat>;
  jobs: Map<string, Flat>;
}

const seconds = (d: unknown): number | undefined => {
  if (d === null || d === undefined) return undefined;
  const s = (d as { seconds?: unknown }).seconds;
  return s === undefined || s === null ? 0 : Number(String(s));
};

/** What the topology asks for, flattened to the fields the diff compares (and apply writes). */
export function desiredState(topology: Topology, target: CloudTarget): Desired {
  const { project } = target;
  const topics = new Map<string, Flat>();
  const subscriptions = new Map<string, Flat>();
  const jobs = new Map<string, Flat>();
  const pusher = serviceAccountEmail(topology.project.pushServiceAccount, project);
  for (const t of topology.topics) {
    topics.set(t.name, { messageRetentionSeconds: t.messageRetentionSeconds });
    for (const s of t.subscriptions) {
      const fn = s.pushTo ? topology.deployed.find((d) => d.entryPoint === s.pushTo) : undefined;
      // the path names the topic: the Functions Framework reads it from there for the CloudEvent's source
      const url = fn ? functionUrl(fn.name, target) : undefined;
      subscriptions.set(s.name, {
        topic: t.name,
        ackDeadlineSeconds: s.ackDeadlineSeconds,
        'retryPolicy.minimumBackoffSeconds': s.retryPolicy.minimumBackoffSeconds,
        'retryPolicy.maximumBackoffSeconds': s.retryPolicy.maximumBackoffSeconds,
        'deadLetterPolicy.deadLetterTopic': s.deadLetterTopic,
        'deadLetterPolicy.maxDeliveryAttempts': s.deadLetterTopic ? (s.maxDeliveryAttempts ?? 5) : undefined,
        messageRetentionSeconds: s.messageRetentionSeconds,
        // never expires (Pub/Sub deletes a subscription idle for 31 days by default: the dead-letter hold would go)
        'expirationPolicy.ttlSeconds': undefined,
        filter: s.filter,
        'pushConfig.pushEndpoint': url ? `${url}/projects/${project}/topics/${t.name}` : undefined,
        'pushConfig.oidcToken.serviceAccountEmail': url ? pusher : undefined,
        'pushConfig.oidcToken.audience': url,
      });
    }
  }
  for (const job of topology.jobs) {
    const fn = topology.functions.find((f) => f.name === job.function);
    const runJob = fn?.cloudRunJob?.enabled ? runJobName(fn.name) : undefined;
    jobs.set(job.name, {
      description: job.description,
      schedule: job.cron,
      timeZone: job.timeZone,
      // a function that outgrew its time limit runs as a Cloud Run job, started by the same Scheduler job
      'pubsubTarget.topic': runJob ? undefined : job.topic,
      'pubsubTarget.data': runJob ? undefined : JSON.stringify(job.payload),
      'pubsubTarget.attributes.job': runJob ? undefined : job.name,
      'httpTarget.uri': runJob
        ? `https://run.googleapis.com/v2/projects/${project}/locations/${target.region}/jobs/${runJob}:run`
        : undefined,
      'httpTarget.oauthToken.serviceAccountEmail': runJob ? pusher : undefined,
      'retryConfig.retryCount': job.retry.retryCount,
      'retryConfig.minBackoffSeconds': job.retry.minBackoffSeconds,
      'retryConfig.maxBackoffSeconds': job.retry.maxBackoffSeconds,
      'retryConfig.maxDoublings': job.retry.maxDoublings,
    });
  }
  return { topics, subscriptions, jobs };
}

const short = (name: string | null | undefined) => (name ?? '').split('/').pop()!;
const orUndefined = <T>(v: T | null | undefined | '') => (v === null || v === '' ? undefined : v);

/* eslint-disable @typescript-eslint/no-explicit-any */
function flatSubscription(m: any): Flat {
  return {
    topic: short(m.topic),
    ackDeadlineSeconds: m.ackDeadlineSeconds ?? undefined,
    'retryPolicy.minimumBackoffSeconds': m.retryPolicy ? seconds(m.retryPolicy.minimumBackoff) : undefined,
    'retryPolicy.maximumBackoffSeconds': m.retryPolicy ? seconds(m.retryPolicy.maximumBackoff) : undefined,
    'deadLetterPolicy.deadLetterTopic': orUndefined(m.deadLetterPolicy?.deadLetterTopic)
      ? short(m.deadLetterPolicy.deadLetterTopic)
      : undefined,
    'deadLetterPolicy.maxDeliveryAttempts': orUndefined(m.deadLetterPolicy?.deadLetterTopic)
      ? m.deadLetterPolicy.maxDeliveryAttempts
      : undefined,
    messageRetentionSeconds: seconds(m.messageRetentionDuration),
    'expirationPolicy.ttlSeconds': m.expirationPolicy?.ttl ? seconds(m.expirationPolicy.ttl) : undefined,
    filter: orUndefined(m.filter),
    'pushConfig.pushEndpoint': orUndefined(m.pushConfig?.pushEndpoint),
    'pushConfig.oidcToken.serviceAccountEmail': orUndefined(m.pushConfig?.oidcToken?.serviceAccountEmail),
    'pushConfig.oidcToken.audience': orUndefined(m.pushConfig?.oidcToken?.audience),
  };
}

function flatJob(j: any): Flat {
  const data = j.pubsubTarget?.data;
  return {
    description: j.description ?? '',
    schedule: j.schedule ?? undefined,
    timeZone: j.timeZone ?? undefined,
    'pubsubTarget.topic': j.pubsubTarget ? short(j.pubsubTarget.topicName) : undefined,
    'pubsubTarget.data': j.pubsubTarget ? (data ? Buffer.from(data).toString('utf8') : '') : undefined,
    'pubsubTarget.attributes.job': orUndefined(j.pubsubTarget?.attributes?.job),
    'httpTarget.uri': orUndefined(j.httpTarget?.uri),
    'httpTarget.oauthToken.serviceAccountEmail': orUndefined(j.httpTarget?.oauthToken?.serviceAccountEmail),
    'retryConfig.retryCount': j.retryConfig?.retryCount ?? 0,
    'retryConfig.minBackoffSeconds': seconds(j.retryConfig?.minBackoffDuration),
    'retryConfig.maxBackoffSeconds': seconds(j.retryConfig?.maxBackoffDuration),
    'retryConfig.maxDoublings': j.retryConfig?.maxDoublings ?? 0,
  };
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Fields that differ; `undefined` desired values for optional fields count as "unset". */
export function diffFields(desired: Flat, actual: Flat): FieldChange[] {
  const out: FieldChange[] = [];
  for (const field of Object.keys(desired)) {
    const want = desired[field];
    const have = actual[field];
    if (want === have || (want === undefined && (have === undefined || have === ''))) continue;
    out.push({ field, from: have, to: want });
  }
  return out;
}

/** Fields the API cannot change in place: the resource is deleted and created again. */
const IMMUTABLE: Record<Kind, string[]> = { topic: [], subscription: ['topic', 'filter'], job: [] };

export function diff(
  kind: Kind,
  desired: Map<string, Flat>,
  actual: Map<string, Flat>,
): { changes: Change[]; unchanged: number } {
  const changes: Change[] = [];
  let unchanged = 0;
  for (const [name, want] of desired) {
    const have = actual.get(name);
    if (!have) {
      changes.push({ kind, name, action: 'create', fields: [] });
      continue;
    }
    const fields = diffFields(want, have);
    if (fields.length === 0) unchanged++;
    else
      changes.push({
        kind,
        name,
        action: fields.some((f) => IMMUTABLE[kind].includes(f.field)) ? 'replace' : 'update',
        fields,
      });
  }
  for (const name of actual.keys()) {
    if (!desired.has(name) && name.startsWith(OWNED_PREFIX))
      changes.push({ kind, name, action: 'undeclared', fields: [] });
  }
  return { changes, unchanged };
}

export interface CloudClients {
  pubsub: PubSub;
  scheduler: CloudSchedulerClient;
}

async function actualState(clients: CloudClients, target: CloudTarget): Promise<Desired> {
  const [topics] = await clients.pubsub.getTopics();
  const [subs] = await clients.pubsub.getSubscriptions();
  const parent = `projects/${target.project}/locations/${target.region}`;
  const [jobs] = await clients.scheduler.listJobs({ parent });
  return {
    topics: new Map(
      topics.map((t) => [short(t.name), { messageRetentionSeconds: seconds(t.metadata?.messageRetentionDuration) }]),
    ),
    subscriptions: new Map(subs.map((s) => [short(s.name), flatSubscription(s.metadata)])),
    jobs: new Map(jobs.map((j) => [short(j.name), flatJob(j)])),
  };
}

/** Reads the project and compares: what apply would do. */
export async function planInfra(topology: Topology, clients: CloudClients, target: CloudTarget): Promise<Plan> {
  const desired = desiredState(topology, target);
  const actual = await actualState(clients, target);
  const parts = [
    diff('topic', desired.topics, actual.topics),
    diff('subscription', desired.subscriptions, actual.subscriptions),
    diff('job', desired.jobs, actual.jobs),
  ];
  return { changes: parts.flatMap((p) => p.changes), unchanged: parts.reduce((n, p) => n + p.unchanged, 0) };
}

const durationOf = (s: number | undefined) => (s === undefined ? undefined : { seconds: s, nanos: 0 });
const code = (err: unknown) => (err as { code?: number }).code;
const ALREADY_EXISTS = (err: unknown) => code(err) === 6 || code(err) === 409;
const NOT_FOUND = (err: unknown) => code(err) === 5 || code(err) === 404;

/** The Pub/Sub subscription resource for the desired flat fields (only the parts that are set). */
function subscriptionResource(f: Flat, project: string): Record<string, unknown> {
  const r: Record<string, unknown> = {
    ackDeadlineSeconds: f.ackDeadlineSeconds,
    retryPolicy: {
      minimumBackoff: durationOf(f['retryPolicy.minimumBackoffSeconds'] as number),
      maximumBackoff: durationOf(f['retryPolicy.maximumBackoffSeconds'] as number),
    },
    messageRetentionDuration: durationOf(f.messageRetentionSeconds as number),
    expirationPolicy: {},
    deadLetterPolicy: f['deadLetterPolicy.deadLetterTopic']
      ? {
          deadLetterTopic: `projects/${project}/topics/${f['deadLetterPolicy.deadLetterTopic']}`,
          maxDeliveryAttempts: f['deadLetterPolicy.maxDeliveryAttempts'],
        }
      : null,
    pushConfig: f['pushConfig.pushEndpoint']
      ? {
          pushEndpoint: f['pushConfig.pushEndpoint'],
          oidcToken: {
            serviceAccountEmail: f['pushConfig.oidcToken.serviceAccountEmail'],
            audience: f['pushConfig.oidcToken.audience'],
          },
        }
      : {},
  };
  if (f.filter) r.filter = f.filter;
  return r;
}

function jobResource(name: string, f: Flat, target: CloudTarget): Record<string, unknown> {
  return {
    name: `projects/${target.project}/locations/${target.region}/jobs/${name}`,
    description: f.description,
    schedule: f.schedule,
    timeZone: f.timeZone,
    ...(f['pubsubTarget.topic']
      ? {
          pubsubTarget: {
            topicName: `projects/${target.project}/topics/${f['pubsubTarget.topic']}`,
            data: Buffer.from(String(f['pubsubTarget.data'])),
            attributes: { job: f['pubsubTarget.attributes.job'] },
          },
        }
      : {
          httpTarget: {
            uri: f['httpTarget.uri'],
            httpMethod: 'POST',
            oauthToken: { serviceAccountEmail: f['httpTarget.oauthToken.serviceAccountEmail'] },
          },
        }),
    retryConfig: {
      retryCount: f['retryConfig.retryCount'],
      minBackoffDuration: durationOf(f['retryConfig.minBackoffSeconds'] as number),
      maxBackoffDuration: durationOf(f['retryConfig.maxBackoffSeconds'] as number),
      maxDoublings: f['retryConfig.maxDoublings'],
    },
  };
}

/** The top-level fields (update mask paths) a set of flat field changes touches. */
const topFields = (fields: FieldChange[]) => [...new Set(fields.map((f) => f.field.split('.')[0]!))];

/**
 * Makes the plan true, in dependency order (topics, subscriptions, jobs; deletions in reverse). Undeclared
 * resources are deleted only with `prune`. `onChange` is told each change once it is done.
 */
export async function applyInfra(
  topology: Topology,
  clients: CloudClients,
  target: CloudTarget,
  options: { prune?: boolean; onChange?: (change: Change) => void } = {},
): Promise<Plan> {
  const plan = await planInfra(topology, clients, target);
  const desired = desiredState(topology, target);
  const { pubsub, scheduler } = clients;
  const done = (c: Change) => options.onChange?.(c);
  const of = (kind: Kind) => plan.changes.filter((c) => c.kind === kind);
  const createSubscription = async (name: string) => {
    const f = desired.subscriptions.get(name)!;
    try {
      await pubsub.createSubscription(String(f.topic), name, subscriptionResource(f, target.project) as never);
    } catch (err) {
      if (!ALREADY_EXISTS(err)) throw err;
    }
  };

  for (const c of of('topic')) {
    if (c.action === 'create') {
      try {
        const retention = desired.topics.get(c.name)!.messageRetentionSeconds as number | undefined;
        await pubsub.createTopic({
          name: c.name,
          ...(retention ? { messageRetentionDuration: { seconds: retention } } : {}),
        });
      } catch (err) {
        if (!ALREADY_EXISTS(err)) throw err;
      }
      done(c);
    } else if (c.action === 'update') {
      const retention = desired.topics.get(c.name)!.messageRetentionSeconds as number | undefined;
      await pubsub
        .topic(c.name)
        .setMetadata({ messageRetentionDuration: retention ? { seconds: retention } : null } as never);
      done(c);
    }
  }
  for (const c of of('subscription')) {
    if (c.action === 'create') {
      await createSubscription(c.name);
      done(c);
    } else if (c.action === 'replace') {
      try {
        await pubsub.subscription(c.name).delete();
      } catch (err) {
        if (!NOT_FOUND(err)) throw err;
      }
      await createSubscription(c.name);
      done(c);
    } else if (c.action === 'update') {
      const full = subscriptionResource(desired.subscriptions.get(c.name)!, target.project);
      const metadata = Object.fromEntries(topFields(c.fields).map((k) => [k, full[k] ?? null]));
      await pubsub.subscription(c.name).setMetadata(metadata as never);
      done(c);
    }
  }
  const parent = `projects/${target.project}/locations/${target.region}`;
  for (const c of of('job')) {
    if (c.action === 'create') {
      try {
        await scheduler.createJob({ parent, job: jobResource(c.name, desired.jobs.get(c.name)!, target) as never });
      } catch (err) {
        if (!ALREADY_EXISTS(err)) throw err;
      }
      done(c);
    } else if (c.action === 'update') {
      const job = jobResource(c.name, desired.jobs.get(c.name)!, target);
      // a target switch (Pub/Sub <-> Cloud Run job) sets one and clears the other
      const paths = topFields(c.fields).map((f) => f.replace(/[A-Z]/g, (x) => `_${x.toLowerCase()}`));
      await scheduler.updateJob({ job: job as never, updateMask: { paths } });
      done(c);
    }
  }
  if (options.prune) {
    const undeclared = plan.changes.filter((c) => c.action === 'undeclared');
    for (const kind of ['job', 'subscription', 'topic'] as const) {
      for (const c of undeclared.filter((u) => u.kind === kind)) {
        try {
          if (kind === 'job') await scheduler.deleteJob({ name: `${parent}/jobs/${c.name}` });
          else if (kind === 'subscription') await pubsub.subscription(c.name).delete();
          else await pubsub.topic(c.name).delete();
        } catch (err) {
          if (!NOT_FOUND(err)) throw err;
        }
        c.action = 'delete';
        done(c);
      }
    }
  }
  return plan;
}

const show = (v: unknown) => (v === undefined ? '(unset)' : typeof v === 'string' ? JSON.stringify(v) : String(v));

/** The plan as people read it: one line per change, field-level changes indented under it. */
export function formatPlan(plan: Plan, options: { prune?: boolean; applied?: boolean } = {}): string {
  const sign = { create: '+', update: '~', replace: '-/+', undeclared: '?', delete: '-' } as const;
  const verb = options.applied
    ? {
        create: 'created',
        update: 'updated',
        replace: 'replaced',
        undeclared: 'exists but is not declared (kept; --prune deletes it)',
        delete: 'deleted',
      }
    : {
        create: 'create',
        update: 'update',
        replace: 'replace (delete, then create: the field cannot be changed in place)',
        undeclared: options.prune
          ? 'delete (exists but is not declared; --prune)'
          : 'exists but is not declared (kept; --prune deletes it)',
        delete: 'delete',
      };
  const lines: string[] = [];
  for (const c of plan.changes) {
    lines.push(`${sign[c.action]} ${c.kind} ${c.name}: ${verb[c.action]}`);
    for (const f of c.fields) lines.push(`    ${f.field}: ${show(f.from)} -> ${show(f.to)}`);
  }
  const changing = plan.changes.filter((c) => c.action !== 'undeclared' || options.prune).length;
  lines.push(
    changing === 0
      ? `no changes (${plan.unchanged} up to date)`
      : `${changing} change${changing === 1 ? '' : 's'}, ${plan.unchanged} up to date`,
  );
  return `${lines.join('\n')}\n`;
}
