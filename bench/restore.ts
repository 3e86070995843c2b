/**
 * npm run bench:restore [-- --scale N[,M...]] — mt-ops restore against `pg_restore --data-only --disable-triggers
 * --single-transaction` of the matching full pg_dump -Fc (the archive an operator keeps; the anchor: it loads whatever the table order, and checks no
 * foreign key at all), on the backup benchmark's dataset with its secondary indexes, into an empty copy of the schema,
 * in the same run. Median of 3 (BENCH_RUNS). Prints the time ratio, our peak RSS, and where our time goes (load, index
 * builds, key checks, sequences: the restore's own --json timings, medians).
 * Targets: at most 0.9x the anchor at 1x and at about 1 GB (--scale 6), the ratio not growing with size (--scale 1,6
 * measures both in one run and prints the ratio at each size side by side), peak RSS at most 150 MB.
 * BENCH_INDEXES=0: the dataset without secondary indexes. BENCH_PLAIN=1: also time plain pg_restore --data-only (a note).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  ADMIN_URL,
  DATASET_TABLES as TABLES,
  createDataset,
  dbUrl,
  median,
  runMeasured,
  withClient,
  builtCli,
} from './support';

const CLI = builtCli();
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const scaleFlag = process.argv.indexOf('--scale');
const SCALES = String(scaleFlag > 0 ? process.argv[scaleFlag + 1] : (process.env.BENCH_SCALE ?? 1))
  .split(',')
  .map(Number);
if (!SCALES.every((s) => s > 0)) throw new Error('--scale: positive numbers, comma-separated (1,6)');
const INDEXES = process.env.BENCH_INDEXES !== '0';
const PLAIN = process.env.BENCH_PLAIN === '1';
const ANCHOR = ['--data-only', '--disable-triggers', '--single-transaction'];

/** One size: the dataset generated, dumped and backed up, then RUNS alternating runs; prints its block. */
async function benchScale(SCALE: number): Promise<{ ratio: number; mb: string; peak: number }> {
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
  process.stderr.write(
    `generating dataset (${SCALE} x 1,000,000 rows${INDEXES ? ', with secondary indexes' : ''})...\n`,
  );
  await createDataset(srcUrl, SCALE, { indexes: INDEXES });
  const size = await withClient(srcUrl, (c) =>
    c.query<{ mb: string }>('SELECT round(pg_database_size(current_database()) / 1e6)::text AS mb'),
  ).then((r) => r.rows[0]!.mb);

  // An empty copy of the schema.
  const ddl = spawnSync(join(PG_BIN, 'pg_dump'), ['--schema-only', '-n', 'bench', srcUrl], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (ddl.status !== 0) throw new Error(`pg_dump --schema-only failed: ${ddl.stderr}`);
  const load = spawnSync(join(PG_BIN, 'psql'), ['-q', '-v', 'ON_ERROR_STOP=1', dstUrl], {
    input: ddl.stdout,
    encoding: 'utf8',
  });
  if (load.status !== 0) throw new Error(`schema load failed: ${load.stderr}`);

  const dir = mkdtempSync(join(tmpdir(), 'mt-bench-restore-'));
  const dump = join(dir, 'dump.fc');
  const pgd = await runMeasured(join(PG_BIN, 'pg_dump'), ['-Fc', '-n', 'bench', '-f', dump, srcUrl]);
  if (pgd.code !== 0) throw new Error(`pg_dump failed: ${pgd.stderr}`);
  const bucket = `file://${join(dir, 'bucket')}`;
  const backup = await runMeasured(
    process.execPath,
    [
      CLI,
      'backup',
      '--database-url',
      srcUrl,
      '--bucket',
      bucket,
      '--schemas',
      'bench',
      '--no-progress',
      '--env',
      'bench',
    ],
    { LOG_LEVEL: 'warn' },
  );
  if (backup.code !== 0) throw new Error(`mt-ops backup failed: ${backup.stderr}`);
  const id = backup.stdout.trim();

  const empty = () =>
    withClient(dstUrl, (c) => c.query(`TRUNCATE ${TABLES.join(', ')}`).then(() => c.query('CHECKPOINT')));
  const ours: number[] = [];
  const anchor: number[] = [];
  const plain: number[] = [];
  // plain pg_restore --data-only's first error when it does not load (expected: tables load in name order, not FK order)
  let plainFailure: string | undefined;
  const phases: Array<Record<string, number>> = [];
  let peak = 0;
  const loads: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    loads.push(loadavg()[0]!);
    await empty();
    const q = await runMeasured(join(PG_BIN, 'pg_restore'), [...ANCHOR, '-d', dstUrl, dump]);
    if (q.code !== 0) throw new Error(`pg_restore ${ANCHOR.join(' ')} failed: ${q.stderr}`);
    anchor.push(q.ms);
    await empty();
    const r = await runMeasured(
      process.execPath,
      [
        CLI,
        'restore',
        id,
        '--database-url',
        dstUrl,
        '--bucket',
        bucket,
        '--env',
        'bench',
        '--no-safety-backup',
        '--no-progress',
        '--json',
      ],
      { LOG_LEVEL: 'warn' },
    );
    if (r.code !== 0) throw new Error(`mt-ops restore failed: ${r.stderr}`);
    ours.push(r.ms);
    peak = Math.max(peak, r.peakRssMb);
    const out = JSON.parse(r.stdout) as { timings: Record<string, number>; totalMs: number };
    process.stderr.write(
      `run ${i + 1}/${RUNS}: ours ${(r.ms / 1000).toFixed(2)} s, anchor ${(q.ms / 1000).toFixed(2)} s, load average ${loadavg()[0]!.toFixed(1)}\n`,
    );
    phases.push({ ...out.timings, startupMs: r.ms - out.totalMs });
    if (PLAIN) {
      await empty();
      const p = await runMeasured(join(PG_BIN, 'pg_restore'), ['--data-only', '-d', dstUrl, dump]);
      if (p.code === 0) plain.push(p.ms);
      else
        plainFailure ??=
          /violates foreign key constraint "[^"]+"/.exec(p.stderr)?.[0] ?? p.stderr.trim().split('\n')[0];
    }
  }
  rmSync(dir, { recursive: true, force: true });
  await withClient(ADMIN_URL, async (c) => {
    for (const name of [source, target]) await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `dataset: ${SCALE} x 1,000,000 rows in 5 tables (${size} MB in PostgreSQL${INDEXES ? ', 5 PKs and 5 secondary indexes' : ', primary keys only'}); median of ${RUNS}; load average ${loads.map((l) => l.toFixed(1)).join(', ')}`,
  );
  console.log(
    `mt-ops restore: ${s(median(ours))}   pg_restore ${ANCHOR.join(' ')}: ${s(median(anchor))}   time ratio: ${(median(ours) / median(anchor)).toFixed(2)}x (target <= 0.90x)`,
  );
  console.log(
    `  each run: ours ${ours.map(s).join(', ')}; anchor ${anchor.map(s).join(', ')}; ratios ${ours.map((o, i) => (o / anchor[i]!).toFixed(2)).join(', ')}`,
  );
  const keys = [
    'startupMs',
    'planMs',
    'prepareMs',
    'loadMs',
    'indexMs',
    'keyCheckMs',
    'afterMs',
    'sequencesMs',
    'commitMs',
  ];
  console.log(
    `  where our time goes (medians): ${keys.map((k) => `${k.replace(/Ms$/, '')} ${s(median(phases.map((p) => p[k] ?? 0)))}`).join(', ')}`,
  );
  if (PLAIN && plainFailure)
    console.log(
      `note: plain pg_restore --data-only (tables in name order, per-row foreign-key checks) does not load this dataset from the full archive: ${plainFailure}`,
    );
  else if (PLAIN)
    console.log(
      `note: plain pg_restore --data-only (per-row foreign-key checks): ${s(median(plain))}, ratio ${(median(ours) / median(plain)).toFixed(2)}x`,
    );
  console.log(`peak RSS: ${peak.toFixed(0)} MB (target <= 150 MB)`);
  return { ratio: median(ours) / median(anchor), mb: size, peak };
}

const bySize: Array<{ scale: number; ratio: number; mb: string; peak: number }> = [];
for (const [i, scale] of SCALES.entries()) {
  if (i > 0) console.log('');
  bySize.push({ scale, ...(await benchScale(scale)) });
}
if (bySize.length > 1) {
  const grows = bySize.some((b, i) => i > 0 && b.ratio > bySize[i - 1]!.ratio);
  console.log(
    `\nratio by size: ${bySize.map((b) => `${b.ratio.toFixed(2)}x at ${b.scale}x (${b.mb} MB)`).join(', ')}; ${grows ? 'GROWS with size' : 'does not grow with size'} (target: must not grow); peak RSS ${bySize.map((b) => `${b.peak.toFixed(0)} MB`).join(', ')}`,
  );
}
