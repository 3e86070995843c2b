/**
 * The `probes` section of the operator file: its schema (every condition parsed when the config loads, errors quoting
 * the condition), the defaults when the file names no probes, and the resolution of `${VAR}` references at run time.
 */
import { z } from 'zod';
import { caFileProblem } from '../config/files';
import { Severity } from '../bus/events';
import { registerSecret, SECRET_KEY } from '../log/redact';
import { ConditionError, parseCondition, type Condition } from './conditions';
import {
  REF,
  NOT_A_URL,
  NOT_IN_HEADER,
  NOT_IN_HEADER_WHY,
  NO_DATABASE,
  lacksDatabase,
  namesVariable,
} from './references';

export { unsetReferences } from './references';

const cache = new Map<string, Condition>();
/** Parses a condition once per process (the config's validation has already parsed it). */
export function compiled(source: string): Condition {
  let c = cache.get(source);
  if (!c) {
    c = parseCondition(source);
    if (cache.size < 10_000) cache.set(source, c);
  }
  return c;
}

const ConditionText = z.string().superRefine((source, ctx) => {
  try {
    compiled(source);
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: err instanceof ConditionError ? `invalid condition ${err.message}` : String(err),
    });
  }
});

const ConditionObject = z.object({ condition: ConditionText, severity: Severity.optional() }).strict();

/**
 * A condition, optionally with its own severity (default: the probe's): `[CERTIFICATE_EXPIRATION] > 21d` as a warning.
 * Checked by its form (a union would answer only `Invalid input` for a bad severity inside the object): a text is a
 * condition, an object `{ condition, severity }`, with each issue at its own field.
 */
export const ConditionEntry = z.unknown().transform((value, ctx): z.infer<typeof ConditionObject> | string => {
  if (typeof value !== 'string' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    ctx.addIssue({ code: 'custom', message: 'expected a condition (text) or { condition, severity }' });
    return z.NEVER;
  }
  const parsed = (typeof value === 'string' ? ConditionText : ConditionObject).safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue } as Parameters<typeof ctx.addIssue>[0]);
  return z.NEVER;
});
export type ConditionEntry = z.infer<typeof ConditionEntry>;

/**
 * A refinement that runs even when the value has problems of its own (zod skips it after an aborting issue, such as
 * a field of the wrong type or a bad enum value), so that one run of `mt-ops config` lists every problem.
 */
const EVEN_WITH_ISSUES = { when: () => true };

