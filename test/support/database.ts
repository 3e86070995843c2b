/** A PostgreSQL database of its own per test file, dropped afterwards. */
import { inject, afterAll } from 'vitest';
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export interface TestDatabase {
  url: string;
  name: string;
  /** A URL for another database on the same server. */
  urlFor(name: string): string;
  query(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Creates another empty database, dropped with this one. */
  createDatabase(prefix?: string): Promise<string>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Everything this test file created, dropped after the file. The hook is registered when this module is imported,
 * at the file's top level: a hook registered later, from inside beforeAll or a test, would never run.
 */
const created: string[] = [];
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
  if (created.length === 0) return;
  await admin(async (c) => {
    for (const db of created.splice(0)) await c.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  });
});

/** Creates a database of its own for the calling test file; dropped (with any it made) after the file. */
export async function createTestDatabase(prefix = 'mt_test'): Promise<TestDatabase> {
  const make = async (p: string) => {
    const name = `${p}_${randomBytes(5).toString('hex')}`;
    await admin((c) => c.query(`CREATE DATABASE "${name}"`));
    created.push(name);
    return withDatabase(inject('pgAdminUrl'), name);
  };
  const url = await make(prefix);
  const name = new URL(url).pathname.slice(1);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // pool.end() resolves before its clients' sockets close, so the DROP ... WITH (FORCE) after the file can end a
  // backend whose client is still closing: the pool reports that as an 'error' event, which with no listener was an
  // uncaught exception in whatever file ran then (seen in CI from test/pgcopy/copy-out.test.ts)
  pool.on('error', () => {});
  pools.push(pool);
  return {
    url,
    name,
    urlFor: (n) => withDatabase(inject('pgAdminUrl'), n),
    query: (sql, params) => pool.query(sql, params as unknown[]),
    createDatabase: (p = prefix) => make(p),
  };
}
