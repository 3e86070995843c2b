/** Opening a connection to PostgreSQL, with one clear error when it cannot be opened. The one way every capability reaches a database. */
import { Socket } from 'node:net';
import pg from 'pg';
import { OpsError, errorMessage } from '../errors';
import { redactString } from '../log/redact';

export interface ConnectOptions {
  /**
   * Abandons the attempt: the socket is closed at once (not after the 15 s connection timeout) and the connect
   * rejects. A caller with a deadline of its own (a probe's timeout) aborts it when the deadline passes.
   */
  signal?: AbortSignal;
}

export async function connect(
  databaseUrl: string,
  what = 'database',
  options: ConnectOptions = {},
): Promise<pg.Client> {
  const { signal } = options;
  if (signal?.aborted)
    throw new OpsError(`cannot connect to the ${what}: connection attempt abandoned`, 'db_unreachable');
  // The socket pg would make on Node (a plain net.Socket; TLS is set up over it), kept here to be destroyed when the
  // attempt is abandoned: client.end() while connecting only half-closes it, and a server that never reads stays
  // connected until the 15 s connection timeout.
  let socket: Socket | undefined;
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: 15_000,
    keepAlive: true,
    stream: () => (socket = new Socket()),
  });
  client.on('error', () => {
    // surfaced through the failing query; without a listener the process would crash
  });
  const abandon = () => socket?.destroy();
  signal?.addEventListener('abort', abandon, { once: true });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    const why = signal?.aborted ? 'connection attempt abandoned' : redactString(errorMessage(err));
    throw new OpsError(`cannot connect to the ${what}: ${why}`, 'db_unreachable', { cause: err });
  } finally {
    signal?.removeEventListener('abort', abandon);
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
