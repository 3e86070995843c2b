/**
 * `npm start` as a newcomer runs it: one process, a folder as the bucket, the bearer token, schedules firing, HTTP
 * functions; and its graceful stop on SIGTERM in the middle of a backup, and of a verify.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { startLocalRuntime } from '../support/local-runtime';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { openStore } from '../../shared/storage/open';
import { listBackups } from '../../shared/backup/catalog';
import { readLease } from '../../shared/storage/lease';
import { keys } from '../../shared/backup/layout';
import { runBackup } from '../../shared/backup/run';

const TOKEN = 'test-token-0123456789abcdef';
let db: TestDatabase;
let gcs: FakeGcs;

beforeAll(async () => {
  db = await createTestDatabase('mt_local');
  await loadAwkwardSchema(db);
  gcs = await startFakeGcs();
});

afterAll(async () => {
  await gcs?.close();
});

/** bin/start.js (what `npm start` execs) in `cwd`, awaited by its banner, its log records at info. */
const start = (cwd: string, env: Record<string, string>) => startLocalRuntime(cwd, { LOG_LEVEL: 'info', ...env });

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('npm start', () => {
  it('asks for the token, serves manual backups with it, runs the scheduled backup, and stops cleanly on SIGTERM', async () => {
    const cwd = tempDir('mt-local-');
    // the shortened cron: the nightly job every 2 s
    writeFileSync(
      join(cwd, 'ops.config.json'),
      JSON.stringify({ schedules: { backup: { cron: '*/2 * * * * *' } }, backup: { leaseTtlSeconds: 5 } }),
    );
    const run = await start(cwd, { DATABASE_URL: db.url, OPS_API_TOKEN: TOKEN });
    const { url } = run;
    try {
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      expect(run.stdout()).toContain('token:    from OPS_API_TOKEN (not shown)');
      expect(run.stdout()).toContain(`config:   ${join(cwd, 'ops.config.json')}\n`);
      expect(run.stdout()).toMatch(/mt-ops-backup-nightly +\*\/2 \* \* \* \* \* \(operator file\) +-> backup +next /);

      // no token, a wrong one, a malformed header: 401, and no backup is started
      const post = (headers: Record<string, string>, body = '{"label":"by-hand"}') =>
        fetch(`${url}/backup`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      const missing = await post({});
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="mt-ops"');
      expect(((await missing.json()) as { error: string }).error).toMatch(/^missing bearer token/);
      for (const headers of [
        bearer('wrong'),
        bearer(`${TOKEN}x`),
        bearer(TOKEN.slice(0, -1)),
        { authorization: `Basic ${TOKEN}` },
      ]) {
        const res = await post(headers);
        expect(res.status).toBe(401);
        await res.body?.cancel();
      }
      expect((await fetch(`${url}/nope`)).status).toBe(401); // unknown routes too: nothing is revealed without the token
      expect((await fetch(`${url}/`)).status).toBe(401);

      // The scheduled backup fires every 2 s and holds the lease while it runs: a manual backup meeting it gets 409
      // (another backup is running) and is retried, as an operator would; it must complete within the deadline.
      let manual = await post(bearer(TOKEN));
      for (
        const retryUntil = Date.now() + 20_000;
        manual.status === 409 && Date.now() < retryUntil;
        manual = await post(bearer(TOKEN))
      ) {
        expect(await manual.json()).toMatchObject({ status: 'busy', message: 'another backup is running' });
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(manual.status).toBe(200);
      const done = (await manual.json()) as { status: string; id: string; label: string };
      expect(done).toMatchObject({ status: 'completed', label: 'by-hand' });
      const bad = await post(bearer(TOKEN), '{"label":5}');
      expect(bad.status).toBe(400);
      expect((await fetch(`${url}/nope`, { headers: bearer(TOKEN) })).status).toBe(404);
      // the framework's own errors are JSON too (no HTML page with a stack and server paths)
      const malformed = await post(bearer(TOKEN), '{not json');
      expect(malformed.status).toBe(400);
      expect(await malformed.json()).toEqual({
        error: 'request body is not valid JSON',
        issues: ['body: not valid JSON'],
      });

      // the default bucket is ./backups in the working directory; the scheduled job fires every 2 s here
      const store = openStore(`file://${join(cwd, 'backups')}`);
      const until = Date.now() + 20_000;
      let labels: string[] = [];
      while (!labels.includes('nightly')) {
        if (Date.now() > until) throw new Error(`no scheduled backup: ${run.logs()}`);
        await new Promise((r) => setTimeout(r, 250));
        labels = (await listBackups(store, 'local')).map((b) => b.manifest?.label ?? '');
      }
      const scheduled = (await listBackups(store, 'local')).find((b) => b.manifest?.label === 'nightly')!;
      expect(scheduled.manifest!.trigger).toMatchObject({
        kind: 'scheduled',
        messageId: expect.stringMatching(/^[0-9]{15}$/),
      });
      // the manual backup is in the bucket, complete, as a manual one
      const byHand = (await listBackups(store, 'local')).find((b) => b.id === done.id);
      expect(byHand?.manifest).toMatchObject({ label: 'by-hand', trigger: { kind: 'manual' } });
      // the token never reaches the logs
      expect(run.logs()).toContain('wrong bearer token (401)');
      expect(run.logs() + run.stdout()).not.toContain(TOKEN);
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
    expect(run.logs()).toContain('"message":"stopped"');
  });

  it('without OPS_API_TOKEN, generates one and prints it once (never in the logs); HOST chooses the address', async () => {
    // another loopback address: it listens there, and only there
    const run = await start(tempDir('mt-local-'), { HOST: '127.0.0.2' });
    try {
      expect(run.url).toBe(`http://127.0.0.2:${run.port}`);
      expect((await fetch(`${run.url}/healthz`)).status).toBe(200);
      await expect(fetch(`http://127.0.0.1:${run.port}/healthz`)).rejects.toThrow();
      expect(run.stdout()).not.toContain('reachable from other machines'); // still loopback
      const token = /token: +(\S+) +\(generated for this run/.exec(run.stdout())?.[1];
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(run.stdout()).toContain(`curl -X POST -H "Authorization: Bearer ${token}" ${run.url}/backup`);
      const described = await fetch(`${run.url}/`, { headers: bearer(token!) });
      expect(described.status).toBe(200);
      expect(await described.json()).toMatchObject({ env: 'local', functions: ['backup', 'status'] });
      expect((await fetch(`${run.url}/`, { headers: bearer(TOKEN) })).status).toBe(401);
      // what it runs: each schedule with its next time, the probes, the bucket, the channels, the URL
      expect(run.stdout()).toMatch(
        /mt-ops-probe-minutely +\* \* \* \* \* +-> probe +next \d{4}-\d\d-\d\d \d\d:\d\d:00 America\/New_York/,
      );
      expect(run.stdout()).toMatch(/api-health-full +http +GET http:\/\/localhost:8000\/health\/full +every 60 s/);
      expect(run.stdout()).toMatch(/bucket: +file:\/\/\S+\/backups\n/);
      expect(run.stdout()).toContain('config:   no operator file (the defaults;');
      expect(run.stdout()).toContain('alert channels on: none');
      expect(run.logs()).not.toContain(token);
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
  });

  it('SIGTERM in the middle of a backup: the backup is abandoned cleanly (nothing complete-looking, lease released), exit 0', async () => {
    const bucket = `gs://stop-bucket/p`;
    const run = await start(tempDir('mt-local-'), {
      DATABASE_URL: db.url,
      OPS_API_TOKEN: TOKEN,
      BACKUP_BUCKET: bucket,
      GCS_API_ENDPOINT: gcs.url,
      OPS_ENV: 'prod',
    });
    const store = openStore(bucket, { gcsApiEndpoint: gcs.url });
    gcs.stallUploads(); // the first table's data never lands: the backup is in flight until something stops it
    try {
      const answer = fetch(`${run.url}/backup`, { method: 'POST', headers: bearer(TOKEN) }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { error: string },
      }));
      // handshake: the backup has written started.json and is uploading its first table's data
      const deadline = Date.now() + 30_000;
      while (!gcs.requests.some((r) => r.method === 'PUT' && r.path.includes('upload_id='))) {
        if (Date.now() > deadline) throw new Error(`the backup never reached its data upload: ${run.logs()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(gcs.objectNames('stop-bucket').some((n) => /^p\/prod\/[^/]+\/started\.json$/.test(n))).toBe(true);
      expect(await readLease(store, keys.lease('prod'))).toBeDefined();
      run.child.kill('SIGTERM');
      const diagnose = setTimeout(
        () =>
          console.error(`still running 20 s after SIGTERM:\n${run.logs()}\n${JSON.stringify(gcs.requests.slice(-10))}`),
        20_000,
      );
      const { status, body } = await answer;
      clearTimeout(diagnose);
      expect(status).toBe(503);
      expect(body.error).toMatch(/interrupted by SIGTERM/);
      expect(await run.exited).toBe(0);
    } finally {
      gcs.stallUploads(false);
      run.child.kill('SIGKILL');
    }
    // nothing of the backup is left (no manifest, no data, no started.json), and the lease is free
    // (the minute's probe run may have written its state and alerts under .state/ and .alerts/: not the backup's)
    expect(gcs.objectNames('stop-bucket').filter((n) => /^p\/prod\/\d{8}T/.test(n))).toEqual([]);
    expect(await readLease(store, keys.lease('prod'))).toBeUndefined();
    expect(await listBackups(store, 'prod')).toEqual([]);
    expect(run.logs()).toContain('SIGTERM: stopping');
    expect(run.logs()).toMatch(/waiting for [^"]*POST \/backup[^"]* to finish or stop/);
    expect(run.logs()).not.toContain('backup failed');
  });

  it('SIGTERM in the middle of a verify: the verify is stopped at once (nothing recorded, nothing reported), exit 0', async () => {
    const bucket = 'gs://verify-stop-bucket/p';
    const store = openStore(bucket, { gcsApiEndpoint: gcs.url });
    const backup = await runBackup({ databaseUrl: db.url, store, env: 'prod' });
    if (backup.status !== 'completed') throw new Error(backup.status);
    const cwd = tempDir('mt-local-');
    // The verify runs every second; the storage's own watchdog would fail a stalled read after 3 s (as a failed
    // verify, reported): the SIGTERM must stop it before that, not wait for it.
    writeFileSync(
      join(cwd, 'ops.config.json'),
      JSON.stringify({ schedules: { verify: { cron: '* * * * * *' } }, storage: { progressTimeoutSeconds: 3 } }),
    );
    gcs.stallDownloads({ nameIncludes: '.copy.gz' }); // the first table's data never finishes arriving
    const run = await start(cwd, {
      DATABASE_URL: db.url,
      OPS_API_TOKEN: TOKEN,
      BACKUP_BUCKET: bucket,
      GCS_API_ENDPOINT: gcs.url,
      OPS_ENV: 'prod',
    });
    try {
      // handshake: the verify found the backup and is reading its first table's data
      const deadline = Date.now() + 30_000;
      while (
        !gcs.requests.some((r) => r.method === 'GET' && r.path.includes('.copy.gz') && r.path.includes('alt=media'))
      ) {
        if (Date.now() > deadline) throw new Error(`the verify never reached a table's data: ${run.logs()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
    } finally {
      gcs.stallDownloads(false);
      run.child.kill('SIGKILL');
    }
    // no verify.json (neither a pass nor a failure the run did not reach), and no verify.failed
    expect(await store.stat(keys.verify('prod', backup.manifest.id))).toBeUndefined();
    expect(run.logs()).toContain('SIGTERM: stopping');
    expect(run.logs()).toMatch(/scheduled mt-ops-verify-weekly stopped: interrupted by SIGTERM/);
    expect(run.logs()).not.toMatch(/verify failed|verify\.failed|stalled/);
  });
});
