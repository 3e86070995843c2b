import { describe, it, expect } from 'vitest';
import { applyPolicy, isoWeek, POLICY_RULES, type PolicyInput } from '../../shared/retention/policy';
import type { RetentionPolicy } from '../../shared/retention/policy';
import { UsageError } from '../../shared/errors';

const b = (time: string, verified = false): PolicyInput => ({ id: time, time: new Date(time), verified });
const NOW = new Date('2026-11-29T12:00:00Z');

function decide(backups: PolicyInput[], policy: RetentionPolicy, minKeep = 1, now = NOW) {
  const decisions = applyPolicy(backups, policy, { minKeep, now });
  return {
    kept: decisions.filter((d) => d.keep).map((d) => d.backup.id),
    removed: decisions.filter((d) => !d.keep).map((d) => d.backup.id),
    reasons: Object.fromEntries(decisions.map((d) => [d.backup.id, d.reasons])),
  };
}

/** One backup a day at 03:00 UTC from `from` for `days` days. */
function daily(from: string, days: number): PolicyInput[] {
  const start = new Date(from).getTime();
  return Array.from({ length: days }, (_, i) => b(new Date(start + i * 86_400_000).toISOString()));
}

describe('ISO weeks', () => {
  it.each([
    ['2026-11-29T23:59:59Z', '2026-W48'], // Sunday ends week 48
    ['2026-11-30T00:00:00Z', '2026-W49'], // Monday starts week 49
    ['2027-01-01T00:00:00Z', '2026-W53'], // Friday: still 2026's last week
    ['2026-01-01T00:00:00Z', '2026-W01'], // Thursday: week 1 of 2026
    ['2024-12-30T00:00:00Z', '2025-W01'], // Monday of 2025's week 1
    ['2021-01-03T00:00:00Z', '2020-W53'],
  ])('%s is %s', (date, week) => {
    expect(isoWeek(new Date(date))).toBe(week);
  });
});

