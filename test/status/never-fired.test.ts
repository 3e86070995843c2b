/**
 * A resolve with no firing before it is no incident: every successful backup publishes `backup.succeeded`, which
 * resolves `mt-ops/<env>/backup`; on a clean record the fan-out keeps that resolve (to absorb a late firing), and the
 * status page listed it as a resolved critical "Backup failed" incident lasting from the first success to the last.
 */
import { describe, it, expect } from 'vitest';
import { normaliseEvent } from '../../shared/alerts/normalise';
import { decide, type IncidentState } from '../../shared/alerts/lifecycle';
import { statusOf, type StatusState } from '../../shared/status/model';
import type { OpsEvent } from '../../shared/bus/events';

const succeeded = (time: string, backupId: string): OpsEvent => ({
  type: 'backup.succeeded',
  severity: 'info',
  env: 'local',
  time,
  backupId,
  trigger: 'manual',
  bytes: 4600,
  rows: 520,
  tables: 2,
  durationMs: 70,
});

function afterEvents(events: OpsEvent[], seed?: IncidentState): IncidentState | undefined {
  let state = seed;
  events.forEach((event, n) => {
    const [alert] = normaliseEvent(event).alerts;
    const now = new Date(event.time);
    state = decide(state, alert!, { now, messageId: `m${n}`, repeatIntervalMs: 4 * 3_600_000, receivers: [] }).state;
  });
  return state;
}

const page = (incidents: IncidentState[], now: string) =>
  statusOf(
    {
      env: 'local',
      title: 'Missing Table status',
      refreshSeconds: 60,
      internalHosts: [],
      hiddenHosts: [],
      probes: [],
      backups: [],
      backupMaxAgeHours: 26,
      verifyMaxAgeDays: 8,
      retention: { policy: 'within 30 days', minKeep: 3 },
      incidents,
      silences: [],
      maintenance: [],
    } satisfies StatusState,
    new Date(now),
  );

describe('status page: resolves with no firing before them', () => {
  it('two successful backups show no "Backup failed" incident', () => {
    const state = afterEvents([
      succeeded('2026-11-29T08:00:00.000Z', 'b1'),
      succeeded('2026-11-30T08:00:00.000Z', 'b2'),
    ]);
    expect(state).toMatchObject({ status: 'resolved', fingerprint: 'mt-ops/local/backup' });
    expect(page([state!], '2026-11-30T09:00:00.000Z').incidents.resolved).toEqual([]);
  });

  it('a failed backup then a successful one is still shown, with its duration', () => {
    const state = afterEvents([
      succeeded('2026-11-28T08:00:00.000Z', 'b0'),
      {
        type: 'backup.failed',
        severity: 'critical',
        env: 'local',
        time: '2026-11-29T08:00:00.000Z',
        reason: 'boom',
        table: 'public.t',
      } as OpsEvent,
      succeeded('2026-11-29T09:00:00.000Z', 'b1'),
    ]);
    const [shown] = page([state!], '2026-11-30T09:00:00.000Z').incidents.resolved;
    expect(shown).toMatchObject({ severity: 'critical', durationMs: 3_600_000 });
  });
});
