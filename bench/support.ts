/** Shared by the benchmarks: timed runs with peak RSS, the generated dataset, and the bundled CLI. */
import { withClient } from '../shared/pg/connect';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Runs a command; resolves with wall time and the child's peak RSS (from /usr/bin/time-free /proc sampling). */
export interface RunResult {
  ms: number;
  peakRssMb: number;
  code: number | null;
  stderr: string;
  stdout: string;
}

export function runMeasured(
  command: string,
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let peakKb = 0;
    const sample = setInterval(async () => {
      peakKb = Math.max(peakKb, await rssOfTree(child.pid!));
    }, 50);
    child.on('error', reject);
    child.on('close', async (code) => {
      clearInterval(sample);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      resolve({ ms, peakRssMb: peakKb / 1024, code, stderr, stdout });
    });
  });
}

/** VmHWM (peak RSS) of a process, in kB; 0 when it is gone. */
async function rssOfTree(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export { withClient };

export function dbUrl(base: string, name: string): string {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

export const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The dataset's tables in name order, which is NOT their foreign-key order (match_events references matches and sorts
 * before it; players references teams): a tool that loads tables by name breaks a foreign key, as plain
 * `pg_restore --data-only` of a full `pg_dump -Fc` archive does.
 */
export const DATASET_TABLES = [
  'bench.audit_events',
  'bench.match_events',
  'bench.matches',
  'bench.players',
  'bench.teams',
];

/**
 * Five tables shaped like Missing Table's (matches, players, events...), `scale` x 1,000,000 rows in all, created and
 * loaded in name order, not in foreign-key order (the keys are added once the rows are in; checked to stay so). With
 * `indexes`, the secondary indexes an app has: one on every foreign key column (what Supabase's database linter asks
 * for: unindexed_foreign_keys) and one on the audit log's time.
 */
export async function createDataset(url: string, scale: number, options: { indexes?: boolean } = {}): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(`
      DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench;
      CREATE TABLE bench.audit_events (id bigint PRIMARY KEY, at timestamptz, actor uuid, action text, payload jsonb);
      CREATE TABLE bench.match_events (id bigint PRIMARY KEY, match_id bigint, player_id bigint, minute int, kind text, note text);
      CREATE TABLE bench.matches (id bigint PRIMARY KEY, home bigint, away bigint, played_at timestamptz, home_score int, away_score int, details jsonb);
      CREATE TABLE bench.players (id bigint PRIMARY KEY, team_id bigint, name text, born date, tags text[]);
      CREATE TABLE bench.teams (id bigint PRIMARY KEY, name text NOT NULL, club text, created_at timestamptz NOT NULL);`);
    const n = (k: number) => Math.round(k * scale);
    await c.query(
      `INSERT INTO bench.audit_events SELECT g, now() - g * interval '1 second', md5(g::text)::uuid, 'update', jsonb_build_object('field', 'score', 'old', g % 7, 'new', g % 9, 'ip', '10.0.' || (g % 255) || '.' || (g % 200)) FROM generate_series(1, ${n(200_000)}) g`,
    );
    await c.query(
      `INSERT INTO bench.match_events SELECT g, 1 + g % ${n(200_000)}, 1 + g % ${n(180_000)}, g % 90, (ARRAY['goal','card','sub','foul'])[1 + g % 4], 'note ' || md5(g::text) FROM generate_series(1, ${n(400_000)}) g`,
    );
    await c.query(`INSERT INTO bench.matches SELECT g, 1 + g % ${n(20_000)}, 1 + (g * 7) % ${n(20_000)}, now() - g * interval '1 hour', g % 5, g % 3,
                     jsonb_build_object('venue', 'Field ' || (g % 40), 'referee', 'Ref ' || (g % 300), 'weather', CASE WHEN g % 2 = 0 THEN 'sunny' ELSE 'rain' END) FROM generate_series(1, ${n(200_000)}) g`);
    await c.query(
      `INSERT INTO bench.players SELECT g, 1 + g % ${n(20_000)}, 'Player ' || md5(g::text), date '2010-01-01' + (g % 3000), ARRAY['u' || (g % 19), 'pos' || (g % 4)] FROM generate_series(1, ${n(180_000)}) g`,
    );
    await c.query(
      `INSERT INTO bench.teams SELECT g, 'Team ' || g, 'Club ' || (g % 500), now() - g * interval '1 minute' FROM generate_series(1, ${n(20_000)}) g`,
    );
    await c.query(`
      ALTER TABLE bench.match_events ADD FOREIGN KEY (match_id) REFERENCES bench.matches (id);
      ALTER TABLE bench.matches ADD FOREIGN KEY (home) REFERENCES bench.teams (id), ADD FOREIGN KEY (away) REFERENCES bench.teams (id);
      ALTER TABLE bench.players ADD FOREIGN KEY (team_id) REFERENCES bench.teams (id);`);
    // The point of the names: some key's table sorts before the table it references.
    const { rows } = await c.query<{ child: string; parent: string }>(
      `SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent FROM pg_constraint WHERE contype = 'f' AND connamespace = 'bench'::regnamespace`,
    );
    if (!rows.some((r) => r.child < r.parent))
      throw new Error('bench dataset: every foreign key sorts after the table it references; rename the tables');
    if (options.indexes) {
      await c.query(`
        CREATE INDEX players_team_id_idx ON bench.players (team_id);
        CREATE INDEX matches_home_idx ON bench.matches (home);
        CREATE INDEX matches_away_idx ON bench.matches (away);
        CREATE INDEX match_events_match_id_idx ON bench.match_events (match_id);
        CREATE INDEX audit_events_at_idx ON bench.audit_events (at);`);
    }
    // Steady state, as a production database is: hint bits set and the visibility map built now (not by the
    // first tool to read the tables, nor by autovacuum in the middle of a timed run), and the WAL flushed.
    await c.query('VACUUM (FREEZE, ANALYZE)');
    await c.query('CHECKPOINT');
  });
}

/**
 * The CLI as shipped: the esbuild bundle (dist/cli/mt-ops.js), built first so the numbers measure our code, not
 * the TypeScript loader that `npx mt-ops` uses to run from source.
 */
export function builtCli(): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const r = spawnSync(process.execPath, [join(root, 'build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('npm run build failed');
  return join(root, 'dist', 'cli', 'mt-ops.js');
}

/** The p-th percentile (nearest rank) of `values`. */
export function percentile(values: number[], p: number): number {
  return [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
}
