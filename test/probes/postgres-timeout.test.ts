/**
 * The postgres probe's timeout ends its connection attempt: against a server that accepts and never answers, the
 * probe reports its timeout and leaves no socket open behind it (pg's own connection timeout is 15 s).
 */
import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tempDir } from '../support/temp';
import { ProbeSchema, resolveProbe } from '../../shared/probes/config';
import { runProbe } from '../../shared/probes/probe';
import { openStore } from '../../shared/storage/open';

/** A TCP server that accepts every connection and never says a word; `open` holds the connections still open. */
async function silentServer(): Promise<{ port: number; open: Set<Socket>; accepted: () => number; server: Server }> {
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    open.add(socket);
    socket.resume(); // it reads what it is sent (so it sees the client hang up), and answers nothing
    socket.on('error', () => {});
    socket.on('close', () => open.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as AddressInfo).port, open, accepted: () => accepted, server };
}

const servers: Array<{ server: Server; open: Set<Socket> }> = [];
afterEach(async () => {
  for (const { server, open } of servers.splice(0)) {
    for (const s of open) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('postgres probe against a server that accepts and never answers', () => {
  it('reports its timeout, and its socket is closed at once (not 15 s later)', async () => {
    const silent = await silentServer();
    servers.push(silent);
    const probe = resolveProbe(
      ProbeSchema.parse({
        name: 'db',
        kind: 'postgres',
        url: `postgres://probe@127.0.0.1:${silent.port}/app`,
        timeoutMs: 300,
      }),
    );
    const started = Date.now();
    const r = await runProbe(probe, { store: openStore(`file://${tempDir('mt-probe-pg-silent-')}`), env: 'prod' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(r.ok).toBe(false);
    expect(r.error).toBe('timed out after 300 ms');
    expect(silent.accepted()).toBe(1); // it did connect: the socket was there to be left open
    await until('the probe closes its socket to the silent server', () => silent.open.size === 0, 500);
  });
});
