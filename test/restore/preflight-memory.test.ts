import { describe, it, expect, beforeAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { runCli, type CliResult } from '../support/cli';
import { withClient } from '../../shared/pg/connect';

/**
 * The restore's preflight reads every stored object to check its sha256 (4 at a time). Read as streams, each read
 * allocated a new Buffer, and at page-cache speed the dead ones piled up until V8's next collection: about 30 MB more
 * peak RSS as soon as the objects held more than that, which set the whole restore's level (issue 15). Read through
 * one reused buffer per worker (the file store's scan()), the plan's peak does not grow with the objects' size. The
 * real CLI (a child process) plans a restore (--dry-run: every check, no load) of a backup with 4 MiB of
 * incompressible rows, then of one with 96 MiB, and the peak RSS of the two is compared.
 */
const PEAK = fileURLToPath(new URL('../support/peak-rss.cjs', import.meta.url));
const MiB = 1 << 20;

let db: TestDatabase;
let bucket: string;

function peakKb(r: CliResult): number {
  const m = /PEAK_RSS_KB (\d+)/.exec(r.stderr);
  if (r.code !== 0 || !m) throw new Error(`mt-ops exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return Number(m[1]);
}

/** A backup of `mib` rows of 1 MiB of incompressible bytes; the peak RSS of `restore --dry-run` of it, in KiB. */
async function planPeak(mib: number, env: string): Promise<number> {
  const source = await db.createDatabase('mt_pfmem');
  const ddl = 'CREATE TABLE public.blobs (id int PRIMARY KEY, b bytea)';
  await withClient(source, async (c) => {
    await c.query(ddl);
    // 1 MiB of sha256 output per row, different in every row: gzip's window (32 KiB at most) finds nothing to repeat
    await c.query(
      `INSERT INTO public.blobs SELECT r, (SELECT string_agg(sha256((r * 100000 + g)::text::bytea), ''::bytea) FROM generate_series(1, 32768) g) FROM generate_series(1, ${mib}) r`,
    );
  });
  const base = { BACKUP_BUCKET: `file://${bucket}`, OPS_ENV: env, LOG_LEVEL: 'warn' };
  const backup = await runCli(['backup', '--json', '--no-progress', '--database-url', source], {
    env: base,
    timeoutMs: 180_000,
  });
  expect(backup.code, backup.stderr).toBe(0);
  const id = JSON.parse(backup.stdout.split('\n').find((l) => l.startsWith('{'))!).id as string;
  const target = await db.createDatabase('mt_pfmem_target');
  await withClient(target, (c) => c.query(ddl));
  const plan = await runCli(['restore', id, '--dry-run', '--database-url', target, '--no-safety-backup'], {
    env: { ...base, NODE_OPTIONS: `--require ${PEAK}` },
    timeoutMs: 180_000,
  });
  expect(plan.stdout).toMatch(/public\.blobs/);
  return peakKb(plan);
}

beforeAll(async () => {
  db = await createTestDatabase('mt_pfmem');
  bucket = tempDir('mt-pfmem-store-');
});

describe('restore preflight checksums', () => {
  it('the plan peak RSS does not grow with the stored objects: 96 MiB against 4 MiB', async () => {
    const small = await planPeak(4, 'small');
    const big = await planPeak(96, 'big');
    // read as streams (the code before): +28 and +33 MB, dead Buffers awaiting V8's collection; through one buffer: +5 MB
    expect((big - small) * 1024).toBeLessThan(12 * MiB);
  }, 400_000);
});
