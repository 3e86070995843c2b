/** The events the suite publishes: their schemas, severities and Pub/Sub attributes. */
import { z } from 'zod';

/** Severity levels from Missing Table's operations docs: critical pages at once, warning within an hour, info for the daily review. */
export const Severity = z.enum(['critical', 'warning', 'info']);
export type Severity = z.infer<typeof Severity>;

/** Every event the suite publishes. Validated by zod when published and when received. */
const base = {
  env: z.string().min(1),
  time: z.iso.datetime(),
};

export const BackupSucceeded = z.object({
  type: z.literal('backup.succeeded'),
  severity: z.literal('info'),
  ...base,
  backupId: z.string(),
  label: z.string().optional(),
  trigger: z.enum(['manual', 'scheduled']),
  bytes: z.number().int().min(0),
  rows: z.number().int().min(0),
  tables: z.number().int().min(0),
  durationMs: z.number().min(0),
  /** The run's time limit, when it had one (a function's timeout, a Cloud Run job's task timeout). */
  timeLimitSeconds: z.number().int().min(1).optional(),
});

export const BackupFailed = z.object({
  type: z.literal('backup.failed'),
  severity: z.literal('critical'),
  ...base,
  trigger: z.enum(['manual', 'scheduled']),
  reason: z.string(),
  table: z.string().optional(),
});

export const VerifySucceeded = z.object({
  type: z.literal('verify.succeeded'),
  severity: z.literal('info'),
  ...base,
  backupId: z.string(),
  restoreDrill: z.boolean(),
  details: z.string(),
});

export const VerifyFailed = z.object({
  type: z.literal('verify.failed'),
  severity: z.literal('critical'),
  ...base,
  backupId: z.string().optional(),
  reason: z.string(),
});

export const RetentionCompleted = z.object({
  type: z.literal('retention.completed'),
  severity: z.literal('info'),
  ...base,
  kept: z.number().int().min(0),
  removed: z.number().int().min(0),
  orphansRemoved: z.number().int().min(0),
  bytesFreed: z.number().int().min(0),
  skipped: z.number().int().min(0),
});

export const RetentionFailed = z.object({
  type: z.literal('retention.failed'),
  severity: z.literal('warning'),
  ...base,
  reason: z.string(),
});

/** A deployment by Cloud Build (cloudbuild.yaml) finished: every step passed. */
export const DeploymentSucceeded = z.object({
  type: z.literal('deployment.succeeded'),
  severity: z.literal('info'),
  ...base,
  project: z.string().min(1).max(100),
  region: z.string().min(1).max(100),
  /** The commit deployed and the build that did it, when known. */
  commit: z.string().max(100).optional(),
  build: z.string().max(200).optional(),
});

/** A deployment by Cloud Build failed: the step that failed. */
export const DeploymentFailed = z.object({
  type: z.literal('deployment.failed'),
  severity: z.literal('warning'),
  ...base,
  project: z.string().min(1).max(100),
  region: z.string().min(1).max(100),
  step: z.string().min(1).max(100),
  reason: z.string().max(1000),
  commit: z.string().max(100).optional(),
  build: z.string().max(200).optional(),
});

export const ProbeStateChanged = z.object({
  type: z.literal('probe.state_changed'),
  severity: Severity,
  ...base,
  probe: z.string(),
  from: z.enum(['up', 'down', 'unknown']),
  to: z.enum(['up', 'down', 'unknown']),
  reason: z.string().optional(),
});

/**
 * A generic alert, firing or resolved: what the alert fan-out routes (by severity, labels and maintenance) without
 * knowing which capability raised it. One incident is one `fingerprint` (stable across runs, e.g. `probe/prod/api`):
 * `firing` opens it, `resolved` (with `endsAt`) closes it; a repeated `firing` for the same fingerprint is the same
 * incident, never a new page. `source` names the raiser (`probe`, `backup`, ...).
 */
export const AlertStatus = z.enum(['firing', 'resolved']);
export type AlertStatus = z.infer<typeof AlertStatus>;

export const AlertLink = z.object({ title: z.string().min(1), url: z.string().min(1) }).strict();

export const Alert = z
  .object({
    type: z.literal('alert'),
    severity: Severity,
    ...base,
    status: AlertStatus,
    fingerprint: z.string().min(1).max(256),
    title: z.string().min(1).max(300),
    summary: z.string().max(4000).default(''),
    /** What was seen, one line each (failed conditions, ages, burn rates). */
    evidence: z.array(z.string().max(1000)).max(50).default([]),
    labels: z.record(z.string(), z.string()).default({}),
    links: z.array(AlertLink).max(10).default([]),
    startsAt: z.iso.datetime(),
    /** Set on `resolved`: when the condition ended. */
    endsAt: z.iso.datetime().optional(),
    source: z.string().min(1).max(100),
  })
  .refine((a) => a.status === 'firing' || a.endsAt !== undefined, {
    message: 'a resolved alert needs endsAt',
    path: ['endsAt'],
  });
export type Alert = z.infer<typeof Alert>;

export const OpsEvent = z.discriminatedUnion('type', [
  BackupSucceeded,
  BackupFailed,
  VerifySucceeded,
  VerifyFailed,
  RetentionCompleted,
  RetentionFailed,
  ProbeStateChanged,
  DeploymentSucceeded,
  DeploymentFailed,
  Alert,
]);
export type OpsEvent = z.infer<typeof OpsEvent>;
export type OpsEventInput = z.input<typeof OpsEvent>;
export type EventType = OpsEvent['type'];

/** Attributes set on every message, for subscription filters and routing. */
export interface EventAttributes {
  type: string;
  severity: string;
  env: string;
  [key: string]: string;
}

export function attributesOf(event: OpsEvent): EventAttributes {
  const attributes: EventAttributes = { type: event.type, severity: event.severity, env: event.env };
  // alerts also carry their status and source, so a subscription can filter on them
  if (event.type === 'alert') Object.assign(attributes, { status: event.status, source: event.source });
  return attributes;
}

export interface ReceivedEvent {
  event: OpsEvent;
  attributes: Record<string, string>;
  messageId: string;
}

export interface PublishOptions {
  /** Ends the publish (its retries, its request in flight): the caller's deadline. */
  signal?: AbortSignal;
}

/** Publishes the suite's events. */
export interface EventBus {
  /** Validates and publishes; resolves to the message id. Invalid events reject with a UsageError. */
  publish(event: OpsEventInput, options?: PublishOptions): Promise<string>;
  close(): Promise<void>;
}
