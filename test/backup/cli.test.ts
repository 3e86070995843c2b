import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { runCli, CLI } from '../support/cli';
import { openStore } from '../../shared/storage/open';
import { acquireLease, readLease } from '../../shared/storage/lease';
import { keys } from '../../shared/backup/layout';

let db: TestDatabase;
let bucketDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase('mt_cli');
  await loadAwkwardSchema(db);
  // enough rows that a backup takes a moment, so it can be killed midway
  await db.query(`CREATE TABLE public.big (id bigint PRIMARY KEY, payload text);
                  INSERT INTO public.big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 400000) g`);
  bucketDir = tempDir('mt-cli-bucket-');
  const configDir = tempDir('mt-cli-config-');
  writeFileSync(join(configDir, 'ops.config.json'), JSON.stringify({ backup: { leaseTtlSeconds: 12, jobs: 1 } }));
  env = {
    DATABASE_URL: db.url,
    BACKUP_BUCKET: `file://${bucketDir}`,
    OPS_ENV: 'cli',
    OPS_CONFIG: join(configDir, 'ops.config.json'),
  };
});

describe('mt-ops backup / list / verify', () => {
  it('--json on failure: a JSON error object on stdout too, the one line on stderr, the exit code as always', async () => {
    const unreachable = await runCli(['backup', '--json'], {
      env: { ...env, DATABASE_URL: db.url.replace(/\/[^/?]+(\?|$)/, '/mt_no_such_database$1') },
    });
    expect(unreachable.code).toBe(1);
    expect(JSON.parse(unreachable.stdout)).toMatchObject({ status: 'failed', issues: [], code: expect.any(String) });
    expect(JSON.parse(unreachable.stdout).error).toMatch(/mt_no_such_database/);
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1);
    const bad = await runCli(['backup', '--json', '--schemas', 'no_such_schema'], { env });
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({ status: 'failed', code: 'usage' });
    expect(JSON.parse(bad.stdout).issues.join(' ')).toMatch(/no_such_schema/);
    // a bad configuration: the same text as stderr, masked alike (a mask does not eat the reason about a token)
    const config = await runCli(['backup', '--json'], { env: { ...env, OPS_API_TOKEN: 'tooShortTok9' } });
    expect(config.code).toBe(2);
    expect(JSON.parse(config.stdout)).toMatchObject({
      error: config.stderr.slice('mt-ops: '.length, -1),
      issues: [expect.stringMatching(/^OPS_API_TOKEN: at least 16 characters/)],
      code: 'usage',
    });
    expect(config.stdout).not.toContain('tooShortTok9');
  });

  it('backs up, prints the id, lists it newest first and verifies it', async () => {
    const backup = await runCli(['backup', '--label', 'before-season', '--no-progress'], { env });
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const id = backup.stdout.trim();
    expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);

    const json = await runCli(['backup', '--json', '--schemas', 'league'], { env });
    expect(json.code).toBe(0);
    const summary = JSON.parse(json.stdout);
    expect(summary).toMatchObject({ status: 'completed', totals: { tables: 3, rows: 7 } });

    const list = await runCli(['list', '--json'], { env });
    expect(list.code).toBe(0);
    const entries = JSON.parse(list.stdout) as Array<{ id: string; label?: string; kind: string }>;
    expect(entries.map((e) => e.id)).toEqual([summary.id, id]);
    expect(entries[1]).toMatchObject({ label: 'before-season', kind: 'complete' });
    // the size backup reports is the one list shows (every object of the backup), beside the table data it holds
    const listed = entries[0] as unknown as { bytes: number };
    expect(summary.bucketBytes).toBe(listed.bytes);
    expect(summary.bucketBytes).toBeGreaterThan(summary.totals.compressedBytes);

    const verify = await runCli(['verify', id], { env });
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('verified');
    const table = await runCli(['list'], { env });
    expect(table.stdout).toMatch(new RegExp(`${id}.*before-season.*ok`));
  });

  it('--schemas naming a schema that does not exist is bad input: exit 2, one line, no backup', async () => {
    const before = (await runCli(['list', '--all', '--json'], { env })).stdout;
    const result = await runCli(['backup', '--schemas', 'league,nope', '--no-progress'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'mt-ops: invalid backup scope: --schemas[1]: schema "nope" does not exist in the database\n',
    );
    expect((await runCli(['list', '--all', '--json'], { env })).stdout).toBe(before);
  });

  it('--exclude-tables naming a table that does not exist gets a warning, and the backup runs', async () => {
    const result = await runCli(['backup', '--schemas', 'league', '--exclude-tables', 'league.nope', '--no-progress'], {
      env,
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/--exclude-tables\[0\]: table league\.nope does not exist/);
  });

  it("a backup killed with SIGKILL midway leaves no complete backup; the next one on this host takes the dead run's lease over at once", async () => {
    const before = JSON.parse((await runCli(['list', '--json'], { env })).stdout) as unknown[];
    // a lease far longer than the test: only the takeover of a dead holder's lease lets the next run start
    const longLease = join(tempDir('mt-cli-config-'), 'ops.config.json');
    writeFileSync(longLease, JSON.stringify({ backup: { leaseTtlSeconds: 3600, jobs: 1 } }));
    const child = spawn(process.execPath, [CLI, 'backup', '--no-progress', '--schemas', 'public'], {
      env: { ...process.env, ...env, OPS_CONFIG: longLease, LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    // wait until it is streaming table data into an object, then kill it
    const tmp = join(bucketDir, '.tmp');
    const deadline = Date.now() + 30_000;
    const writingData = () =>
      existsSync(tmp) &&
      readdirSync(tmp).some((f) => (statSync(join(tmp, f), { throwIfNoEntry: false })?.size ?? 0) > 64 * 1024);
    while (!writingData()) {
      if (Date.now() > deadline) throw new Error('backup never started writing');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const after = JSON.parse((await runCli(['list', '--json'], { env })).stdout) as unknown[];
    expect(after).toHaveLength(before.length);
    const all = JSON.parse((await runCli(['list', '--json', '--all'], { env })).stdout) as Array<{ kind: string }>;
    expect(all.filter((e) => e.kind === 'incomplete')).toHaveLength(1);

    // the killed run's lease is still live (nobody released it) and names the dead process
    const lease = await readLease(openStore(`file://${bucketDir}`), keys.lease('cli'));
    expect(lease?.live).toBe(true);
    expect(lease?.holder).toMatch(new RegExp(`^${hostname()}:${child.pid}:[0-9a-f]+$`));
    const next = await runCli(['backup', '--no-progress', '--schemas', 'league'], { env });
    expect(next.stderr).toBe('');
    expect(next.code).toBe(0);
    expect(next.stdout.trim()).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
  });

  it('a lease held by a process on another host blocks backups until it expires; then the next one runs', async () => {
    const store = openStore(`file://${bucketDir}`);
    const held = await acquireLease(store, keys.lease('cli'), { ttlMs: 12_000, holder: 'other-host:4242:abcdef' });
    const busy = await runCli(['backup', '--no-progress', '--schemas', 'league'], { env });
    expect(busy.code).toBe(0);
    expect(busy.stderr).toMatch(/another backup of env cli is running \(other-host:4242:abcdef, lease until/);
    await new Promise((r) => setTimeout(r, Math.max(0, held.expiresAt.getTime() - Date.now()) + 200));
    const next = await runCli(['backup', '--no-progress', '--schemas', 'league'], { env });
    expect(next.code).toBe(0);
    expect(next.stdout.trim()).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
  });

  it('verify of a damaged backup exits 1 with a precise report, and list shows it FAILED', async () => {
    const id = (await runCli(['backup', '--no-progress', '--schemas', 'league'], { env })).stdout.trim();
    const dataDir = join(bucketDir, 'cli', id, 'data');
    const victim = join(dataDir, readdirSync(dataDir).sort()[0]!);
    writeFileSync(victim, Buffer.concat([readFileSync(victim), Buffer.from('trailing garbage')]));
    const r = await runCli(['verify', id], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`backup ${id} FAILED verification`));
    expect(r.stdout).toMatch(/league\.\w+: size \d+ bytes, manifest says \d+/);
    const list = await runCli(['list'], { env });
    expect(list.stdout).toMatch(new RegExp(`${id}.*FAILED`));
  });

  it('verify of an unknown id is a usage error', async () => {
    const r = await runCli(['verify', '20200101T000000Z-abcd'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown backup id 20200101T000000Z-abcd/);
  });
});

describe('bad input', () => {
  it('a malformed bucket URL exits 2 with the reason', async () => {
    const r = await runCli(['backup', '--bucket', 'ftp://nope'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--bucket.*'ftp:\/\/nope' is invalid\. must be file:\/\/\/abs\/path/);
    const fromEnv = await runCli(['list'], { env: { ...env, BACKUP_BUCKET: 'gs://x' } });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(/BACKUP_BUCKET: must be/);
  });

  it('an unreachable database exits 1, without the password', async () => {
    const r = await runCli(
      ['backup', '--no-progress', '--database-url', 'postgres://ops:s3cret-pw-77@127.0.0.1:1/db'],
      { env },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot connect to the database/);
    expect(r.stderr + r.stdout).not.toContain('s3cret-pw-77');
  });

  it('bad flag values exit 2 with a one-line reason', async () => {
    for (const args of [
      ['backup', '--jobs', '0'],
      ['backup', '--jobs', 'many'],
      ['backup', '--exclude-tables', 'nodot'],
      ['list', '--bogus'],
    ]) {
      const r = await runCli(args, { env });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('no database configured exits 2', async () => {
    const r = await runCli(['backup'], { env: { ...env, DATABASE_URL: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/set DATABASE_URL or pass --database-url/);
  });
});