/** A header's name: an HTTP token (RFC 9110), as Node requires. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export const PROBE_KINDS = ['http', 'postgres', 'backup-freshness'] as const;

export const ProbeSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, ".", "_" and "-", at most 63'),
    kind: z.enum(PROBE_KINDS).default('http'),
    /** http(s) URL, or for `postgres` a postgres:// URL; `${VAR}` names an environment variable. Unused by backup-freshness. */
    url: z.string().min(1).optional(),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).default('GET'),
    /** Values may name environment variables (`Bearer ${API_TOKEN}`), so secrets stay out of files. */
    headers: z
      .record(
        z.string(),
        z.string().refine((v) => !NOT_IN_HEADER.test(v), `holds ${NOT_IN_HEADER_WHY}`),
      )
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers))
          if (!HEADER_NAME.test(name))
            ctx.addIssue({
              code: 'custom',
              path: [name],
              message: "not a header name (letters, digits and !#$%&'*+-.^_`|~)",
            });
      })
      .default({}),
    body: z.string().optional(),
    timeoutMs: z.number().int().min(100).max(60_000).default(10_000),
    intervalSeconds: z.number().int().min(10).max(86_400).default(60),
    conditions: z.array(ConditionEntry).optional(),
    failureThreshold: z.number().int().min(1).max(100).default(3),
    successThreshold: z.number().int().min(1).max(100).default(2),
    severity: Severity.default('critical'),
    labels: z.record(z.string(), z.string()).default({}),
    slo: z
      .object({ availability: z.number().gt(0).lt(100).default(99.9), latencyP95Ms: z.number().positive().optional() })
      .strict()
      .default({ availability: 99.9 }),
    ignoreMaintenance: z.boolean().default(false),
    maxRedirects: z.number().int().min(0).max(20).default(5),
    /**
     * https: a CA file (PEM) to trust instead of the system's (the target is held to its own CA), or `insecure` to
     * accept any certificate (its expiry is still read).
     */
    tls: z
      .object({ caFile: z.string().min(1).optional(), insecure: z.boolean().optional() })
      .strict()
      .optional(),
    /** backup-freshness: critical when the newest complete backup is older. */
    maxAgeHours: z.number().positive().default(26),
    /** backup-freshness: warning when the newest verify is older (or failed). */
    verifyMaxAgeDays: z.number().positive().default(8),
  })
  .strict()
  // run whatever else is wrong with the probe (a bad severity, a field of the wrong type), so that every problem is
  // reported at once: the fields read here may then be as written, so each is checked for its type
  .superRefine((p, ctx) => {
    if (typeof p !== 'object' || p === null) return;
    if (p.kind === 'http' && (p.url === undefined || typeof p.url === 'string')) {
      if (!p.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'an http probe needs a url' });
      else if (!/^https?:\/\/\S+$/.test(p.url) && !p.url.startsWith('${'))
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'Invalid URL: must be http:// or https://' });
      else if (!p.url.includes('${')) {
        try {
          new URL(p.url);
        } catch {
          ctx.addIssue({ code: 'custom', path: ['url'], message: 'Invalid URL' });
        }
      }
    }
    if (p.kind === 'postgres' && typeof p.url === 'string' && p.url && !/^(postgres(ql)?:\/\/|\$\{)/.test(p.url)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'must be a postgres:// URL or ${DATABASE_URL}' });
    }
    // a probe still waiting when its next one is due would overlap it (and the defaults fit: 10 s, the shortest interval)
    if (
      typeof p.timeoutMs === 'number' &&
      typeof p.intervalSeconds === 'number' &&
      p.timeoutMs > p.intervalSeconds * 1000
    )
      ctx.addIssue({
        code: 'custom',
        path: ['timeoutMs'],
        message: `must be at most intervalSeconds x 1000 (${p.intervalSeconds * 1000} here)`,
      });
  }, EVEN_WITH_ISSUES);
export type ProbeConfig = z.infer<typeof ProbeSchema>;
export type ProbeInput = z.input<typeof ProbeSchema>;

