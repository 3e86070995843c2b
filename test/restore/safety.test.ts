/**
 * Safety backups (the `pre-restore` backup every restore takes of its target) are never `latest`, never count
 * towards the real backups' retention, and are listed apart: issue 9, item 1.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { readFixture, loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';
import { snapshotOf, exec } from './helpers';

let db: TestDatabase;
let env: Record<string, string>;
const real: string[] = [];

interface Listed {
  id: string;
  kind: string;
  label?: string;
}
const list = async () => JSON.parse((await runCli(['list', '--json'], { env })).stdout) as Listed[];

beforeAll(async () => {
  db = await createTestDatabase('mt_safety');
  await loadAwkwardSchema(db);
  env = {
    BACKUP_BUCKET: `file://${tempDir('mt-safety-')}`,
    OPS_ENV: 'safety',
    OPS_CONFIG: join(tempDir(), 'none.json'),
  };
  writeFileSync(env.OPS_CONFIG!, '{}');
  for (let i = 0; i < 3; i++) {
    const backup = await runCli(['backup', '--database-url', db.url, '--no-progress'], { env });
    expect(backup.code, backup.stderr).toBe(0);
    real.unshift(backup.stdout.trim()); // newest first
  }
});

describe('safety backups', () => {
  it('a retry of `restore latest` after a failed restore restores the real backup, not the safety backup of the target', async () => {
    const target = await db.createDatabase('mt_safety_t');
    await exec(
      target,
      `${readFixture('awkward-schema.sql')} INSERT INTO public.serial_things (name) VALUES ('keep me');
       ALTER TABLE public.serial_things ADD CONSTRAINT no_seven CHECK (name <> 'thing 7');`,
    );
    const before = await snapshotOf(target);
    const failed = await runCli(['restore', 'latest', '--database-url', target, '--yes', '--no-progress'], { env });
    expect(failed.code, failed.stderr).toBe(1);
    expect(failed.stderr).toMatch(/no_seven/);
    expect(await snapshotOf(target)).toEqual(before); // rolled back
    const safety = (await list()).filter((e) => e.kind === 'safety');
    expect(safety).toHaveLength(1); // the failed restore's safety backup remains, marked
    expect(safety[0]!.label).toBe('pre-restore');

    await exec(target, 'ALTER TABLE public.serial_things DROP CONSTRAINT no_seven');
    const retry = await runCli(['restore', 'latest', '--database-url', target, '--yes', '--no-progress', '--json'], {
      env,
    });
    expect(retry.code, retry.stderr).toBe(0);
    expect(JSON.parse(retry.stdout).source.id).toBe(real[0]);
    expect((await snapshotOf(target)).tables).toEqual((await snapshotOf(db.url)).tables);

    // the safety backup stays restorable by its id
    const undo = await runCli(['restore', safety[0]!.id, '--database-url', target, '--dry-run', '--no-safety-backup'], {
      env,
    });
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toContain(`restore plan: backup ${safety[0]!.id}`);
  });

  it('verify, export and list treat the newest real backup as `latest`; list marks safety backups', async () => {
    const entries = await list();
    expect(entries.filter((e) => e.kind === 'safety')).toHaveLength(2);
    expect(entries[0]!.id).toBe(real[0]);
    expect(entries.filter((e) => e.kind === 'complete').map((e) => e.id)).toEqual(real);

    const verify = await runCli(['verify', '--no-progress'], { env });
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain(`backup ${real[0]} verified`);

    const out = tempDir('mt-safety-export-');
    const exported = await runCli(['export', 'latest', '--out', out, '--json'], { env });
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout).backupId).toBe(real[0]);

    const text = await runCli(['list'], { env });
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    const safetyLines = lines.filter((l) => /\bSAFETY\b/.test(l));
    expect(safetyLines).toHaveLength(2);
    expect(safetyLines.every((l) => l.includes('pre-restore'))).toBe(true);
    expect(text.stdout).toMatch(/safety backups/i);
  });

  it('`cleanup 2` keeps the 2 newest real backups; safety backups have their own retention (7 days)', async () => {
    const r = await runCli(['cleanup', '2', '--min-keep', '2', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      backups: Array<{ id: string; kind: string; action: string; reasons: string[] }>;
    };
    const removed = out.backups.filter((b) => b.action === 'remove').map((b) => b.id);
    expect(removed).toEqual([real[2]]);
    const safety = out.backups.filter((b) => b.kind === 'safety');
    expect(safety).toHaveLength(2);
    for (const b of safety) expect(b.reasons.join()).toMatch(/safety backup, within 7d/);
    const left = await list();
    expect(left.filter((e) => e.kind === 'complete').map((e) => e.id)).toEqual(real.slice(0, 2));
    expect(left.filter((e) => e.kind === 'safety')).toHaveLength(2);
  });
});