describe('rules', () => {
  it.each<[string, PolicyInput[], RetentionPolicy, string[]]>([
    [
      'keepLast keeps the N newest',
      daily('2026-11-20T03:00:00Z', 5),
      { keepLast: 2 },
      ['2026-11-24T03:00:00.000Z', '2026-11-23T03:00:00.000Z'],
    ],
    [
      'keepDaily keeps the newest of each day, several backups in one day',
      [
        b('2026-11-28T03:00:00Z'),
        b('2026-11-28T15:00:00Z'),
        b('2026-11-28T23:59:59Z'),
        b('2026-11-27T10:00:00Z'),
        b('2026-11-26T10:00:00Z'),
      ],
      { keepDaily: 2 },
      ['2026-11-28T23:59:59Z', '2026-11-27T10:00:00Z'],
    ],
    [
      'keepHourly keeps the newest of each hour',
      [b('2026-11-28T03:10:00Z'), b('2026-11-28T03:50:00Z'), b('2026-11-28T02:59:00Z'), b('2026-11-28T01:00:00Z')],
      { keepHourly: 2 },
      ['2026-11-28T03:50:00Z', '2026-11-28T02:59:00Z'],
    ],
    [
      'keepWeekly uses ISO weeks (Sunday and Monday fall in different weeks)',
      [b('2026-11-30T03:00:00Z'), b('2026-11-29T03:00:00Z'), b('2026-11-23T03:00:00Z'), b('2026-11-22T03:00:00Z')],
      { keepWeekly: 2 },
      ['2026-11-30T03:00:00Z', '2026-11-29T03:00:00Z'],
    ],
    [
      'keepMonthly keeps the newest of each month, across a year boundary',
      [
        b('2027-01-01T00:30:00Z'),
        b('2026-12-31T23:30:00Z'),
        b('2026-12-01T03:00:00Z'),
        b('2026-11-30T03:00:00Z'),
        b('2026-10-15T03:00:00Z'),
      ],
      { keepMonthly: 3 },
      ['2027-01-01T00:30:00Z', '2026-12-31T23:30:00Z', '2026-11-30T03:00:00Z'],
    ],
    [
      'keepYearly keeps the newest of each year',
      [
        b('2026-01-01T00:00:00Z'),
        b('2025-12-31T23:59:59Z'),
        b('2025-06-01T00:00:00Z'),
        b('2024-03-01T00:00:00Z'),
        b('2023-03-01T00:00:00Z'),
      ],
      { keepYearly: 3 },
      ['2026-01-01T00:00:00Z', '2025-12-31T23:59:59Z', '2024-03-01T00:00:00Z'],
    ],
    [
      'calendar buckets skip long gaps: the N most recent buckets that have a backup',
      [b('2026-11-01T00:00:00Z'), b('2026-03-01T00:00:00Z'), b('2025-01-01T00:00:00Z'), b('2020-01-01T00:00:00Z')],
      { keepMonthly: 3 },
      ['2026-11-01T00:00:00Z', '2026-03-01T00:00:00Z', '2025-01-01T00:00:00Z'],
    ],
  ])('%s', (_name, backups, policy, kept) => {
    expect(decide(backups, policy, 1, new Date('2030-01-01T00:00:00Z')).kept).toEqual(kept);
  });

  it('rules are OR-ed and every kept backup lists each rule that keeps it', () => {
    const backups = [
      b('2026-11-28T03:00:00Z'),
      b('2026-11-27T03:00:00Z'),
      b('2026-10-31T03:00:00Z'),
      b('2026-10-01T03:00:00Z'),
    ];
    const { kept, reasons, removed } = decide(backups, { keepLast: 1, keepMonthly: 2 });
    expect(kept).toEqual(['2026-11-28T03:00:00Z', '2026-10-31T03:00:00Z']);
    expect(removed).toEqual(['2026-11-27T03:00:00Z', '2026-10-01T03:00:00Z']);
    expect(reasons['2026-11-28T03:00:00Z']).toEqual(['last 1', 'monthly 2026-11', 'floor: newest']);
    expect(reasons['2026-10-31T03:00:00Z']).toEqual(['monthly 2026-10']);
    expect(reasons['2026-10-01T03:00:00Z']).toEqual([]);
  });
});

describe("today's practice: 30 days plus the newest of each month", () => {
  const history = daily('2026-01-01T03:00:00Z', 333); // to 2026-11-29
  const { kept, reasons } = decide(history, { keepWithinDays: 30, keepMonthly: 12 }, 3);

  it('keeps every backup of the last 30 days and one per older month', () => {
    const recent = kept.filter((id) => id >= '2026-10-30');
    expect(recent).toHaveLength(31); // 2026-10-30 .. 2026-11-29 inclusive: within 30 days of the newest
    const older = kept.filter((id) => id < '2026-10-30');
    expect(older).toEqual([
      '2026-09-30T03:00:00.000Z',
      '2026-08-31T03:00:00.000Z',
      '2026-07-31T03:00:00.000Z',
      '2026-06-30T03:00:00.000Z',
      '2026-05-31T03:00:00.000Z',
      '2026-04-30T03:00:00.000Z',
      '2026-03-31T03:00:00.000Z',
      '2026-02-28T03:00:00.000Z',
      '2026-01-31T03:00:00.000Z',
    ]);
    expect(reasons['2026-09-30T03:00:00.000Z']).toEqual(['monthly 2026-09']);
  });

  it('measures keepWithinDays from the newest backup, not from now: a month of failed backups removes nothing new', () => {
    const later = new Date('2026-12-29T12:00:00Z'); // no backup since 2026-11-29
    const after = decide(history, { keepWithinDays: 30, keepMonthly: 12 }, 3, later);
    expect(after.kept).toEqual(kept);
  });
});

