/** The retention job (the function's and `mt-ops cleanup`'s): what each trigger reports, through the one report. */
import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { UsageError } from '../../shared/errors';
import { retentionJob, retentionOptions } from '../../shared/retention/job';

function fileAsBucket() {
  const file = join(tempDir(), 'not-a-folder');
  writeFileSync(file, 'x');
  return testRuntime({ BACKUP_BUCKET: `file://${file}`, OPS_ENV: 'prod' });
}

describe('retention job', () => {
  it('publishes retention.completed with the counts', async () => {
    const rt = testRuntime({ BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: 'prod' });
    const result = await retentionJob(
      { ...rt, trigger: 'manual' },
      retentionOptions(rt.config, { policy: { keepLast: 1 } }),
    );
    expect(result.kept).toBe(0);
    expect(rt.bus.published.map((p) => p.event)).toEqual([
      expect.objectContaining({ type: 'retention.completed', severity: 'info', env: 'prod', removed: 0 }),
    ]);
  });

  it('a dry run removes nothing, so it publishes nothing (no "retention completed" notice in the digest)', async () => {
    const rt = testRuntime({ BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: 'prod' });
    const result = await retentionJob(
      { ...rt, trigger: 'manual' },
      retentionOptions(rt.config, { policy: { keepLast: 1 }, dryRun: true }),
    );
    expect(result.dryRun).toBe(true);
    expect(rt.bus.published).toEqual([]);
    expect(rt.logs.join('\n')).not.toMatch(/retention completed/);
    expect(rt.logs.join('\n')).toMatch(/retention dry run: 0 would be removed/);
  });

  it('on the schedule, a bucket that cannot be used is reported (retention.failed) and thrown', async () => {
    const rt = fileAsBucket();
    await expect(retentionJob({ ...rt, trigger: 'scheduled' }, retentionOptions(rt.config))).rejects.toBeInstanceOf(
      UsageError,
    );
    expect(rt.bus.published.map((p) => p.event)).toEqual([
      expect.objectContaining({
        type: 'retention.failed',
        severity: 'warning',
        reason: expect.stringMatching(/is a file, not a folder/),
      }),
    ]);
    expect(rt.logs.join('\n')).toMatch(/retention failed: bucket .* is a file/);
  });

  it("an operator's bad input (a manual run) is thrown for the CLI to answer, and never reported", async () => {
    const rt = fileAsBucket();
    await expect(retentionJob({ ...rt, trigger: 'manual' }, retentionOptions(rt.config))).rejects.toBeInstanceOf(
      UsageError,
    );
    expect(rt.bus.published).toEqual([]);
  });

  it('maps the configured section once; the caller overrides the policy whole and the floor', () => {
    const rt = testRuntime({ BACKUP_BUCKET: `file://${tempDir()}` });
    const configured = retentionOptions(rt.config);
    expect(configured).toMatchObject({
      policy: { keepWithinDays: 30, keepMonthly: 12 },
      minKeep: 3,
      safety: { keepWithinDays: 7 },
      orphanGraceHours: 24,
      concurrency: 8,
    });
    expect(retentionOptions(rt.config, { policy: { keepLast: 2 }, minKeep: 1, dryRun: true })).toMatchObject({
      policy: { keepLast: 2 },
      minKeep: 1,
      dryRun: true,
      orphanGraceHours: 24,
    });
  });
});
