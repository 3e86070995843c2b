import { describe, it, expect, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { CLI } from '../support/cli';
import { openStore } from '../../shared/storage/open';
import { readLease, processScope } from '../../shared/storage/lease';
import { writeSyntheticBackup } from '../support/synthetic-backup';
import { listBackups } from '../../shared/backup/catalog';
import { keys } from '../../shared/backup/layout';
import { runBackup } from '../../shared/backup/run';

/** SIGTERM and SIGINT stop the CLI cleanly: lease released, what it wrote removed (or rolled back), one line, 143/130. */
let db: TestDatabase;
let bucketDir: string;
let env: Record<string, string>;

function start(
  args: string[],
  extra: Record<string, string> = {},
): {
  child: ChildProcess;
  done: Promise<{ code: number | null; stderr: string; stdout: string }>;
} {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env, LOG_LEVEL: 'warn', ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stderr, stdout })),
  );
  return { child, done };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 40_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function sessions(url: string, application: string, queryLike = '%'): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() AND query LIKE $2`,
      [application, queryLike],
    );
    return Number(rows[0].n);
  } finally {
    await client.end();
  }
}

async function expectNoSessions(url: string, application: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await sessions(url, application)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(await sessions(url, application)).toBe(0);
}

beforeAll(async () => {
  db = await createTestDatabase('mt_signals');
  await db.query(`CREATE TABLE public.big (id bigint PRIMARY KEY, payload text);
                  INSERT INTO public.big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 400000) g`);
  bucketDir = tempDir('mt-signals-bucket-');
  env = { DATABASE_URL: db.url, BACKUP_BUCKET: `file://${bucketDir}`, OPS_ENV: 'sig' };
});

