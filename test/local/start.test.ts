/** `npm start` as a newcomer runs it: one process, a folder as the bucket, schedules firing, HTTP functions. */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { freePort } from '../support/postgres-server';
import { openStore } from '../../shared/storage/open';
import { listBackups } from '../../shared/backup/catalog';

const START = fileURLToPath(new URL('../../bin/start.js', import.meta.url));
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('mt_local');
  await loadAwkwardSchema(db);
});

describe('npm start', () => {
  it('serves manual backups over HTTP, runs the scheduled backup, and stops cleanly on SIGTERM', async () => {
    const cwd = tempDir('mt-local-');
    writeFileSync(join(cwd, 'ops.config.json'), JSON.stringify({ schedules: { backup: { cron: '*/2 * * * * *' } }, backup: { leaseTtlSeconds: 5 } }));
    const port = await freePort();
    const child = spawn(process.execPath, [START], { cwd, env: { ...process.env, PORT: String(port), DATABASE_URL: db.url, LOG_LEVEL: 'info', BACKUP_BUCKET: '', OPS_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let logs = '';
    child.stdout.on('data', (d) => (logs += d));
    child.stderr.on('data', (d) => (logs += d));
    try {
      const deadline = Date.now() + 20_000;
      while (!logs.includes('listening on')) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`did not start: ${logs}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const health = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.json() as Promise<{ functions: string[]; env: string }>);
      expect(health).toMatchObject({ functions: ['backup'], env: 'local' });

      // The scheduled backup fires every 2 s and holds the lease while it runs: a manual backup meeting it gets 409
      // (another backup is running) and is retried, as an operator would; it must complete within the deadline.
      const post = () => fetch(`http://127.0.0.1:${port}/backup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"label":"by-hand"}' });
      let manual = await post();
      for (const retryUntil = Date.now() + 20_000; manual.status === 409 && Date.now() < retryUntil; manual = await post()) {
        expect(await manual.json()).toMatchObject({ status: 'busy', message: 'another backup is running' });
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(manual.status).toBe(200);
      const done = (await manual.json()) as { status: string; id: string; label: string };
      expect(done).toMatchObject({ status: 'completed', label: 'by-hand' });
      const bad = await fetch(`http://127.0.0.1:${port}/backup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"label":5}' });
      expect(bad.status).toBe(400);
      expect(await fetch(`http://127.0.0.1:${port}/nope`).then((r) => r.status)).toBe(404);
      // the framework's own errors are JSON too (no HTML page with a stack and server paths)
      const malformed = await fetch(`http://127.0.0.1:${port}/backup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
      expect(malformed.status).toBe(400);
      expect(await malformed.json()).toEqual({ error: 'request body is not valid JSON', issues: ['body: not valid JSON'] });

      // the default bucket is ./backups in the working directory; the scheduled job fires every 2 s here
      const store = openStore(`file://${join(cwd, 'backups')}`);
      const until = Date.now() + 20_000;
      let labels: string[] = [];
      while (!labels.includes('nightly')) {
        if (Date.now() > until) throw new Error(`no scheduled backup: ${logs}`);
        await new Promise((r) => setTimeout(r, 250));
        labels = (await listBackups(store, 'local')).map((b) => b.manifest?.label ?? '');
      }
      expect(logs).toContain('"message":"event backup.succeeded"');
      const scheduled = (await listBackups(store, 'local')).find((b) => b.manifest?.label === 'nightly')!;
      expect(scheduled.manifest!.trigger).toMatchObject({ kind: 'scheduled', messageId: expect.stringMatching(/^[0-9]{15}$/) });
      // the manual backup is in the bucket, complete, as a manual one
      const byHand = (await listBackups(store, 'local')).find((b) => b.id === done.id);
      expect(byHand?.manifest).toMatchObject({ label: 'by-hand', trigger: { kind: 'manual' } });
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(0);
  });
});
