/**
 * Real debris: a backup process killed with SIGKILL while it streams a table leaves its partial data object in the
 * file store's `.tmp/`; `mt-ops cleanup`, once that is older than the orphan grace period (short here, from the
 * operator file), removes it and says how many temporary objects it removed.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { runCli, CLI } from '../support/cli';
import { openStore } from '../../shared/storage/open';
import { listBackups } from '../../shared/backup/catalog';
import { runRetention } from '../../shared/retention/run';

let db: TestDatabase;
let bucketDir: string;
let env: Record<string, string>;
const GRACE_HOURS = 0.0002; // 0.72 s

beforeAll(async () => {
  db = await createTestDatabase('mt_killed_backup_debris');
  // incompressible enough that the data object is written over a while
  await db.query(`CREATE TABLE public.big (id int PRIMARY KEY, v text);
    INSERT INTO public.big SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) FROM generate_series(1, 400000) g`);
  bucketDir = tempDir('mt-debris-bucket-');
  const config = join(tempDir('mt-debris-config-'), 'ops.config.json');
  writeFileSync(config, JSON.stringify({ backup: { jobs: 1 }, retention: { orphanGraceHours: GRACE_HOURS } }));
  env = { DATABASE_URL: db.url, BACKUP_BUCKET: `file://${bucketDir}`, OPS_ENV: 'debris', OPS_CONFIG: config };
});

describe('cleanup after a backup killed with SIGKILL', () => {
  it('removes the partial data object the killed process left in .tmp/ once past the grace period, and says so', async () => {
    const child = spawn(process.execPath, [CLI, 'backup', '--no-progress'], {
      env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    const tmp = join(bucketDir, '.tmp');
    const partial = () =>
      existsSync(tmp)
        ? readdirSync(tmp).filter((f) => (statSync(join(tmp, f), { throwIfNoEntry: false })?.size ?? 0) > 64 * 1024)
        : [];
    const deadline = Date.now() + 60_000;
    while (partial().length === 0) {
      if (Date.now() > deadline) throw new Error('the backup never started writing its data object');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const debris = readdirSync(tmp);
    expect(debris.length).toBeGreaterThan(0);

    // handshake on the file itself: cleanup runs once the newest debris is older than the grace period
    const newest = () => Math.max(...debris.map((f) => statSync(join(tmp, f)).mtimeMs));
    while (Date.now() - newest() <= GRACE_HOURS * 3_600_000) await new Promise((r) => setTimeout(r, 50));

    const store = openStore(env.BACKUP_BUCKET!);
    const dry = await runRetention(store, 'debris', {
      policy: { keepLast: 1 },
      minKeep: 1,
      orphanGraceHours: GRACE_HOURS,
      dryRun: true,
    } as Parameters<typeof runRetention>[2]);
    expect(dry.temporaryRemoved).toBe(0);
    expect(readdirSync(tmp)).toEqual(debris); // a dry run removes nothing

    const r = await runCli(['cleanup'], { env });
    expect(r.code, r.stderr).toBe(0);
    const n = debris.length;
    expect(r.stdout).toMatch(new RegExp(`, ${n} temporary objects? removed \\(\\d[\\d.]* [KM]?i?B\\), `));
    expect(readdirSync(tmp)).toEqual([]);
    // and the killed run's incomplete backup: its lease still names it, but its holder is a dead process of this host
    expect(r.stdout).toMatch(/REMOVE.*orphan: incomplete/);
    expect(await listBackups(store, 'debris', { includeIncomplete: true })).toEqual([]);
  });
});
