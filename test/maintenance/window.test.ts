import { describe, it, expect } from 'vitest';
import {
  activeWindow,
  inMaintenance,
  instantOfWallClock,
  nextWindow,
  MaintenanceSectionSchema,
  type MaintenanceWindow,
} from '../../shared/maintenance/window';
import { formatIssues } from '../../shared/errors';

const monthly: MaintenanceWindow = {
  name: 'monthly',
  cron: '0 2 * * 0#1',
  durationMinutes: 120,
  timeZone: 'America/New_York',
};
// 01:00-04:00 local every day: crosses both DST changes of 2026 in New York (Mar 8 02:00 -> 03:00, Nov 1 02:00 -> 01:00)
const nightly: MaintenanceWindow = {
  name: 'nightly',
  cron: '0 1 * * *',
  durationMinutes: 180,
  timeZone: 'America/New_York',
};
const utc: MaintenanceWindow = { name: 'utc', cron: '30 23 * * *', durationMinutes: 60, timeZone: 'UTC' };

describe("maintenance windows (pure, DST-correct: wall-clock start and end in the window's zone)", () => {
  it.each<[string, MaintenanceWindow, string, string | undefined]>([
    // the monthly window: first Sunday 02:00-04:00 New York
    ['a minute before the monthly window (Dec 6, EST)', monthly, '2026-12-06T06:59:00Z', undefined],
    [
      'the monthly window opens (02:00 EST = 07:00Z)',
      monthly,
      '2026-12-06T07:00:00Z',
      '2026-12-06T07:00:00.000Z/2026-12-06T09:00:00.000Z',
    ],
    [
      'the last minute of the monthly window',
      monthly,
      '2026-12-06T08:59:59Z',
      '2026-12-06T07:00:00.000Z/2026-12-06T09:00:00.000Z',
    ],
    ['the monthly window has closed (end is exclusive)', monthly, '2026-12-06T09:00:00Z', undefined],
    ['the second Sunday is not the first', monthly, '2026-12-13T07:30:00Z', undefined],
    [
      'a Sunday in summer (EDT: 02:00 = 06:00Z)',
      monthly,
      '2026-07-05T06:30:00Z',
      '2026-07-05T06:00:00.000Z/2026-07-05T08:00:00.000Z',
    ],
    // fall back, Nov 1: 01:00 EDT (05:00Z) to 04:00 EST (09:00Z) is four hours of elapsed time
    [
      'fall back: inside the first 01:00-02:00',
      nightly,
      '2026-11-01T05:30:00Z',
      '2026-11-01T05:00:00.000Z/2026-11-01T09:00:00.000Z',
    ],
    [
      'fall back: inside the repeated 01:00-02:00',
      nightly,
      '2026-11-01T06:30:00Z',
      '2026-11-01T05:00:00.000Z/2026-11-01T09:00:00.000Z',
    ],
    [
      'fall back: 03:59 EST is still inside',
      nightly,
      '2026-11-01T08:59:00Z',
      '2026-11-01T05:00:00.000Z/2026-11-01T09:00:00.000Z',
    ],
    ['fall back: 04:00 EST is outside', nightly, '2026-11-01T09:00:00Z', undefined],
    // spring forward, Mar 8: 01:00 EST (06:00Z) to 04:00 EDT (08:00Z) is two hours of elapsed time
    ['spring forward: 01:30 EST', nightly, '2026-03-08T06:30:00Z', '2026-03-08T06:00:00.000Z/2026-03-08T08:00:00.000Z'],
    [
      'spring forward: 03:59 EDT is inside',
      nightly,
      '2026-03-08T07:59:00Z',
      '2026-03-08T06:00:00.000Z/2026-03-08T08:00:00.000Z',
    ],
    ['spring forward: 04:00 EDT is outside', nightly, '2026-03-08T08:00:00Z', undefined],
    // a window that spans midnight finds yesterday's start
    [
      'a window across midnight, after midnight',
      utc,
      '2026-01-01T00:10:00Z',
      '2025-12-31T23:30:00.000Z/2026-01-01T00:30:00.000Z',
    ],
    ['a window across midnight, after its end', utc, '2026-01-01T00:30:00Z', undefined],
  ])('%s', (_name, window, at, expected) => {
    const hit = activeWindow([window], new Date(at));
    expect(hit ? `${hit.start.toISOString()}/${hit.end.toISOString()}` : undefined).toBe(expected);
  });

  it('asked again and again, in any order, one window object answers as a fresh one does (the known span is memoised)', () => {
    const times: number[] = [];
    for (let t = Date.parse('2026-10-31T00:00:00Z'); t < Date.parse('2026-11-02T00:00:00Z'); t += 7 * 60_000)
      times.push(t);
    for (let t = Date.parse('2026-12-06T06:00:00Z'); t < Date.parse('2026-12-06T10:00:00Z'); t += 60_000) times.push(t);
    // forward, backward and interleaved
    const order = [
      ...times,
      ...[...times].reverse(),
      ...times.filter((_, i) => i % 2),
      ...times.filter((_, i) => i % 2 === 0),
    ];
    const show = (hit: ReturnType<typeof activeWindow>) =>
      hit ? `${hit.name} ${hit.start.toISOString()}/${hit.end.toISOString()}` : '-';
    for (const w of [monthly, nightly]) {
      for (const t of order)
        expect(show(activeWindow([w], new Date(t))), `${w.name} ${new Date(t).toISOString()}`).toBe(
          show(activeWindow([{ ...w }], new Date(t))),
        );
    }
  });

  it('the first matching window in config order names the occurrence', () => {
    const at = new Date('2026-12-06T07:30:00Z'); // inside both: nightly 06:00-09:00Z and monthly 07:00-09:00Z
    expect(activeWindow([nightly, monthly], at)?.name).toBe('nightly');
    expect(activeWindow([monthly, nightly], at)?.name).toBe('monthly');
  });

  it.each<[string, number, string]>([
    ['an ordinary wall time', Date.UTC(2026, 0, 15, 12, 0), '2026-01-15T17:00:00.000Z'],
    ['a skipped wall time moves forward by the gap', Date.UTC(2026, 2, 8, 2, 30), '2026-03-08T07:30:00.000Z'],
    ['a repeated wall time is its first occurrence', Date.UTC(2026, 10, 1, 1, 30), '2026-11-01T05:30:00.000Z'],
  ])('instantOfWallClock: %s', (_name, wall, expected) => {
    expect(new Date(instantOfWallClock(wall, 'America/New_York')).toISOString()).toBe(expected);
  });

  it.each<[string, MaintenanceWindow[], string, string | undefined]>([
    [
      'the next monthly window from late November (EST)',
      [monthly],
      '2026-11-29T12:00:00Z',
      'monthly 2026-12-06T07:00:00.000Z/2026-12-06T09:00:00.000Z',
    ],
    [
      'inside a window, the next one is the following occurrence',
      [monthly],
      '2026-12-06T07:30:00Z',
      'monthly 2027-01-03T07:00:00.000Z/2027-01-03T09:00:00.000Z',
    ],
    [
      'the earliest of several windows wins',
      [monthly, utc],
      '2026-11-29T12:00:00Z',
      'utc 2026-11-29T23:30:00.000Z/2026-11-30T00:30:00.000Z',
    ],
    [
      'its end is wall-clock: the nightly window on the night clocks fall back lasts four hours',
      [nightly],
      '2026-10-31T12:00:00Z',
      'nightly 2026-11-01T05:00:00.000Z/2026-11-01T09:00:00.000Z',
    ],
    ['no windows: none', [], '2026-11-29T12:00:00Z', undefined],
  ])('nextWindow: %s', (_name, windows, at, expected) => {
    const next = nextWindow(windows, new Date(at));
    expect(next ? `${next.name} ${next.start.toISOString()}/${next.end.toISOString()}` : undefined).toBe(expected);
  });

  it('no windows: never in maintenance', () => {
    expect(inMaintenance([], new Date('2026-12-06T07:30:00Z'))).toBe(false);
  });

  it('the section defaults to the monthly window and refuses bad entries with their path', () => {
    expect(MaintenanceSectionSchema.parse(undefined)).toEqual([monthly]);
    const result = MaintenanceSectionSchema.safeParse([
      { name: 'x', cron: 'every sunday', durationMinutes: 0, timeZone: 'Mars/Olympus' },
    ]);
    expect(formatIssues(result.error!)).toEqual([
      '[0].cron: must be a valid 5-field cron expression',
      '[0].durationMinutes: Too small: expected number to be >=1',
      '[0].timeZone: must be an IANA time zone',
    ]);
  });
});
