/** Opening a connection to PostgreSQL, with one clear error when it cannot be opened. The one way every capability reaches a database. */
import pg from 'pg';
import { OpsError, errorMessage } from '../errors';
import { redactString } from '../log/redact';

export async function connect(databaseUrl: string, what = 'database'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 15_000, keepAlive: true });
  client.on('error', () => {
    // surfaced through the failing query; without a listener the process would crash
  });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new OpsError(`cannot connect to the ${what}: ${redactString(errorMessage(err))}`, 'db_unreachable', {
      cause: err,
    });
  }
  return client;
}

/** Runs `fn` with a connection that is closed afterwards, whatever happens. */
export async function withClient<T>(
  databaseUrl: string,
  fn: (client: pg.Client) => Promise<T>,
  what = 'database',
): Promise<T> {
  const client = await connect(databaseUrl, what);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}
