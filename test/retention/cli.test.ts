import { describe, it, expect, beforeAll } from 'vitest';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';
import { openStore } from '../../shared/storage/open';

let env: Record<string, string>;

/** Backups in the file store, made by the real CLI would need a database; legacy files are enough for the policy. */
beforeAll(async () => {
  const dir = tempDir('mt-cleanup-cli-');
  const store = openStore(`file://${dir}`);
  for (const day of ['01', '02', '03', '04', '05'])
    await store.put(`database_backup_202611${day}_030000.json`, '{"backup_info":{},"tables":{}}');
  env = { BACKUP_BUCKET: `file://${dir}`, OPS_ENV: 'prod', OPS_CONFIG: '' };
});

describe('mt-ops cleanup', () => {
  it('--dry-run prints every backup with keep/remove and reasons, and removes nothing', async () => {
    const r = await runCli(['cleanup', '--dry-run', '--keep-last', '2'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/database_backup_20261105_030000\.json\s.*KEEP\s+last 2, floor: newest/);
    expect(r.stdout).toMatch(/database_backup_20261103_030000\.json\s.*KEEP\s+floor: minKeep 3/);
    expect(r.stdout).toMatch(/database_backup_20261101_030000\.json\s.*would remove/);
    expect(r.stdout).toMatch(/dry run: nothing removed/);
    const list = JSON.parse((await runCli(['list', '--json'], { env })).stdout) as unknown[];
    expect(list).toHaveLength(5);
  });

  it('`cleanup N` keeps the N newest (the floors still apply) and reports bytes freed', async () => {
    const r = await runCli(['cleanup', '4', '--json'], { env });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      totals: { removed: number; bytesFreed: number };
      backups: Array<{ id: string; action: string }>;
    };
    expect(out.totals.removed).toBe(1);
    expect(out.totals.bytesFreed).toBeGreaterThan(0);
    expect(out.backups.find((b) => b.action === 'remove')?.id).toBe('database_backup_20261101_030000.json');
    const list = JSON.parse((await runCli(['list', '--json'], { env })).stdout) as Array<{ kind: string }>;
    expect(list).toHaveLength(4);
    expect(list.every((e) => e.kind === 'legacy')).toBe(true);
  });

  it.each([
    [['cleanup', '--keep-last', '-1'], /--keep-last/],
    [['cleanup', '--keep-daily', 'lots'], /--keep-daily/],
    [['cleanup', '3', '--keep-last', '5'], /contradictory/],
    [['cleanup', '--keep-last', '0'], /empty retention policy/],
    [['cleanup', 'x'], /must be a non-negative integer/],
    [['cleanup', '--min-keep', '0', '--keep-last', '1'], /--min-keep/],
    [['cleanup', '--keep-last', '1', '--env', 'prod/../staging'], /--env.*lowercase letters/],
    [['cleanup', '--keep-last', '1', '--bucket', 'ftp://example.com/backups'], /--bucket.*must be/],
  ])('%j exits 2 with the reason', async (args, reason) => {
    const r = await runCli(args as string[], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(reason as RegExp);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
