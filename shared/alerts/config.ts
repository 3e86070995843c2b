/** The operator file's `routing` section: the alert routing tree and its matchers. */
import { z } from 'zod';
import { RECEIVERS } from './model';

/**
 * The `routing` section of the operator file: a routing tree in the manner of Alertmanager's. Each route has
 * matchers (`severity = critical`, `source =~ probe|mt-ops`, `probe != api-full`, `!~`), receivers, `continue`
 * and child routes. An alert walks the tree depth first; the first matching child handles it unless `continue`
 * lets later siblings match too; a route no child of which matches handles the alert itself.
 */
export const MATCHER_PATTERN = /^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(=~|!~|!=|=)(?![=~])\s*(?:"(.*)"|(.*?))\s*$/;

export const MatcherText = z.string().superRefine((value, ctx) => {
  const m = MATCHER_PATTERN.exec(value);
  if (!m) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be `label = value`, `label != value`, `label =~ regex` or `label !~ regex`',
    });
    return;
  }
  if (m[2]!.includes('~')) {
    try {
      new RegExp(`^(?:${m[3] ?? m[4]})$`);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a valid regular expression' });
    }
  }
});

export const ReceiverName = z.enum(RECEIVERS);

export interface RouteInput {
  matchers?: string[];
  receivers?: Array<(typeof RECEIVERS)[number]>;
  continue?: boolean;
  routes?: RouteInput[];
}
export interface Route {
  matchers: string[];
  receivers: Array<(typeof RECEIVERS)[number]>;
  continue: boolean;
  routes: Route[];
}

export const RouteSchema: z.ZodType<Route, RouteInput> = z.lazy(() =>
  z
    .object({
      matchers: z.array(MatcherText).default([]),
      receivers: z.array(ReceiverName).default([]),
      continue: z.boolean().default(false),
      routes: z.array(RouteSchema).default([]),
    })
    .strict(),
);

/** Missing Table's levels: Critical pages at once; Warning within the hour; Info in the daily digest. */
export const DEFAULT_ROUTES: RouteInput[] = [
  { matchers: ['severity = critical'], receivers: ['pagerduty', 'slack', 'email'] },
  { matchers: ['severity = warning'], receivers: ['slack', 'email'] },
];

/** The label that lets an alert through a maintenance window (`routing.ignoreMaintenanceLabel`), by default. */
export const IGNORE_MAINTENANCE_LABEL = 'ignore_maintenance';

const RoutingObject = z
  .object({
    /** The root route's receivers: alerts no route matches (info) go here. */
    receivers: z.array(ReceiverName).default(['digest']),
    routes: z.array(RouteSchema).default(() => z.array(RouteSchema).parse(DEFAULT_ROUTES)),
    /** A firing incident reminds this often while it keeps firing. */
    repeatIntervalHours: z
      .number()
      .min(0.01)
      .max(24 * 7)
      .default(4),
    slackChannel: z.string().default('#alerts'),
    /** Alerts with this label set to "true" are sent during maintenance windows. */
    ignoreMaintenanceLabel: z.string().min(1).default(IGNORE_MAINTENANCE_LABEL),
  })
  .strict();

/** Today's flat section (`critical: [...]`, `warning: [...]`, `info: [...]`) is still read, as the equivalent tree. */
function fromFlat(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  const v = value as Record<string, unknown>;
  if (!('critical' in v || 'warning' in v || 'info' in v) || 'routes' in v) return value;
  const { critical, warning, info, ...rest } = v;
  const routes = [
    { matchers: ['severity = critical'], receivers: critical ?? ['pagerduty', 'slack', 'email'] },
    { matchers: ['severity = warning'], receivers: warning ?? ['slack', 'email'] },
    ...(info !== undefined
      ? [{ matchers: ['severity = info'], receivers: Array.isArray(info) && info.length > 0 ? info : ['digest'] }]
      : []),
  ];
  return { ...rest, routes };
}

export const RoutingSchema = z.preprocess(fromFlat, RoutingObject);
export type Routing = z.output<typeof RoutingSchema>;
