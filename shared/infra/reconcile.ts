/**
 * `mt-ops infra plan | apply`: the topics, subscriptions and Scheduler jobs of the topology against a project.
 * rules (desired state, field-level diff: pure, in infra-rules.ts) -> plan (reads the project) -> run (creates,
 * updates, replaces what cannot be updated, deletes undeclared only with prune). Every step is idempotent, so an
 * interrupted apply is finished by running it again; a second apply finds nothing to do. Only names starting with
 * `mt-ops-` are ever reported as undeclared or pruned: the rest of the project is not ours.
 */
import type { PubSub } from '@google-cloud/pubsub';
import type { CloudSchedulerClient } from '@google-cloud/scheduler';
import type { Topology } from './topology';
import {
  desiredState,
  diff,
  flatJob,
  flatSubscription,
  seconds,
  short,
  type Change,
  type CloudTarget,
  type Desired,
  type FieldChange,
  type Flat,
  type Kind,
  type Plan,
} from './infra-rules';

export type { Change, CloudTarget, Plan } from './infra-rules';

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
