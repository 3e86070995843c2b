/**
 * npm run bench:restore — mt-ops restore against pg_restore --data-only -Fc of the matching pg_dump -Fc, on the
 * backup benchmark's dataset, into an empty copy of the schema, in the same run. Median of 3 (BENCH_RUNS).
 * Prints the time ratio and our peak RSS. Targets: at most 1.0x pg_restore, peak RSS at most 200 MB. For reference it
 * also times pg_restore with triggers off in one transaction: the mode closest to ours, minus our foreign key checks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ADMIN_URL, createDataset, dbUrl, median, runMeasured, withClient, builtCli } from './support';

const CLI = builtCli();
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const TABLES = ['bench.teams', 'bench.players', 'bench.matches', 'bench.match_events', 'bench.audit_events'];

const source = `mt_bench_restore_src`;
const target = `mt_bench_restore_dst`;
await withClient(ADMIN_URL, async (c) => {
  for (const name of [source, target]) {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  }
});
const srcUrl = dbUrl(ADMIN_URL, source);
const dstUrl = dbUrl(ADMIN_URL, target);
process.stderr.write(`generating dataset (${SCALE} x 1,000,000 rows)...\n`);
await createDataset(srcUrl, SCALE);

// An empty copy of the schema.
const ddl = spawnSync(join(PG_BIN, 'pg_dump'), ['--schema-only', '-n', 'bench', srcUrl], { encoding: 'utf8', maxBuffer: 64 << 20 });
if (ddl.status !== 0) throw new Error(`pg_dump --schema-only failed: ${ddl.stderr}`);
const load = spawnSync(join(PG_BIN, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', dstUrl], { input: ddl.stdout, encoding: 'utf8' });
if (load.status !== 0) throw new Error(`schema load failed: ${load.stderr}`);

const dir = mkdtempSync(join(tmpdir(), 'mt-bench-restore-'));
const dump = join(dir, 'dump.fc');
const pgd = await runMeasured(join(PG_BIN, 'pg_dump'), ['-Fc', '--data-only', '-n', 'bench', '-f', dump, srcUrl]);
if (pgd.code !== 0) throw new Error(`pg_dump failed: ${pgd.stderr}`);
const bucket = `file://${join(dir, 'bucket')}`;
const backup = await runMeasured(process.execPath, [CLI, 'backup', '--database-url', srcUrl, '--bucket', bucket, '--schemas', 'bench', '--no-progress', '--env', 'bench'], { LOG_LEVEL: 'warn' });
if (backup.code !== 0) throw new Error(`mt-ops backup failed: ${backup.stderr}`);
const id = backup.stdout.trim();

const empty = () => withClient(dstUrl, (c) => c.query(`TRUNCATE ${TABLES.join(', ')}`).then(() => c.query('CHECKPOINT')));
const ours: number[] = [];
const theirs: number[] = [];
// For reference: pg_restore in the mode closest to ours (triggers off, one transaction) but with no foreign key check at all.
const theirsNoTriggers: number[] = [];
let peak = 0;
for (let i = 0; i < RUNS; i++) {
  await empty();
  const p = await runMeasured(join(PG_BIN, 'pg_restore'), ['--data-only', '-Fc', '-d', dstUrl, dump]);
  if (p.code !== 0) throw new Error(`pg_restore failed: ${p.stderr}`);
  theirs.push(p.ms);
  await empty();
  const q = await runMeasured(join(PG_BIN, 'pg_restore'), ['--data-only', '-Fc', '--disable-triggers', '--single-transaction', '-d', dstUrl, dump]);
  if (q.code !== 0) throw new Error(`pg_restore --disable-triggers failed: ${q.stderr}`);
  theirsNoTriggers.push(q.ms);
  await empty();
  const r = await runMeasured(process.execPath, [CLI, 'restore', id, '--database-url', dstUrl, '--bucket', bucket, '--env', 'bench', '--no-safety-backup', '--no-progress'], { LOG_LEVEL: 'warn' });
  if (r.code !== 0) throw new Error(`mt-ops restore failed: ${r.stderr}`);
  ours.push(r.ms);
  peak = Math.max(peak, r.peakRssMb);
}
rmSync(dir, { recursive: true, force: true });
await withClient(ADMIN_URL, async (c) => {
  for (const name of [source, target]) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
});
const anchor = median(ours) / median(theirsNoTriggers);
console.log(`dataset: ${SCALE} x 1,000,000 rows in 5 tables; median of ${RUNS}`);
console.log(
  `mt-ops restore: ${(median(ours) / 1000).toFixed(2)} s   pg_restore --data-only -Fc --disable-triggers --single-transaction: ${(median(theirsNoTriggers) / 1000).toFixed(2)} s   time ratio: ${anchor.toFixed(2)}x`,
);
console.log(
  `note: plain pg_restore --data-only -Fc (per-row foreign-key checks; fails outright when table names do not sort in foreign-key order): ${(median(theirs) / 1000).toFixed(2)} s, ratio ${(median(ours) / median(theirs)).toFixed(2)}x`,
);
console.log(`peak RSS: ${peak.toFixed(0)} MB (target <= 200 MB)`);
