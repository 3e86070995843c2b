/**
 * What a report (mt-ops uptime, its --json) says of a stored state at a later time (plan.ts summarize): a stored
 * `maintenance` is `unknown` once no maintenance window covers the time asked (README: "After a maintenance window the
 * status is `unknown` until the samples decide"), as the next sample would make it, without waiting for that sample.
 */
import { describe, it, expect } from 'vitest';
import { ProbeSchema } from '../../shared/probes/config';
import { summarize } from '../../shared/probes/plan';
import { emptyState, type ProbeState } from '../../shared/probes/state';
import type { MaintenanceWindow } from '../../shared/maintenance/window';

const shortWin: MaintenanceWindow = { name: 'short-win', cron: '51 15 * * *', durationMinutes: 1, timeZone: 'UTC' };
const always: MaintenanceWindow = { name: 'always', cron: '* * * * *', durationMinutes: 1, timeZone: 'UTC' };

/** A state recorded inside short-win (its one sample at 15:51:04), or another status at the same time. */
function stored(status: ProbeState['status']): ProbeState {
  const at = '2026-11-30T15:51:04.000Z';
  return { ...emptyState('mw', at), status, since: at, lastRunAt: at, samples: 1 };
}

const at = (hms: string) => new Date(`2026-11-30T${hms}Z`);

describe('summarize: the status a report shows', () => {
  const cases: Array<{
    what: string;
    status: ProbeState['status'];
    windows: readonly MaintenanceWindow[] | undefined;
    now: Date;
    ignoreMaintenance?: boolean;
    expected: { status: ProbeState['status']; since: string };
  }> = [
    {
      what: 'inside the window: maintenance, since the sample that entered it',
      status: 'maintenance',
      windows: [shortWin],
      now: at('15:51:30'),
      expected: { status: 'maintenance', since: '2026-11-30T15:51:04.000Z' },
    },
    {
      what: "the window ended (the tester's 15:52:02): unknown, since the window ended",
      status: 'maintenance',
      windows: [shortWin],
      now: at('15:52:02'),
      expected: { status: 'unknown', since: '2026-11-30T15:52:00.000Z' },
    },
    {
      what: 'the window ended, a day later: unknown',
      status: 'maintenance',
      windows: [shortWin],
      now: new Date('2026-12-01T15:50:00Z'),
      expected: { status: 'unknown', since: '2026-11-30T15:52:00.000Z' },
    },
    {
      what: 'the next occurrence of the same window: maintenance again (as a sample now would be)',
      status: 'maintenance',
      windows: [shortWin],
      now: new Date('2026-12-01T15:51:30Z'),
      expected: { status: 'maintenance', since: '2026-11-30T15:51:04.000Z' },
    },
    {
      what: 'the window removed from the configuration: unknown, since the last sample',
      status: 'maintenance',
      windows: [],
      now: at('15:51:30'),
      expected: { status: 'unknown', since: '2026-11-30T15:51:04.000Z' },
    },
    {
      what: 'another window covers now: maintenance',
      status: 'maintenance',
      windows: [shortWin, always],
      now: at('15:52:02'),
      expected: { status: 'maintenance', since: '2026-11-30T15:51:04.000Z' },
    },
    {
      what: 'a probe now ignoring maintenance, in a window: unknown (its next sample leaves maintenance)',
      status: 'maintenance',
      windows: [shortWin],
      now: at('15:51:30'),
      ignoreMaintenance: true,
      expected: { status: 'unknown', since: '2026-11-30T15:51:04.000Z' },
    },
    {
      what: 'up after the window: up (only a stored maintenance is read against the windows)',
      status: 'up',
      windows: [shortWin],
      now: at('15:52:02'),
      expected: { status: 'up', since: '2026-11-30T15:51:04.000Z' },
    },
    {
      what: 'down inside a window: down (the stored status is what the samples said)',
      status: 'down',
      windows: [always],
      now: at('15:52:02'),
      expected: { status: 'down', since: '2026-11-30T15:51:04.000Z' },
    },
    {
      what: 'no windows given (a run summarising the state it just wrote): the stored status',
      status: 'maintenance',
      windows: undefined,
      now: at('15:52:02'),
      expected: { status: 'maintenance', since: '2026-11-30T15:51:04.000Z' },
    },
  ];
  for (const c of cases)
    it(c.what, () => {
      const config = ProbeSchema.parse({
        name: 'mw',
        url: 'http://127.0.0.1:9/health',
        ignoreMaintenance: c.ignoreMaintenance ?? false,
      });
      const s = summarize(config, stored(c.status), c.now, c.windows);
      expect({ status: s.status, since: s.since }).toEqual(c.expected);
    });
});
