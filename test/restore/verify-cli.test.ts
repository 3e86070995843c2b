/** `mt-ops verify ID --restore-into URL [--template NAME]`: the restore drill from the command line. */
import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema, readFixture } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';

let source: TestDatabase;
let env: Record<string, string>;
let id: string;

beforeAll(async () => {
  source = await createTestDatabase('mt_vdrill');
  await loadAwkwardSchema(source);
  env = { DATABASE_URL: source.url, BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: 'drill', OPS_CONFIG: '' };
  const r = await runCli(['backup', '--no-progress'], { env });
  expect(r.code, r.stderr).toBe(0);
  id = r.stdout.trim();
});

describe('verify --restore-into', () => {
  it('restores into an empty scratch database, compares every table, and records the drill', async () => {
    const scratch = await source.createDatabase('mt_scratch');
    await source.query(`SELECT 1`); // keep the pool warm
    const { Client } = await import('pg');
    const c = new Client({ connectionString: scratch });
    await c.connect();
    await c.query(readFixture('awkward-schema.sql'));
    await c.end();
    const r = await runCli(['verify', id, '--restore-into', scratch, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const record = JSON.parse(r.stdout);
    expect(record).toMatchObject({ backupId: id, ok: true, restoreDrill: { ok: true } });
    expect(JSON.stringify(record)).not.toMatch(/postgres:\/\//);
    const list = JSON.parse((await runCli(['list', '--json'], { env })).stdout) as Array<{
      id: string;
      verify?: string;
    }>;
    expect(list.find((e) => e.id === id)?.verify).toMatch(/^ok /);
  });

  it('creates the scratch database from a template and drops it after', async () => {
    const template = await source.createDatabase('mt_tmpl');
    const { Client } = await import('pg');
    const c = new Client({ connectionString: template });
    await c.connect();
    await c.query(readFixture('awkward-schema.sql'));
    await c.end();
    const templateName = new URL(template).pathname.slice(1);
    const scratchName = `${templateName}_drill`;
    const r = await runCli(['verify', id, '--restore-into', source.urlFor(scratchName), '--template', templateName], {
      env,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restore drill passed/);
    const exists = await source.query('SELECT 1 FROM pg_database WHERE datname = $1', [scratchName]);
    expect(exists.rowCount).toBe(0);
  });

  it('bad flags exit 2', async () => {
    expect((await runCli(['verify', id, '--template', 'x'], { env })).code).toBe(2);
    expect((await runCli(['verify', id, '--restore-into', 'mysql://x'], { env })).code).toBe(2);
  });
});
