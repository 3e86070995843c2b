/** Long CLI work shows progress: a redrawn bar on a TTY, plain lines otherwise. */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { runCli, CLI } from '../support/cli';

let db: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase('mt_progress');
  await loadAwkwardSchema(db);
  await db.query(
    `CREATE TABLE public.bulk AS SELECT g AS id, repeat(md5(g::text), 4) AS v FROM generate_series(1, 200000) g`,
  );
  env = { DATABASE_URL: db.url, BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: 'progress', OPS_CONFIG: '' };
});

describe('backup progress', () => {
  it('prints plain lines per table when stderr is not a TTY', async () => {
    const r = await runCli(['backup'], { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^backup \d{8}T\d{6}Z-[0-9a-f]{4}: 9 tables$/m);
    expect(r.stderr).toMatch(/^ {2}public\.bulk: 200000 rows, \d+(\.\d)? MB$/m);
    expect(r.stderr).toMatch(
      /complete: 9 tables, \d+ rows, [\d.]+ (B|KB|MB) in the bucket \(table data [\d.]+ (B|KB|MB) compressed, [\d.]+ (B|KB|MB) raw\)/,
    );
    expect(r.stderr).not.toContain('\r');
    expect(r.stderr).not.toContain('[#');
  });

  it.skipIf(!existsSync('/usr/bin/script'))('draws a bar with tables, rows and rate on a TTY', () => {
    // `script` gives the CLI a real pseudo-terminal
    const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} backup --schemas public`, '/dev/null'], {
      env: { ...process.env, ...env, LOG_LEVEL: 'warn', COLUMNS: '120' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /\r\x1b\[2K\[[#.]{24}\] +\d+% \d+\/\d+ tables {2}public\.\w+ \d+ rows {2}[\d.]+ (B|KB|MB)/,
    );
    // the bar is cleared before the closing line: nothing of it is left in front of it, and nothing is drawn after it
    expect(r.stdout).toMatch(/\r\x1b\[2Kbackup \d{8}T\d{6}Z-[0-9a-f]{4} complete: \d+ tables/);
    expect(r.stdout.slice(r.stdout.indexOf(' complete: '))).not.toContain('[#');
  });
});