/** A list of probes with unique names. */
export const ProbeListSchema = z.array(ProbeSchema).superRefine((probes, ctx) => {
  if (!Array.isArray(probes)) return;
  const seen = new Set<string>();
  probes.forEach((p: unknown, i) => {
    // checked beside the probes' own problems (a probe may then be as written: anything)
    const name = typeof p === 'object' && p !== null ? (p as { name?: unknown }).name : undefined;
    if (typeof name !== 'string') return;
    if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate probe name ${name}` });
    seen.add(name);
  });
}, EVEN_WITH_ISSUES);

/** How many probes one run probes at once, by default and at most (each holds a socket and its answer). */
export const PROBE_CONCURRENCY = { default: 50, min: 1, max: 500 } as const;

/** The section's settings form: `{ concurrency, targets }` (targets absent: the defaults; empty: none). */
export const ProbesSettingsSchema = z
  .object({
    concurrency: z
      .number()
      .int()
      .min(PROBE_CONCURRENCY.min)
      .max(PROBE_CONCURRENCY.max)
      .default(PROBE_CONCURRENCY.default),
    targets: ProbeListSchema.optional(),
  })
  .strict();
export type ProbesSection = z.infer<typeof ProbesSettingsSchema>;

/**
 * The `probes` section: either the list of probes (`probes: [...]`) or `{ concurrency, targets: [...] }`; both read as
 * the second. Absent (or no targets given): the defaults (see defaultProbes); an empty list: no probes. Issues keep the path of the form written.
 */
export const ProbesSectionSchema = z
  .unknown()
  .transform((value, ctx): ProbesSection => {
    const result = Array.isArray(value) ? ProbeListSchema.safeParse(value) : ProbesSettingsSchema.safeParse(value);
    if (!result.success) {
      for (const issue of result.error.issues)
        ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }
    return Array.isArray(result.data)
      ? { concurrency: PROBE_CONCURRENCY.default, targets: result.data }
      : (result.data as ProbesSection);
  })
  .optional();

/** Conditions a probe uses when it lists none. */
export function defaultConditions(p: ProbeConfig): ConditionEntry[] {
  switch (p.kind) {
    case 'postgres':
      return ['[CONNECTED] == true', { condition: '[BODY].connectionsUsedPercent <= 80', severity: 'warning' }];
    case 'backup-freshness':
      return [
        '[CONNECTED] == true',
        `[BODY].newestAgeHours < ${p.maxAgeHours}`,
        { condition: '[BODY].verify.ok == true', severity: 'warning' },
        { condition: `[BODY].verify.ageDays < ${p.verifyMaxAgeDays}`, severity: 'warning' },
      ];
    default: {
      const tls = p.url?.startsWith('https://')
        ? [
            { condition: '[CERTIFICATE_EXPIRATION] > 21d', severity: 'warning' as const },
            { condition: '[CERTIFICATE_EXPIRATION] > 7d', severity: 'critical' as const },
          ]
        : [];
      return ['[STATUS] == 200', ...tls];
    }
  }
}

/**
 * The probes when the operator file names none: Missing Table's `/health` and `/health/full` on APP_BASE_URL (the
 * latter asserting what a real outage hides behind a 200: status healthy and counts above 0), a postgres probe of
 * DATABASE_URL when it is set, and the backup watchdog.
 */
export function defaultProbes(env: { APP_BASE_URL?: string; DATABASE_URL?: string }): ProbeConfig[] {
  const base = (env.APP_BASE_URL ?? 'http://localhost:8000').replace(/\/+$/, '');
  const tls = base.startsWith('https://')
    ? [
        { condition: '[CERTIFICATE_EXPIRATION] > 21d', severity: 'warning' as const },
        { condition: '[CERTIFICATE_EXPIRATION] > 7d', severity: 'critical' as const },
      ]
    : [];
  const probes: ProbeInput[] = [
    { name: 'api-health', url: `${base}/health`, conditions: ['[STATUS] == 200', '[BODY].status == healthy', ...tls] },
    {
      name: 'api-health-full',
      url: `${base}/health/full`,
      conditions: [
        '[STATUS] == 200',
        '[BODY].status == healthy',
        '[BODY].checks.database.age_groups_count > 0',
        '[RESPONSE_TIME] < 200',
        ...tls,
      ],
      slo: { availability: 99.9, latencyP95Ms: 200 },
    },
  ];
  if (env.DATABASE_URL)
    probes.push({
      name: 'database',
      kind: 'postgres',
      url: '${DATABASE_URL}',
      slo: { availability: 99.9, latencyP95Ms: 100 },
    });
  probes.push({
    name: 'backup-freshness',
    kind: 'backup-freshness',
    intervalSeconds: 300,
    failureThreshold: 1,
    successThreshold: 1,
  });
  return z.array(ProbeSchema).parse(probes);
}

/** The configured probes, or the defaults. */
export function probesOf(
  section: ProbesSection | undefined,
  env: { APP_BASE_URL?: string; DATABASE_URL?: string },
): ProbeConfig[] {
  // an empty list is no probes (a staging file that turns probing off), never the defaults: those would probe an
  // APP_BASE_URL nobody meant, and page for it
  return section?.targets !== undefined ? section.targets : defaultProbes(env);
}

export interface ResolvedCondition {
  condition: Condition;
  severity: Severity;
}

/** A probe ready to run: `${VAR}` references replaced (and registered as secrets), conditions compiled. */
export interface ResolvedProbe {
  config: ProbeConfig;
  /** The url with its references replaced (a postgres probe with none: DATABASE_URL). */
  url?: string;
  headers: Record<string, string>;
  body?: string;
  conditions: ResolvedCondition[];
  /**
   * What holds a `${VAR}` value: the names of those headers, and whether the body does. Never sent to another origin
   * on a redirect.
   */
  secrets?: { headers: string[]; body: boolean };
  /** A reference that could not be resolved: the probe fails with this reason instead of running. */
  problem?: string;
}

/** Replaces `${VAR}` references; with `secret`, each value read is masked everywhere (a target may quote it back). */
function interpolate(
  text: string,
  environment: NodeJS.ProcessEnv,
  where: string,
  missing: string[],
  secret = false,
): string {
  return text.replace(REF, (_m, name: string) => {
    const value = environment[name];
    if (value === undefined || value === '') {
      missing.push(`${where} names \${${name}}, which is not set`);
      return '';
    }
    if (secret) registerSecret(value);
    return value;
  });
}

/**
 * An http(s) URL's credentials, written in the file or from a `${VAR}`, masked everywhere: the password, and the Basic
 * authorization Node's client sends for `user:password` (a target quoting back the credential it refused shows that).
 */
function registerUrlCredentials(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return; // reported above, or by the schema
  }
  // a postgres URL written in the file: its password is masked by the patterns where the URL shows (the server never
  // quotes it back); from a `${VAR}`, registered above
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || (!u.username && !u.password)) return;
  registerSecret(u.password);
  const decoded = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text; // a stray "%": kept as written
    }
  };
  const [user, password] = [decoded(u.username), decoded(u.password)];
  registerSecret(password);
  // a user name alone, and long (`https://TOKEN@host`, as some services take a token): the user is the secret
  if (!password && user.length >= 8) registerSecret(user);
  registerSecret(Buffer.from(`${user}:${password}`).toString('base64'));
}

export function resolveProbe(config: ProbeConfig, environment: NodeJS.ProcessEnv = process.env): ResolvedProbe {
  const missing: string[] = [];
  // a postgres probe with no url probes DATABASE_URL, read here from the same environment as every `${VAR}`
  const url =
    config.url !== undefined
      ? interpolate(config.url, environment, 'url', missing)
      : config.kind === 'postgres'
        ? environment.DATABASE_URL || undefined
        : undefined;
  if (lacksDatabase(config, environment)) missing.push(`url ${NO_DATABASE}`);
  const headers: Record<string, string> = {};
  const secretHeaders: string[] = [];
  for (const [k, v] of Object.entries(config.headers)) {
    headers[k] = interpolate(v, environment, `headers.${k}`, missing, true);
    if (/[\r\n]/.test(headers[k]!)) missing.push(`headers.${k} holds a line break once its variables are replaced`);
    else if (NOT_IN_HEADER.test(headers[k]!))
      missing.push(`headers.${k} holds ${NOT_IN_HEADER_WHY} once its variables are replaced`);
    // a header value built from a variable is a secret, and so is a literal one under a secret's name (Authorization,
    // X-Api-Key, Cookie): masked in every log line, excerpt and event, never sent to another origin on a redirect
    const fromVariable = namesVariable(v);
    if (fromVariable || SECRET_KEY.test(k)) {
      registerSecret(headers[k]);
      // the credential after its scheme (`Bearer abc`), as a target echoing it back may show it alone
      const credential = headers[k]!.trim().split(/\s+/).slice(1).join(' ');
      if (!fromVariable) registerSecret(credential);
      secretHeaders.push(k);
    }
  }
  const body = config.body === undefined ? undefined : interpolate(config.body, environment, 'body', missing, true);
  const secretBody = config.body !== undefined && namesVariable(config.body);
  if (url && (config.url === undefined || /\$\{/.test(config.url))) {
    try {
      new URL(url);
    } catch {
      missing.push(`url ${NOT_A_URL}`);
    }
  }
  // a url's password is a secret, written in the file or from a variable, and so is the Basic credential sent for it
  if (url) registerUrlCredentials(url);
  // checked at load too; here for one removed (or made unreadable) since (a new instance, a file deleted under a running
  // one): a configuration error, never a probe that fails and pages
  const caFile = config.tls?.caFile;
  const caProblem = caFile === undefined ? undefined : caFileProblem(caFile);
  if (caProblem) missing.push(`tls.caFile: ${caProblem}: ${caFile}`);
  const entries = config.conditions && config.conditions.length > 0 ? config.conditions : defaultConditions(config);
  const conditions = entries.map((e) =>
    typeof e === 'string'
      ? { condition: compiled(e), severity: config.severity }
      : { condition: compiled(e.condition), severity: e.severity ?? config.severity },
  );
  return {
    config,
    url,
    headers,
    body,
    conditions,
    secrets: { headers: secretHeaders, body: secretBody },
    problem: missing.length > 0 ? missing.join('; ') : undefined,
  };
}
