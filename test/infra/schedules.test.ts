import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { loadSchedules, loadTopics, nextRuns } from '../../shared/infra/schedules';
import { TOPICS } from '../../shared/bus/events';

describe('infra declarations', () => {
  it('declares every topic the code uses, and every job targets a declared topic', () => {
    const topics = loadTopics().topics.map((t) => t.name);
    for (const name of Object.values(TOPICS)) expect(topics).toContain(name);
    const jobs = loadSchedules();
    expect(jobs.map((j) => [j.name, j.topic])).toEqual([
      ['mt-ops-backup-nightly', 'mt-ops-backup-trigger'],
      ['mt-ops-retention-daily', 'mt-ops-retention-trigger'],
      ['mt-ops-verify-weekly', 'mt-ops-verify-trigger'],
    ]);
  });

  it.each([
    // the backup at 03:00 New York time, across the spring-forward and fall-back changes of 2026
    ['2026-03-07T12:00:00Z', ['2026-03-08T07:00:00.000Z', '2026-03-09T07:00:00.000Z']],
    ['2026-10-31T12:00:00Z', ['2026-11-01T08:00:00.000Z', '2026-11-02T08:00:00.000Z']],
    ['2026-11-29T07:59:00Z', ['2026-11-29T08:00:00.000Z', '2026-11-30T08:00:00.000Z']],
  ])('next backup runs after %s', (from, expected) => {
    const backup = loadSchedules().find((j) => j.name === 'mt-ops-backup-nightly')!;
    expect(nextRuns(backup, new Date(from), 2).map((d) => d.toISOString())).toEqual(expected);
  });

  it('the weekly verify runs on Mondays at 05:00 New York time', () => {
    const verify = loadSchedules().find((j) => j.name === 'mt-ops-verify-weekly')!;
    const runs = nextRuns(verify, new Date('2026-11-29T00:00:00Z'), 2);
    expect(runs.map((d) => d.toISOString())).toEqual(['2026-11-30T10:00:00.000Z', '2026-12-07T10:00:00.000Z']);
  });

  it('a bad schedules file reports the path of each problem', () => {
    const path = join(tempDir(), 'schedules.yaml');
    writeFileSync(path, 'jobs:\n  - name: Bad Name\n    cron: "61 * * * *"\n    timeZone: Mars/Olympus\n    topic: mt-ops-backup-trigger\n');
    let message = '';
    try {
      loadSchedules(path);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/jobs\[0\]\.name: /);
    expect(message).toMatch(/jobs\[0\]\.cron: must be a valid 5-field cron expression/);
    expect(message).toMatch(/jobs\[0\]\.timeZone: must be an IANA time zone/);
  });
});
