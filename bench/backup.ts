/**
 * npm run bench:backup — mt-ops backup against pg_dump -Fc on the same data, in the same run.
 * Prints the time ratio (median of 3), the size ratio and our peak RSS; then peak RSS on a 4x dataset.
 * Targets: time <= 0.8x pg_dump -Fc, size <= 1.25x, peak RSS <= 200 MB and within +10% on the 4x dataset.
 */
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_URL, createDataset, dbUrl, median, runMeasured, withClient, builtCli } from './support';

const CLI = builtCli();
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (
      entry.isFile() &&
      !entry.parentPath.includes('.meta') &&
      !entry.parentPath.includes('.tmp') &&
      !entry.parentPath.includes('.lease')
    ) {
      total += statSync(join(entry.parentPath, entry.name)).size;
    }
  }
  return total;
}

async function measure(scale: number) {
  const name = `mt_bench_${scale}x`;
  await withClient(ADMIN_URL, (c) =>
    c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => c.query(`CREATE DATABASE ${name}`)),
  );
  const url = dbUrl(ADMIN_URL, name);
  process.stderr.write(`generating dataset (${scale} x 1,000,000 rows)...\n`);
  await createDataset(url, scale);
  const dbSize = await withClient(url, (c) => c.query('SELECT pg_database_size(current_database()) AS s')).then((r) =>
    Number(r.rows[0].s),
  );
  const ours: number[] = [];
  const theirs: number[] = [];
  let ourBytes = 0;
  let theirBytes = 0;
  let peak = 0;
  for (let i = 0; i < RUNS; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'mt-bench-'));
    const dump = join(dir, 'dump.fc');
    const pgd = await runMeasured(join(PG_BIN, 'pg_dump'), ['-Fc', '--data-only', '-n', 'bench', '-f', dump, url]);
    if (pgd.code !== 0) throw new Error(`pg_dump failed: ${pgd.stderr}`);
    theirs.push(pgd.ms);
    theirBytes = statSync(dump).size;
    const bucket = join(dir, 'bucket');
    const r = await runMeasured(
      process.execPath,
      [
        CLI,
        'backup',
        '--database-url',
        url,
        '--bucket',
        `file://${bucket}`,
        '--schemas',
        'bench',
        '--no-progress',
        '--env',
        'bench',
      ],
      { LOG_LEVEL: 'warn' },
    );
    if (r.code !== 0) throw new Error(`mt-ops backup failed: ${r.stderr}`);
    ours.push(r.ms);
    peak = Math.max(peak, r.peakRssMb);
    ourBytes = dirBytes(bucket);
    rmSync(dir, { recursive: true, force: true });
  }
  await withClient(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  return { scale, dbMb: dbSize / 2 ** 20, ours: median(ours), theirs: median(theirs), ourBytes, theirBytes, peak };
}

const base = await measure(1);
console.log(`dataset: 1,000,000 rows in 5 tables, ${base.dbMb.toFixed(0)} MB in PostgreSQL`);
console.log(
  `mt-ops backup: ${(base.ours / 1000).toFixed(2)} s   pg_dump -Fc: ${(base.theirs / 1000).toFixed(2)} s   time ratio: ${(base.ours / base.theirs).toFixed(2)}x (target <= 0.80x)`,
);
console.log(
  `size: ${(base.ourBytes / 2 ** 20).toFixed(1)} MB vs ${(base.theirBytes / 2 ** 20).toFixed(1)} MB   size ratio: ${(base.ourBytes / base.theirBytes).toFixed(2)}x (target <= 1.25x)`,
);
console.log(`peak RSS: ${base.peak.toFixed(0)} MB (target <= 200 MB)`);
if (process.env.BENCH_SKIP_4X !== '1') {
  const big = await measure(4);
  console.log(
    `4x dataset (${big.dbMb.toFixed(0)} MB): peak RSS ${big.peak.toFixed(0)} MB, ${(((big.peak - base.peak) / base.peak) * 100).toFixed(1)}% vs 1x (target <= +10%); time ratio ${(big.ours / big.theirs).toFixed(2)}x`,
  );
}
