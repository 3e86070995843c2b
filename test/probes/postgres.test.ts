/**
 * The postgres probe's connection figures on a cluster of its own (the shared server's connections come and go with
 * every other test): connections in use are client connections, the ones max_connections bounds, and the warning
 * starts above 80% of it.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import pg from 'pg';
import { findPostgresBinDir, startThrowawayCluster, type PostgresServer } from '../support/postgres-server';
import { tempDir } from '../support/temp';
import { ProbeSchema, resolveProbe } from '../../shared/probes/config';
import { runProbe } from '../../shared/probes/probe';
import { openStore } from '../../shared/storage/open';

const binDir = findPostgresBinDir();
let server: PostgresServer;
const clients: pg.Client[] = [];
beforeAll(async () => {
  server = await startThrowawayCluster(binDir!, { max_connections: '10', superuser_reserved_connections: '0' });
}, 60_000);
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
  await server?.stop();
});

async function hold(count: number): Promise<void> {
  while (clients.length < count) {
    const c = new pg.Client({ connectionString: server.adminUrl });
    await c.connect();
    clients.push(c);
  }
}

const probe = () =>
  runProbe(resolveProbe(ProbeSchema.parse({ name: 'db', kind: 'postgres', url: server.adminUrl })), {
    store: openStore(`file://${tempDir('mt-probe-pg-')}`),
    env: 'prod',
  });

describe.skipIf(!binDir)('postgres probe: connections in use against max_connections (a cluster of its own)', () => {
  it('alone on the server: its own connection only, not the server processes (checkpointer, walwriter, ...)', async () => {
    const r = await probe();
    expect(r.ok).toBe(true);
    expect(r.details).toMatchObject({ connections: 1, maxConnections: 10, connectionsUsedPercent: 10 });
  });

  it.each<[number, number, boolean]>([
    // the probe's own connection counts: 7 held + 1 is 80%, still within; 8 held + 1 is 90%, a warning
    [7, 80, true],
    [8, 90, false],
  ])('%i other connections held: %i percent in use, ok %s', async (held, percent, ok) => {
    await hold(held);
    const r = await probe();
    expect(r.details).toMatchObject({ connections: held + 1, connectionsUsedPercent: percent });
    expect(r.ok).toBe(ok);
    if (!ok) {
      expect(r.severity).toBe('warning');
      expect(r.availabilityFailure).toBe(false);
      expect(r.failed.map((f) => f.message)).toEqual(['[BODY].connectionsUsedPercent <= 80: got 90']);
    }
  });
});
