/** Fan-out stage 5, dedup: the incident state per fingerprint and what a new alert means for it (pure). */
import type { Severity } from '../bus/events';
import type { Alert, Receiver } from './model';

/**
 * Stage 5, dedup: the incident state per fingerprint and the pure decision of what a new alert means for it.
 * A firing incident notifies once and reminds every repeat interval, and again at once when it escalates (the same
 * fingerprint firing at a higher severity than was sent: routed anew, so a warning that becomes critical pages);
 * a resolve goes out at once, and only if the firing did (to its route's receivers and every one its firings reached); the same message id always maps to the same transition (so a redelivery resends only the
 * channels that failed); a resolve that arrives before its firing is kept, and the late firing is recognised
 * by its start time and ignored.
 */
export type TransitionKind = 'firing' | 'reminder' | 'resolved';

export interface Transition {
  seq: number;
  kind: TransitionKind;
  /** When it was decided (ISO): the outbox and the log file it under this time. */
  at: string;
  receivers: Receiver[];
  messageId: string;
}

export interface IncidentState {
  fingerprint: string;
  status: 'firing' | 'resolved';
  startsAt: string;
  endsAt?: string;
  /** The latest alert seen (what reminders and the post-maintenance send carry). */
  alert: Alert;
  /** A firing notification went out for the current incident (so its resolve is due). */
  notified: boolean;
  lastNotifiedAt?: string;
  /**
   * The severity the last firing (or reminder) went out at: a firing above it is an escalation, sent at once.
   * Absent in documents written before: the latest alert's severity stands in.
   */
  notifiedSeverity?: Severity;
  /** Why the current firing has not been sent (maintenance window name or silence id). */
  mutedBy?: string;
  /**
   * Resolved with no firing ever seen (a `backup.succeeded` with no failure before it): kept only to absorb a late
   * firing, never an incident that happened (the status page leaves it out). Dropped when a firing opens one.
   */
  neverFired?: true;
  seq: number;
  transitions: Transition[];
  /**
   * Message ids already handled, with the transition each produced (0: none), oldest first. Bounded. (Documents
   * written before this was a list hold an object of id -> seq: still read.)
   */
  messages: Array<[string, number]> | Record<string, number>;
}

export interface DecideOptions {
  now: Date;
  messageId: string;
  repeatIntervalMs: number;
  receivers: Receiver[];
  /** Why the alert is muted now, if it is. */
  mutedBy?: string;
}

export interface Decision {
  state: IncidentState;
  /** The transition to deliver (new, or the one a redelivered message produced), if any. */
  transition?: Transition;
  /** True when nothing changed (a redelivery): no write is needed. */
  unchanged: boolean;
  why: string;
}

const KEEP_MESSAGES = 64;
const KEEP_TRANSITIONS = 32;

/** The handled message ids, oldest first (an older document's id -> seq object read as a list). */
function recentMessages(s: IncidentState): Array<[string, number]> {
  const m = s.messages;
  if (Array.isArray(m)) return m;
  return m && typeof m === 'object' ? Object.entries(m) : [];
}

