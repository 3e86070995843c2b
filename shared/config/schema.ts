/** The suite's configuration schemas: environment variables, and the operator file composed of each capability's section. */
import { z } from 'zod';
import { ScheduleOverrideSchema } from '../infra/schedules';
import { MaintenanceSectionSchema } from '../maintenance/window';
import { RoutingSchema } from '../alerts/config';
import { ProbesSectionSchema } from '../probes/config';
import { BackupSectionSchema } from '../backup/config';
import { RetentionSectionSchema } from '../retention/config';
import { VerifySectionSchema } from '../restore/config';
import { StatusSectionSchema } from '../status/config';
import { StorageSectionSchema } from '../storage/config';

const bucketUrl = z.string().refine((v) => /^(file:\/\/.+|gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](\/.*)?)$/.test(v), {
  message: 'must be file:///abs/path, file://./relative or gs://bucket[/prefix]',
});

/**
 * A PostgreSQL connection URL: the one rule for every source of one (DATABASE_URL, VERIFY_DATABASE_URL,
 * --database-url, --restore-into). The reasons never echo the value (it holds a password).
 */
export const DatabaseUrl = z.string().superRefine((value, ctx) => {
  const problem = databaseUrlProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

function databaseUrlProblem(value: string): string | undefined {
  if (!/^postgres(ql)?:\/\//i.test(value)) return 'must be a postgres:// or postgresql:// URL';
  const port = /^[^/]*\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/?#]*):(\d*)(?:[/?#]|$)/.exec(value)?.[1];
  if (port !== undefined && (port === '' || Number(port) < 1 || Number(port) > 65535))
    return 'port must be a number from 1 to 65535';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a valid URL (postgres://user:password@host:port/database)';
  }
  if (!url.hostname && !url.searchParams.get('host'))
    return 'names no host (postgres://user:password@host:port/database)';
  return undefined;
}

const postgresUrl = DatabaseUrl;

/** Environment variables: secrets and endpoints. */
export const EnvSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  VERIFY_DATABASE_URL: postgresUrl.optional(),
  BACKUP_BUCKET: bucketUrl.default('file://./backups'),
  GOOGLE_CLOUD_PROJECT: z.string().min(1).optional(),
  OPS_ENV: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lowercase letters, digits and dashes, at most 40')
    .default('local'),
  OPS_CONFIG: z.string().default('./ops.config.json'),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  PUBSUB_EMULATOR_HOST: z.string().optional(),
  /** `pubsub` or `memory`: which event bus (see shared/bus/open.ts); unset: Pub/Sub only if EVENTS_TOPIC or PUBSUB_EMULATOR_HOST is set. */
  OPS_EVENTS: z.enum(['pubsub', 'memory']).optional(),
  /** The Pub/Sub topic events go to (default: the events topic of infra/topics.yaml); setting it chooses Pub/Sub. */
  EVENTS_TOPIC: z.string().min(1).max(255).optional(),
  SLACK_WEBHOOK_URL: z.url().optional(),
  PAGERDUTY_ROUTING_KEY: z.string().min(1).optional(),
  /** Checked here, with every other problem (it was only checked when the fan-out first ran: `npm start` half-started). */
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/[^/]+/, 'must be smtp://[user:pass@]host[:port] or smtps://...')
    .optional(),
  SMTP_PASSWORD: z.string().optional(),
  PAGERDUTY_EVENTS_URL: z.url().default('https://events.pagerduty.com/v2/enqueue'),
  ALERT_EMAIL_FROM: z.string().min(3).optional(),
  ALERT_EMAIL_TO: z.string().min(3).optional(),
  ALERT_WEBHOOK_URL: z.url().optional(),
  /** Missing Table's base URL, for the default probes. */
  APP_BASE_URL: z.url().default('http://localhost:8000'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** The time limit of one run of this function or job, in seconds (set by deploy-commands from infra/). */
  MT_OPS_TIME_LIMIT_SECONDS: z.coerce.number().int().min(1).max(86_400).optional(),
  /** The address `npm start` (`mt-ops serve`) listens on: loopback unless set (0.0.0.0 or :: for every interface). */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** The bearer token `npm start` requires on every route but /healthz; unset: one is generated and printed at start. */
  OPS_API_TOKEN: z
    .string()
    .min(16, 'at least 16 characters (unset it and `npm start` generates one)')
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces (it travels in an Authorization header)')
    .optional(),
});
export type Env = z.infer<typeof EnvSchema>;

/** Env vars whose whole value is a secret (masked in every log line). */
export const SECRET_ENV = [
  'SLACK_WEBHOOK_URL',
  'PAGERDUTY_ROUTING_KEY',
  'SMTP_PASSWORD',
  'ALERT_WEBHOOK_URL',
  'OPS_API_TOKEN',
] as const;
/** Env vars that are URLs whose password is a secret. */
export const URL_ENV = ['DATABASE_URL', 'VERIFY_DATABASE_URL', 'SMTP_URL'] as const;

/**
 * Schedule overrides for `npm start`, keyed by the function a job triggers (`backup`, `retention`, `verify`) or, for
 * a function with several jobs (fanout: `mt-ops-alerts-digest`, `mt-ops-alerts-sweep`), by the job's name; each
 * job's declaration (topic, payload, default cron) lives in infra/schedules.yaml. `npm start` refuses a key that no
 * scheduled job matches, or a function key that would reach several jobs.
 */
export const SchedulesSectionSchema = z.record(
  z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a function or job name'),
  ScheduleOverrideSchema,
);

/** The operator config file (`OPS_CONFIG`, JSON or YAML). Every section is optional. */
export const OpsFileSchema = z
  .object({
    environment: z.string().optional(),
    backup: BackupSectionSchema.default(BackupSectionSchema.parse({})),
    retention: RetentionSectionSchema.default(RetentionSectionSchema.parse({})),
    verify: VerifySectionSchema.default(VerifySectionSchema.parse({})),
    storage: StorageSectionSchema.default(StorageSectionSchema.parse({})),
    schedules: SchedulesSectionSchema.default(SchedulesSectionSchema.parse({})),
    /** Absent: the default probes (see shared/probes/config.ts). */
    probes: ProbesSectionSchema,
    routing: RoutingSchema.default(RoutingSchema.parse({})), // the routing tree: shared/alerts/config.ts
    maintenance: MaintenanceSectionSchema,
    status: StatusSectionSchema.default(StatusSectionSchema.parse({})), // the status page: shared/status/config.ts
  })
  .strict();
export type OpsFile = z.infer<typeof OpsFileSchema>;
