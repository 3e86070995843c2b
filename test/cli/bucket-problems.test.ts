/** Bucket problems get plain words and the right exit code (issue 9, item 21): no raw ENOTDIR, EACCES or stack. */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { runCli, runAsNobody, canDropPrivileges, type CliResult } from '../support/cli';

const oneLine = (r: CliResult) => {
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at |ENOTDIR|EACCES|node_modules/);
};

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('mt_bucket');
  await db.query(
    'CREATE TABLE public.teams (id int PRIMARY KEY, name text); INSERT INTO public.teams VALUES (1, $$Eagles$$)',
  );
});

describe('bucket problems', () => {
  it('a bucket URL naming a file: backup and list exit 2 saying so (list does not claim "no backups")', async () => {
    const file = join(tempDir(), 'not-a-folder');
    writeFileSync(file, 'x');
    const env = { DATABASE_URL: db.url, BACKUP_BUCKET: `file://${file}`, OPS_ENV: 'b', OPS_CONFIG: '' };
    const list = await runCli(['list'], { env });
    expect(list.code).toBe(2);
    expect(list.stderr).toBe(`mt-ops: bucket file://${file}: ${file} is a file, not a folder\n`);
    const backup = await runCli(['backup', '--no-progress'], { env });
    expect(backup.code).toBe(2);
    expect(backup.stderr).toContain(`${file} is a file, not a folder`);
    oneLine(backup);
    const through = await runCli(['list'], { env: { ...env, BACKUP_BUCKET: `file://${file}/sub` } });
    expect(through.code).toBe(2);
    expect(through.stderr).toContain('a parent of');
    oneLine(through);
  });

  it('a bucket folder that does not exist: list, uptime and alerts status say so in one line (a mistyped path is not all clear), and still answer', async () => {
    const missing = join(tempDir(), 'no-such-bucket');
    const env = { BACKUP_BUCKET: `file://${missing}`, OPS_ENV: 'b', OPS_CONFIG: '' };
    const note = `mt-ops: note: the bucket folder ${missing} does not exist: nothing has been written there (is BACKUP_BUCKET right?)\n`;
    for (const args of [['list'], ['uptime'], ['alerts', 'status'], ['uptime', '--json']]) {
      const r = await runCli(args, { env });
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stderr, args.join(' ')).toBe(note);
    }
    // once the folder is there (even empty), nothing is said
    mkdirSync(missing);
    const there = await runCli(['alerts', 'status'], { env });
    expect(there.code).toBe(0);
    expect(there.stderr).toBe('');
  });

  it.skipIf(!canDropPrivileges)(
    'a bucket folder the user may not write: exit 1 with a plain sentence, no raw EACCES',
    async () => {
      const bucket = tempDir();
      mkdirSync(join(bucket, 'b'), { recursive: true });
      chmodSync(bucket, 0o755); // owned by root: read-only for nobody
      const result = await runAsNobody(['backup', '--no-progress'], {
        DATABASE_URL: db.url,
        BACKUP_BUCKET: `file://${bucket}`,
        OPS_ENV: 'b',
        OPS_CONFIG: '',
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`cannot write the bucket folder ${bucket}: permission denied`);
      oneLine(result);
    },
  );

  it.skipIf(!canDropPrivileges)(
    'verify on a bucket it may not write: the result first, then one line saying it was not recorded; exit 1',
    async () => {
      const bucket = tempDir();
      const env = { DATABASE_URL: db.url, BACKUP_BUCKET: `file://${bucket}`, OPS_ENV: 'b', OPS_CONFIG: '' };
      const backup = await runCli(['backup', '--no-progress', '--schemas', 'public'], { env });
      expect(backup.code, backup.stderr).toBe(0);
      const id = backup.stdout.trim();
      expect(spawnSync('chmod', ['-R', 'a+rX,a-w', bucket]).status).toBe(0); // readable, not writable, for nobody
      const verify = await runAsNobody(['verify', id, '--no-progress'], env);
      expect(verify.stdout).toBe(`backup ${id} verified: 1 table, 1 row, checksums match\n`); // not "1 tables, 1 rows"
      expect(verify.stderr).toBe(
        `mt-ops: backup ${id} verified, but the verify record could not be written: cannot write the bucket folder ${bucket}: permission denied\n`,
      );
      expect(verify.code).toBe(1);
      const json = await runAsNobody(['verify', id, '--json'], env);
      expect(JSON.parse(json.stdout)).toMatchObject({ backupId: id, ok: true });
      expect(json.stderr).toContain('the verify record could not be written');
      oneLine(json);
      expect(json.code).toBe(1);
    },
  );

  it('export --out through a file or into a missing folder: exit 2 naming the folder', async () => {
    const bucket = tempDir();
    const env = { DATABASE_URL: db.url, BACKUP_BUCKET: `file://${bucket}`, OPS_ENV: 'b', OPS_CONFIG: '' };
    const backup = await runCli(['backup', '--no-progress', '--schemas', 'public'], { env });
    expect(backup.code).toBe(0);
    const dir = tempDir();
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const through = await runCli(['export', 'latest', '--out', join(file, 'out.json.gz')], { env });
    expect(through.code).toBe(2);
    expect(through.stderr).toBe(`mt-ops: --out: ${file} is a file, not a directory\n`);
    const missing = await runCli(['export', 'latest', '--out', join(dir, 'missing', 'x.json.gz')], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`mt-ops: --out: no such directory: ${join(dir, 'missing')}\n`);
    const slash = await runCli(['export', 'latest', '--out', `${join(dir, 'gone')}/`], { env });
    expect(slash.code).toBe(2);
    expect(slash.stderr).toBe(`mt-ops: --out: no such directory: ${join(dir, 'gone')}/\n`);
  });
});