describe('a signal stops the CLI cleanly', () => {
  it('SIGTERM mid-backup: exit 143, one line, lease released, nothing left in the bucket, connections closed', async () => {
    const { child, done } = start(['backup', '--no-progress']);
    const tmp = join(bucketDir, '.tmp');
    await waitFor(
      'the backup writes table data',
      () =>
        existsSync(tmp) &&
        readdirSync(tmp).some((f) => (statSync(join(tmp, f), { throwIfNoEntry: false })?.size ?? 0) > 64 * 1024),
    );
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(
      /^mt-ops: backup stopped by SIGTERM: nothing kept \(its objects removed\), lease released\n$/,
    );
    expect(r.stdout).toBe('');
    const store = openStore(`file://${bucketDir}`);
    expect(await readLease(store, keys.lease('sig'))).toBeUndefined();
    expect(await listBackups(store, 'sig', { includeIncomplete: true })).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
    await expectNoSessions(db.url, 'mt-ops backup');
  });

  it('SIGINT mid-verify: exit 130, one line, nothing recorded', async () => {
    const store = openStore(`file://${bucketDir}`);
    const result = await runBackup({ databaseUrl: db.url, store, env: 'sig' });
    if (result.status !== 'completed') throw new Error('no backup');
    const { child, done } = start(['verify', result.manifest.id, '--no-progress']);
    // mid-way: the verify has a data object of the backup open
    const backupDir = join(bucketDir, 'sig', result.manifest.id);
    await waitFor('the verify reads the table data', () => {
      try {
        return readdirSync(`/proc/${child.pid}/fd`).some((fd) => {
          try {
            return readlinkSync(`/proc/${child.pid}/fd/${fd}`).startsWith(backupDir);
          } catch {
            return false;
          }
        });
      } catch {
        return false;
      }
    });
    child.kill('SIGINT');
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr).toBe('mt-ops: verify stopped by SIGINT: nothing recorded\n');
    expect(await store.readJson(keys.verify('sig', result.manifest.id))).toBeUndefined();
  });

  it('SIGINT mid-probe: exit 130, one line', async () => {
    let reached!: () => void;
    const connected = new Promise<void>((r) => (reached = r));
    const sockets: Socket[] = [];
    const hanging = createServer((socket) => {
      sockets.push(socket); // never answered
      reached();
    });
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    try {
      const dir = tempDir();
      const { port } = hanging.address() as AddressInfo;
      writeFileSync(
        join(dir, 'ops.json'),
        JSON.stringify({ probes: [{ name: 'slow', url: `http://127.0.0.1:${port}/health`, timeoutMs: 30_000 }] }),
      );
      const { child, done } = start(['probe'], { OPS_CONFIG: join(dir, 'ops.json') });
      await connected;
      child.kill('SIGINT');
      const r = await done;
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(/^mt-ops: probe stopped by SIGINT: [^\n]*\n$/);
      expect(r.stdout).toBe('');
    } finally {
      for (const s of sockets) s.destroy();
      hanging.close();
    }
  });

  it('SIGINT mid-restore: exit 130, one line, rolled back (the target unchanged), connections closed', async () => {
    const result = await runBackup({ databaseUrl: db.url, store: openStore(`file://${bucketDir}`), env: 'sig' });
    if (result.status !== 'completed') throw new Error('no backup');
    const target = await db.createDatabase('mt_signals_target');
    const t = new pg.Client({ connectionString: target });
    await t.connect();
    try {
      await t.query(
        `CREATE TABLE public.big (id bigint PRIMARY KEY, payload text); INSERT INTO public.big VALUES (1, 'kept'), (2, 'kept')`,
      );
      const { child, done } = start([
        'restore',
        result.manifest.id,
        '--database-url',
        target,
        '--yes',
        '--no-safety-backup',
        '--no-progress',
      ]);
      await waitFor('the restore loads rows', async () => (await sessions(target, 'mt-ops restore', 'COPY%')) > 0);
      child.kill('SIGINT');
      const r = await done;
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(/^mt-ops: restore stopped by SIGINT: rolled back, the target is unchanged\n$/);
      await expectNoSessions(target, 'mt-ops restore');
      const { rows } = await t.query(`SELECT id, payload FROM public.big ORDER BY id`);
      expect(rows).toEqual([
        { id: '1', payload: 'kept' },
        { id: '2', payload: 'kept' },
      ]);
    } finally {
      await t.end();
    }
  });

  it('SIGTERM mid-cleanup: the deletion under way finishes, no other starts; exit 143, one line saying what it removed', async () => {
    const root = tempDir('mt-signals-cleanup-');
    const store = openStore(`file://${root}`);
    const ids: string[] = [];
    for (const [i, day] of ['01', '02', '03', '04', '05'].entries())
      ids.push(await writeSyntheticBackup(store, 'cl', `2026-11-${day}T03:00:00Z`, { suffix: `c${i}00` }));
    // Every backup to be removed has its data object's key locked by this (live) process: whichever deletion starts
    // first removes its manifest, then waits on that lock, so the signal lands while one deletion is under way.
    const lockOf = (key: string) => join(root, '.locks', `${createHash('sha256').update(key).digest('hex')}.lock`);
    mkdirSync(join(root, '.locks'), { recursive: true });
    const locks = ids.slice(0, 4).map((id) => lockOf(`${keys.backupPrefix('cl', id)}data/0001.copy.gz`));
    for (const lock of locks)
      writeFileSync(lock, JSON.stringify({ holder: `${hostname()}:${process.pid}:abcdef`, scope: processScope() }));
    const manifests = () => ids.filter((id) => existsSync(join(root, keys.manifest('cl', id)))).length;

    const config = join(tempDir('mt-signals-cleanup-config-'), 'ops.config.json');
    writeFileSync(config, JSON.stringify({ retention: { deleteConcurrency: 1 } })); // one deletion at a time
    const child = spawn(process.execPath, [CLI, 'cleanup', '--keep-last', '1', '--min-keep', '1'], {
      env: { ...process.env, BACKUP_BUCKET: `file://${root}`, OPS_ENV: 'cl', OPS_CONFIG: config, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await waitFor('a deletion has started (a manifest is gone)', () => manifests() < ids.length);
    child.kill('SIGTERM');
    // Let the deletion under way finish: release the lock of each backup whose deletion has started (its manifest is
    // gone), until the process exits. Normally that is one; one started before the signal was seen finishes too.
    const gone = (id: string) => !existsSync(join(root, keys.manifest('cl', id)));
    let exited = false;
    const done2 = done.then((code) => ((exited = true), code));
    while (!exited) {
      ids.slice(0, 4).forEach((id, i) => gone(id) && rmSync(locks[i]!, { force: true }));
      await Promise.race([done2, new Promise((r) => setTimeout(r, 20))]);
    }
    const code = await done2;
    expect(code).toBe(143);
    const left = await listBackups(store, 'cl', { includeIncomplete: true });
    const removed = ids.length - left.length;
    expect(removed).toBeGreaterThanOrEqual(1);
    expect(removed).toBeLessThan(4); // stopped before the end
    expect(stderr).toBe(
      `mt-ops: cleanup stopped by SIGTERM: ${removed} backup(s) removed, every other one left whole\n`,
    );
    expect(stdout).toBe('');
    expect(left.every((b) => b.kind === 'complete')).toBe(true); // nothing half-deleted
  });
});
