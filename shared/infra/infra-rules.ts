/**
 * The rules of `mt-ops infra plan | apply` (pure): what the topology asks of a project (its topics, subscriptions and
 * Scheduler jobs flattened to the fields the diff compares), the same fields read back from the APIs' answers, and the
 * field-level diff between the two. shared/infra/reconcile.ts reads the project and makes the diff true.
 */
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
export type Flat = Record<string, string | number | boolean | undefined>;
export interface Desired {
  topics: Map<string, Flat>;
  subscriptions: Map<string, Flat>;
  jobs: Map<string, Flat>;
}

export const seconds = (d: unknown): number | undefined => {
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

export const short = (name: string | null | undefined) => (name ?? '').split('/').pop()!;
const orUndefined = <T>(v: T | null | undefined | '') => (v === null || v === '' ? undefined : v);

/* eslint-disable @typescript-eslint/no-explicit-any */
export function flatSubscription(m: any): Flat {
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

export function flatJob(j: any): Flat {
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
