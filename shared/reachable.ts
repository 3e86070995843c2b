/**
 * Whether a local server named by a variable answers (the Pub/Sub emulator, a fake Scheduler), tried once with a TCP
 * connect before a Google client is pointed at it: the clients retry their first call for minutes, so a variable left
 * set in a shell from an earlier session would hang a command without a word.
 */
import { connect } from 'node:net';
import { UsageError, errorMessage } from './errors';

/**
 * Resolves when something accepts a connection at `hostPort` (`host:port`, `[::1]:port`) within 5 s; else throws a
 * UsageError naming `variable`, with `hint` (what to do about it).
 */
export async function assertReachable(hostPort: string, variable: string, hint: string): Promise<void> {
  const at = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, at).replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = Number(hostPort.slice(at + 1));
  if (at < 0 || !Number.isInteger(port) || port <= 0 || port > 65535)
    throw new UsageError(`${variable}: ${hostPort} is not host:port`);
  const why = await new Promise<string | undefined>((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(5000, () => {
      socket.destroy();
      resolve('no answer in 5 s');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err) => resolve(errorMessage(err)));
  });
  if (why) throw new UsageError(`${variable}: nothing answers at ${hostPort} (${hint})`, [`${variable}: ${why}`]);
}
