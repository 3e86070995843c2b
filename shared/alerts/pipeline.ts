/**
 * The alert fan-out pipeline, composed in one place: decode -> normalise -> route -> silence -> dedup -> deliver ->
 * record.
 */
import type { ObjectStore } from '../storage/types';
import type { Logger } from '../log/logger';
import { activeWindow, type MaintenanceWindow } from '../maintenance/window';
import type { Channel } from './channels/types';
import type { Routing } from './config';
import type { DecodedInput } from './decode';
import type { DeadLetterSink } from './deadletter';
import { DEFAULT_RETRY, type RetryPolicy } from './deliver';
import { decide, type Transition } from './lifecycle';
import type { Alert, ChannelName, Notice } from './model';
import { normalise } from './normalise';
import { DEFAULT_CLAIM_TTL_MS, deliverTransition, type DeliveryOutcome, type OutboxOptions } from './outbox';
import { route } from './route';
import { listSilences, silencedBy, type Silence } from './silences';
import { fileNotice, updateIncident } from './state';

/**
 * The fan-out, composed in one place as Alertmanager's notify pipeline is:
 * decode -> normalise -> route -> mute -> dedup -> deliver with retry -> record.
 * Each stage is its own module; this function only wires them. The function entry point and `mt-ops alerts send`
 * both call it, with the same state in the bucket.
 */
export interface FanoutDeps {
  store: ObjectStore;
  env: string;
  logger: Logger;
  routing: Routing;
  maintenance: readonly MaintenanceWindow[];
  channels: Partial<Record<ChannelName, Channel>>;
  deadLetter: DeadLetterSink;
  retry?: RetryPolicy;
  /** Failed invocations before a non-critical delivery is dead-lettered (critical ones are kept and retried). */
  maxInvocations?: number;
  claimTtlMs?: number;
  now?: () => Date;
  /** Aborted when the instance stops (`npm start` on SIGINT/SIGTERM): deliveries make no further attempt. */
  signal?: AbortSignal;
  /** Silences, when the caller has them already (the sweep); otherwise read from the bucket per message. */
  silences?: Silence[];
}

export interface AlertOutcome {
  fingerprint: string;
  status: Alert['status'];
  severity: Alert['severity'];
  receivers: string[];
  mutedBy?: string;
  why: string;
  transition?: Transition;
  deliveries: DeliveryOutcome[];
}

export interface FanoutResult {
  poison?: { reason: string; excerpt: string };
  alerts: AlertOutcome[];
  notices: number;
  /** Some delivery is still owed: the message must be retried (the function fails, Pub/Sub redelivers). */
  retry: boolean;
}

let poisonCount = 0;
/** Poison messages seen by this process (also one log line each, `poison: true`, for a log-based metric). */
export function poisonCounter(): number {
  return poisonCount;
}

export async function fanout(deps: FanoutDeps, input: DecodedInput): Promise<FanoutResult> {
  if (input.kind === 'poison') {
    poisonCount += 1;
    deps.logger.error(
      { poison: true, poisonCount, reason: input.reason, excerpt: input.excerpt, messageId: input.messageId },
      `alert message rejected (acknowledged, not retried): ${input.reason}`,
    );
    return { poison: { reason: input.reason, excerpt: input.excerpt }, alerts: [], notices: 0, retry: false };
  }
  const now = (deps.now ?? (() => new Date()))();
  const { alerts, notices } = normalise(input, deps.env);
  for (const [i, notice] of notices.entries())
    await fileNotice(deps.store, deps.env, notice, `${input.messageId}#${i}`);
  const silences = alerts.some((a) => a.status === 'firing')
    ? (deps.silences ?? (await listSilences(deps.store, deps.env)))
    : [];
  const outcomes = await Promise.all(alerts.map((alert) => handleAlert(deps, alert, input.messageId, now, silences)));
  return {
    alerts: outcomes,
    notices: notices.length,
    retry: outcomes.some((o) => o.deliveries.some((d) => d.pending)),
  };
}

