/** Finds or starts the PostgreSQL server for the tests. */
import { spawnSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import pg from 'pg';

/**
 * Finds a PostgreSQL server for the test run:
 * TEST_DATABASE_URL; else the server on 127.0.0.1:5432; else a throwaway cluster made with initdb
 * (fsync off, in a temp dir, on a free port) that `stop()` removes; else a clear error.
 */
export interface PostgresServer {
  /** Admin URL (a database the role may CREATE DATABASE from). */
  adminUrl: string;
  binDir?: string;
  stop(): Promise<void>;
}

export async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export function findPostgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startPostgresServer(): Promise<PostgresServer> {
  const binDir = findPostgresBinDir();
  if (process.env.TEST_DATABASE_URL) {
    if (!(await canConnect(process.env.TEST_DATABASE_URL))) {
      throw new Error('TEST_DATABASE_URL is set but no connection could be made to it');
    }
    return { adminUrl: process.env.TEST_DATABASE_URL, binDir, stop: async () => {} };
  }
  for (const user of ['postgres', 'root']) {
    const url = `postgres://${user}@127.0.0.1:5432/postgres`;
    if (await canConnect(url)) return { adminUrl: url, binDir, stop: async () => {} };
  }
  if (!binDir) {
    throw new Error(
      'No PostgreSQL for the tests: set TEST_DATABASE_URL=postgres://user@host:port/db, ' +
        'run a server on 127.0.0.1:5432, or install PostgreSQL (apt-get install postgresql) so a throwaway cluster can be started.',
    );
  }
  return startThrowawayCluster(binDir);
}

/**
 * A throwaway cluster of its own (initdb in a temp dir, on a free port, trust), `settings` passed to the server as
 * `-c name=value` (`{ max_connections: '10' }`): for a test that needs the whole server to itself. `stop()` removes it.
 */
export async function startThrowawayCluster(
  binDir: string,
  settings: Record<string, string> = {},
): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mt-ops-pg-'));
  const data = join(dir, 'data');
  const user = 'postgres';
  // initdb refuses to run as root; run as the 'postgres' OS user when we are root.
  const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  if (asUser.length) spawnSync('chown', ['-R', 'postgres', dir]);
  const init = spawnSync(
    asUser[0] ?? join(binDir, 'initdb'),
    [
      ...asUser.slice(1),
      ...(asUser.length ? [join(binDir, 'initdb')] : []),
      '-D',
      data,
      '-U',
      user,
      '-A',
      'trust',
      '--no-sync',
    ],
    {
      encoding: 'utf8',
    },
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freePort();
  const args = [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
  const child: ChildProcess = spawn(
    asUser[0] ?? join(binDir, 'postgres'),
    [...asUser.slice(1), ...(asUser.length ? [join(binDir, 'postgres')] : []), ...args],
    {
      stdio: 'ignore',
    },
  );
  const adminUrl = `postgres://${user}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  while (!(await canConnect(adminUrl))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('throwaway PostgreSQL cluster did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    adminUrl,
    binDir,
    async stop() {
      // pg_ctl stops the server itself: run as root, the child is runuser, which does not pass a signal on (the
      // cluster outlived the tests)
      const exited = new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      spawnSync(
        asUser[0] ?? join(binDir, 'pg_ctl'),
        [...asUser.slice(1), ...(asUser.length ? [join(binDir, 'pg_ctl')] : []), 'stop', '-D', data, '-m', 'fast'],
        { stdio: 'ignore' },
      );
      child.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