export function decide(state: IncidentState | undefined, alert: Alert, o: DecideOptions): Decision {
  const seen = state ? recentMessages(state) : [];
  const handled = o.messageId ? seen.find(([id]) => id === o.messageId) : undefined;
  if (state && handled) {
    const seq = handled[1];
    return {
      state,
      transition: state.transitions.find((t) => t.seq === seq),
      unchanged: true,
      why: 'redelivered message',
    };
  }
  const at = o.now.toISOString();
  const next = (
    s: IncidentState,
    kind: TransitionKind | undefined,
    why: string,
    receivers: Receiver[] = o.receivers,
  ): Decision => {
    let transition: Transition | undefined;
    let seq = s.seq;
    if (kind) {
      seq += 1;
      transition = { seq, kind, at, receivers, messageId: o.messageId };
    }
    // the newest KEEP_MESSAGES ids, as a list (an object with a new key per message cost ten times the decision)
    const messages: Array<[string, number]> = o.messageId
      ? [...recentMessages(s), [o.messageId, transition?.seq ?? 0]]
      : recentMessages(s);
    if (messages.length > KEEP_MESSAGES) messages.splice(0, messages.length - KEEP_MESSAGES);
    return {
      state: {
        ...s,
        seq,
        messages,
        transitions: transition ? [...s.transitions, transition].slice(-KEEP_TRANSITIONS) : s.transitions,
      },
      transition,
      unchanged: false,
      why,
    };
  };
  const t = (iso: string | undefined) => (iso ? Date.parse(iso) : NaN);

  if (alert.status === 'firing') {
    const fresh = (): IncidentState => ({
      fingerprint: alert.fingerprint,
      status: 'firing',
      startsAt: alert.startsAt,
      alert,
      notified: !o.mutedBy,
      ...(o.mutedBy ? { mutedBy: o.mutedBy } : { lastNotifiedAt: at, notifiedSeverity: alert.severity }),
      seq: state?.seq ?? 0,
      transitions: state?.transitions ?? [],
      messages: state ? recentMessages(state) : [],
    });
    if (!state)
      return next(fresh(), o.mutedBy ? undefined : 'firing', o.mutedBy ? `muted by ${o.mutedBy}` : 'new incident');
    if (state.status === 'resolved') {
      // A firing that started before the recorded resolve belongs to the incident already over (late or out of order).
      if (t(alert.startsAt) <= t(state.endsAt ?? state.startsAt))
        return next(state, undefined, 'stale firing: the incident was resolved after it started');
      return next(fresh(), o.mutedBy ? undefined : 'firing', o.mutedBy ? `muted by ${o.mutedBy}` : 'incident reopened');
    }
    // Still firing.
    const updated: IncidentState = { ...state, alert: { ...alert, startsAt: state.startsAt } };
    if (o.mutedBy) return next({ ...updated, mutedBy: o.mutedBy }, undefined, `muted by ${o.mutedBy}`);
    if (!state.notified) {
      const { mutedBy: _m, ...rest } = updated;
      return next(
        { ...rest, notified: true, lastNotifiedAt: at, notifiedSeverity: alert.severity },
        'firing',
        'no longer muted: sent now',
      );
    }
    if (escalated(state, alert.severity)) {
      const { mutedBy: _m, ...rest } = updated;
      return next(
        { ...rest, lastNotifiedAt: at, notifiedSeverity: alert.severity },
        'firing',
        `escalated to ${alert.severity}: sent now`,
      );
    }
    if (o.now.getTime() - t(state.lastNotifiedAt) >= o.repeatIntervalMs)
      return next(
        { ...updated, lastNotifiedAt: at, notifiedSeverity: higher(alert.severity, notifiedSeverity(state)) },
        'reminder',
        'still firing: reminder',
      );
    return next(updated, undefined, 'still firing: already notified');
  }

  // Resolved.
  const endsAt = alert.endsAt ?? at;
  if (!state) {
    return next(
      {
        fingerprint: alert.fingerprint,
        status: 'resolved',
        startsAt: alert.startsAt,
        endsAt,
        alert,
        notified: false,
        neverFired: true,
        seq: 0,
        transitions: [],
        messages: [],
      },
      undefined,
      'resolved before any firing was seen',
    );
  }
  if (state.status === 'resolved') {
    const later = t(endsAt) > t(state.endsAt) ? { endsAt } : {};
    return next({ ...state, ...later }, undefined, 'already resolved');
  }
  if (t(endsAt) < t(state.startsAt))
    return next(state, undefined, 'stale resolve: ended before the current incident started');
  const { mutedBy: _m, ...rest } = state;
  const resolved: IncidentState = {
    ...rest,
    status: 'resolved',
    endsAt,
    alert: { ...alert, startsAt: state.startsAt },
    notified: false,
  };
  return next(
    resolved,
    state.notified ? 'resolved' : undefined,
    state.notified ? 'resolved' : 'resolved while muted: nobody was told',
    withNotified(o.receivers, state),
  );
}

/**
 * A resolve's receivers: its own route's, and every receiver the incident's firings went to since it last resolved
 * (a firing, an escalation, a reminder). Routed alone, a resolve that lacks what its firing was routed by (the labels
 * of a probe since removed, a routing tree changed meanwhile) would leave a PagerDuty incident open for good.
 */
function withNotified(receivers: Receiver[], state: IncidentState): Receiver[] {
  const all = new Set(receivers);
  for (let i = state.transitions.length - 1; i >= 0; i--) {
    const t = state.transitions[i]!;
    if (t.kind === 'resolved') break;
    for (const r of t.receivers) all.add(r);
  }
  return [...all];
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** The severity the incident's last firing went out at (documents of before: the latest alert's). */
function notifiedSeverity(state: IncidentState): Severity {
  return state.notifiedSeverity ?? state.alert.severity;
}

function higher(a: Severity, b: Severity): Severity {
  return RANK[a] >= RANK[b] ? a : b;
}

/** A notified firing incident now at a severity above the one it was sent at (a warning become critical). */
function escalated(state: IncidentState, severity: Severity): boolean {
  return state.notified && RANK[severity] > RANK[notifiedSeverity(state)];
}

/**
 * The sweep's question for a firing incident no message has touched: is something due now? A firing held back by a
 * maintenance window or a silence that no longer mutes it, or a reminder whose repeat interval has passed. Pure.
 */
export function sweepDue(
  state: IncidentState,
  now: Date,
  repeatIntervalMs: number,
  mutedBy: string | undefined,
): boolean {
  if (state.status !== 'firing' || mutedBy) return false;
  if (!state.notified || escalated(state, state.alert.severity)) return true;
  return now.getTime() - Date.parse(state.lastNotifiedAt ?? state.startsAt) >= repeatIntervalMs;
}

/**
 * The message id the sweep decides under: one per incident and time slot, so two sweeps at once (or a redelivered
 * sweep trigger) map to the same transition and send once.
 */
export function sweepMessageId(fingerprint: string, now: Date, repeatIntervalMs: number): string {
  return `sweep:${fingerprint}:${Math.floor(now.getTime() / Math.min(repeatIntervalMs, 5 * 60_000))}`;
}