describe('floors', () => {
  it('the newest backup is always kept, and says so', () => {
    const { kept, reasons } = decide(daily('2025-01-01T00:00:00Z', 3), { keepYearly: 1 }, 1);
    expect(kept).toEqual(['2025-01-03T00:00:00.000Z']);
    expect(reasons['2025-01-03T00:00:00.000Z']).toEqual(['yearly 2025', 'floor: newest']);
  });

  it('the newest verified backup is kept', () => {
    const backups = [
      b('2026-11-28T03:00:00Z'),
      b('2026-11-27T03:00:00Z'),
      b('2026-11-26T03:00:00Z', true),
      b('2026-11-25T03:00:00Z', true),
    ];
    const { kept, reasons } = decide(backups, { keepLast: 1 });
    expect(kept).toEqual(['2026-11-28T03:00:00Z', '2026-11-26T03:00:00Z']);
    expect(reasons['2026-11-26T03:00:00Z']).toEqual(['floor: newest verified']);
  });

  it('at least minKeep backups remain', () => {
    const { kept, reasons } = decide(daily('2026-11-01T03:00:00Z', 10), { keepLast: 1 }, 3);
    expect(kept).toHaveLength(3);
    expect(reasons['2026-11-09T03:00:00.000Z']).toEqual(['floor: minKeep 3']);
  });

  it('a backup dated in the future is kept and does not move the window', () => {
    const backups = [b('2027-06-01T00:00:00Z'), ...daily('2026-11-20T03:00:00Z', 10)];
    const { kept, reasons } = decide(backups, { keepWithinDays: 3 });
    expect(reasons['2027-06-01T00:00:00Z']).toEqual(['dated in the future']);
    expect(kept).toEqual([
      '2027-06-01T00:00:00Z',
      '2026-11-29T03:00:00.000Z',
      '2026-11-28T03:00:00.000Z',
      '2026-11-27T03:00:00.000Z',
      '2026-11-26T03:00:00.000Z',
    ]);
    expect(reasons['2026-11-29T03:00:00.000Z']).toEqual(['within 3d of newest', 'floor: newest']);
  });

  it('an empty policy is refused', () => {
    expect(() => applyPolicy([b('2026-11-28T03:00:00Z')], {}, { minKeep: 3, now: NOW })).toThrow(UsageError);
    expect(() => applyPolicy([], { keepLast: 0, keepDaily: 0 }, { minKeep: 3, now: NOW })).toThrow(
      /empty retention policy/,
    );
  });

  it('no backups: nothing to decide', () => {
    expect(applyPolicy([], { keepLast: 3 }, { minKeep: 3, now: NOW })).toEqual([]);
  });
});

describe('floors hold whatever the input (seeded random histories)', () => {
  /** mulberry32: a small deterministic PRNG, so a failure can be replayed. */
  function rng(seed: number) {
    return () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const RULES = POLICY_RULES;

  it.each(Array.from({ length: 40 }, (_, seed) => seed + 1))('seed %i', (seed) => {
    const random = rng(seed);
    const count = Math.floor(random() * 60);
    const span = random() * 800 * 86_400_000; // up to ~2 years back, a few into the future
    const backups = Array.from({ length: count }, (_, i) => ({
      id: `b${String(i).padStart(3, '0')}`,
      time: new Date(NOW.getTime() - span + random() * span * 1.02),
      verified: random() < 0.2,
    }));
    const policy: RetentionPolicy = { [RULES[Math.floor(random() * RULES.length)]!]: 1 + Math.floor(random() * 5) };
    const minKeep = 1 + Math.floor(random() * 5);
    const decisions = applyPolicy(backups, policy, { minKeep, now: NOW });

    expect(decisions).toHaveLength(count);
    const present = decisions.filter((d) => d.backup.time <= NOW);
    if (present[0]) expect(present[0].keep).toBe(true);
    const newestVerified = present.find((d) => d.backup.verified);
    if (newestVerified) expect(newestVerified.keep).toBe(true);
    expect(decisions.filter((d) => d.keep).length).toBeGreaterThanOrEqual(Math.min(minKeep, count));
    for (const d of decisions) expect(d.keep).toBe(d.reasons.length > 0); // every kept backup says why; no removed one does
    for (let i = 1; i < decisions.length; i++)
      expect(decisions[i - 1]!.backup.time >= decisions[i]!.backup.time).toBe(true);
  });
});
