/**
 * Schemas named explicitly that exist but hold no tables: the operator asked for nothing, so it is bad input (CLI exit 2,
 * HTTP 400, a poison trigger acknowledged), with the field path, and no backup.failed event (no page). The default
 * scope finding no table at all still fails the backup (the database lost its tables: someone must look).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { runCli } from '../support/cli';
import { backupHttpHandler, backupEventHandler } from '../../functions/backup/handlers';
import { listBackups } from '../../shared/backup/catalog';
import { backupJob } from '../../shared/backup/job';

let db: TestDatabase;
let bare: TestDatabase;
let rt: ReturnType<typeof testRuntime>;
let server: Server;
let base: string;
let bucket: string;

beforeAll(async () => {
  db = await createTestDatabase('mt_empty_scope');
  await db.query(`CREATE SCHEMA league; CREATE TABLE league.teams (id int PRIMARY KEY); INSERT INTO league.teams VALUES (1);
                  CREATE SCHEMA empty_one; CREATE SCHEMA empty_two; CREATE VIEW empty_two.v AS SELECT 1 AS x`);
  bare = await createTestDatabase('mt_empty_scope_bare');
  bucket = tempDir('mt-empty-scope-');
  rt = testRuntime({ DATABASE_URL: db.url, BACKUP_BUCKET: `file://${bucket}`, OPS_ENV: 'es' });
  ff.http(
    'backupHttpEmptyScope',
    backupHttpHandler(() => rt),
  );
  server = getTestServer('backupHttpEmptyScope');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const attempts = async () => (await listBackups(rt.store, 'es', { includeIncomplete: true })).length;

describe('explicit schemas that hold no tables', () => {
  it('CLI: exit 2, one line naming the flag and the schemas, no backup attempted', async () => {
    const env = { DATABASE_URL: db.url, BACKUP_BUCKET: `file://${bucket}`, OPS_ENV: 'es', OPS_CONFIG: '' };
    const r = await runCli(['backup', '--schemas', 'empty_one,empty_two', '--no-progress'], { env });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe(
      'mt-ops: invalid backup scope: --schemas: schemas empty_one, empty_two hold no tables: nothing to back up\n',
    );
    expect(await attempts()).toBe(0);
  });

  it('HTTP: 400 with the field path; nothing published, no backup attempted', async () => {
    const res = await fetch(base, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ schemas: ['empty_one'] }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { issues: string[] }).issues).toEqual([
      'body.schemas: schema empty_one holds no tables: nothing to back up',
    ]);
    expect(rt.bus.published).toEqual([]);
    expect(await attempts()).toBe(0);
  });

  it('a scheduled trigger naming them is poison: logged with the field path, acknowledged, no event', async () => {
    const handler = backupEventHandler(() => rt);
    const data = Buffer.from(JSON.stringify({ schemas: ['empty_one'] })).toString('base64');
    const event = {
      specversion: '1.0',
      id: '2001',
      source: '//pubsub.googleapis.com/projects/p/topics/mt-ops-backup-trigger',
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      data: { message: { data, messageId: '2001', attributes: {} }, subscription: 's' },
    };
    await expect(handler(event as never)).resolves.toBeUndefined();
    expect(rt.bus.published).toEqual([]);
    expect(
      rt.logs.some(
        (l) => l.includes('"severity":"ERROR"') && l.includes('data.schemas') && l.includes('holds no tables'),
      ),
    ).toBe(true);
  });

  it('the default scope finding no table at all still fails the backup and publishes backup.failed', async () => {
    const bareRt = testRuntime({ DATABASE_URL: bare.url, BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: 'es' });
    const err = await backupJob(bareRt, { databaseUrl: bare.url, store: bareRt.store, env: 'es' }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toBe('nothing to back up: no tables in the default scope (user schemas)');
    expect(bareRt.bus.published.map((m) => m.event.type)).toEqual(['backup.failed']);
  });
});