/** Route, mute, dedup, deliver and record one alert. Also the sweep's entry (reminders, sends held by a window). */
export async function handleAlert(
  deps: FanoutDeps,
  alert: Alert,
  messageId: string,
  now: Date,
  silences: Silence[],
): Promise<AlertOutcome> {
  const receivers = route(deps.routing, alert);
  const mutedBy = alert.status === 'firing' ? muteReason(deps, alert, now, silences) : undefined;
  const decision = await updateIncident(deps.store, deps.env, alert.fingerprint, (state) =>
    decide(state, alert, {
      now,
      messageId,
      repeatIntervalMs: deps.routing.repeatIntervalHours * 3_600_000,
      receivers,
      mutedBy,
    }),
  );
  const outcome: AlertOutcome = {
    fingerprint: alert.fingerprint,
    status: alert.status,
    severity: alert.severity,
    receivers,
    ...(mutedBy ? { mutedBy } : {}),
    why: decision.why,
    deliveries: [],
  };
  const t = decision.transition;
  if (!t) {
    deps.logger.info(
      { fingerprint: alert.fingerprint, why: decision.why },
      `alert ${alert.fingerprint}: nothing to send (${decision.why})`,
    );
    return outcome;
  }
  outcome.transition = t;
  // the digest's record of the incident (an info alert routed to the digest is this notice too)
  if (t.kind !== 'reminder')
    await fileNotice(
      deps.store,
      deps.env,
      incidentNotice(decision.state.alert, t, decision.state.startsAt),
      `transition:${alert.fingerprint}:${t.seq}`,
    );
  outcome.deliveries = await deliverTransition(
    outboxOptions(deps),
    decision.state.alert,
    t,
    deps.channels,
    decision.state.seq,
  );
  return outcome;
}

/** Stage 4, mute: a maintenance window (unless the alert is labelled to ignore maintenance) or an active silence. */
/** The outbox's settings from the fan-out's dependencies, with their defaults (the pipeline and the sweep). */
export function outboxOptions(deps: FanoutDeps): OutboxOptions {
  return {
    store: deps.store,
    env: deps.env,
    logger: deps.logger,
    retry: deps.retry ?? DEFAULT_RETRY,
    deadLetter: deps.deadLetter,
    maxInvocations: deps.maxInvocations ?? 5,
    claimTtlMs: deps.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS,
    now: deps.now ?? (() => new Date()),
    ...(deps.signal ? { signal: deps.signal } : {}),
  };
}

export function muteReason(
  deps: Pick<FanoutDeps, 'maintenance' | 'routing'>,
  alert: Alert,
  now: Date,
  silences: readonly Silence[],
): string | undefined {
  const silence = silencedBy(silences, alert, now);
  if (silence) return `silence ${silence.id}`;
  if (alert.labels[deps.routing.ignoreMaintenanceLabel] !== 'true') {
    const window = activeWindow(deps.maintenance, now);
    if (window) return `maintenance window ${window.name} (until ${window.end.toISOString()})`;
  }
  return undefined;
}

function incidentNotice(alert: Alert, t: Transition, startsAt: string): Notice {
  if (t.kind === 'resolved') {
    const minutes = Math.max(0, Math.round((Date.parse(alert.endsAt ?? t.at) - Date.parse(startsAt)) / 60_000));
    return {
      type: 'incident.closed',
      env: alert.env,
      time: t.at,
      title: `Incident closed: ${alert.title}`,
      summary: `${alert.severity}, lasted ${minutes} min`,
    };
  }
  return {
    type: 'incident.opened',
    env: alert.env,
    time: t.at,
    title: `Incident opened: ${alert.title}`,
    summary: alert.summary ? `${alert.severity}: ${alert.summary}` : alert.severity,
  };
}
