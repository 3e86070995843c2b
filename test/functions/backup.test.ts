import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { backupHttpHandler, backupEventHandler } from '../../functions/backup/handlers';
import { listBackups } from '../../shared/backup/catalog';

let db: TestDatabase;
let rt: ReturnType<typeof testRuntime>;
let server: Server;
let base: string;

beforeAll(async () => {
  db = await createTestDatabase('mt_fn_backup');
  await loadAwkwardSchema(db);
  rt = testRuntime({ DATABASE_URL: db.url, BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: 'fn' });
  ff.http(
    'backupHttpTest',
    backupHttpHandler(() => rt),
  );
  server = getTestServer('backupHttpTest');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const post = (body: string, contentType = 'application/json') =>
  fetch(base, { method: 'POST', headers: { 'content-type': contentType }, body });

describe('backup function: HTTP (manual)', () => {
  it('without DATABASE_URL: 400 naming the variable and where it comes from, no CLI flag', async () => {
    const noDb = testRuntime({ BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: 'fn', DATABASE_URL: '' });
    ff.http(
      'backupHttpNoDb',
      backupHttpHandler(() => noDb),
    );
    const s = getTestServer('backupHttpNoDb');
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    try {
      const res = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/`, { method: 'POST' });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string };
      expect(body.error).toMatch(/^no database: DATABASE_URL is not set in this function's environment/);
      expect(body.error).not.toContain('--database-url');
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('takes a backup and answers with the summary; publishes backup.succeeded', async () => {
    const res = await post(JSON.stringify({ label: 'manual-1', schemas: ['league'] }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ status: 'completed', env: 'fn', label: 'manual-1', totals: { tables: 3 } });
    const event = rt.bus.published.find((m) => m.event.type === 'backup.succeeded');
    expect(event?.event).toMatchObject({ backupId: body.id, severity: 'info', trigger: 'manual' });
    expect(event?.attributes).toEqual({ type: 'backup.succeeded', severity: 'info', env: 'fn' });
  });

  it('an empty body backs up the default scope', async () => {
    const res = await fetch(base, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).totals.tables).toBe(8);
  });

  it.each([
    ['{"label": 5}', 'body.label'],
    ['{"schemas": "public"}', 'body.schemas'],
    ['{"excludeTables": ["nodot"]}', 'body.excludeTables[0]'],
    ['{"unexpected": true}', 'unexpected'],
  ])('answers 400 for a bad body %s, naming %s', async (payload, expected) => {
    const res = await post(payload);
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(JSON.stringify(body)).toContain(expected);
  });

  it('answers 400 for a schema that does not exist, naming the field; publishes nothing and takes no backup', async () => {
    const published = rt.bus.published.length;
    const before = (await listBackups(rt.store, 'fn', { includeIncomplete: true })).length;
    const res = await post(JSON.stringify({ schemas: ['league', 'nope'] }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.issues).toEqual(['body.schemas[1]: schema "nope" does not exist in the database']);
    expect(rt.bus.published.length).toBe(published);
    expect((await listBackups(rt.store, 'fn', { includeIncomplete: true })).length).toBe(before);
  });

  it('backs up with an excluded table that does not exist, and logs a warning naming it', async () => {
    const res = await post(JSON.stringify({ schemas: ['league'], excludeTables: ['league.nope'] }));
    expect(res.status).toBe(200);
    expect(
      rt.logs.some(
        (l) => l.includes('"severity":"WARNING"') && l.includes('body.excludeTables[0]') && l.includes('league.nope'),
      ),
    ).toBe(true);
  });

  it('answers 400 to a body that is not JSON (rejected by the framework before the handler)', async () => {
    const res = await post('{not json');
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/JSON/);
  });

  it('answers 400 to a JSON body sent as text, naming the problem', async () => {
    const res = await post('{not json', 'text/plain');
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).issues).toEqual(['body: not valid JSON']);
  });

  it('answers 405 to GET', async () => {
    expect((await fetch(base)).status).toBe(405);
  });

  it('a failing backup answers 500 with the reason (no password) and publishes backup.failed', async () => {
    const broken = testRuntime({
      DATABASE_URL: 'postgres://ops:pw-never-shown@127.0.0.1:1/x',
      BACKUP_BUCKET: `file://${tempDir()}`,
      OPS_ENV: 'fn',
    });
    ff.http(
      'backupHttpBroken',
      backupHttpHandler(() => broken),
    );
    const s = getTestServer('backupHttpBroken');
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    try {
      const res = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/`, { method: 'POST' });
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(text).toContain('cannot connect to the database');
      expect(text).not.toContain('pw-never-shown');
      expect(broken.bus.published.map((m) => m.event.type)).toEqual(['backup.failed']);
      expect(broken.bus.published[0]!.event.severity).toBe('critical');
      expect(broken.logs.join('\n')).not.toContain('pw-never-shown');
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});

describe('backup function: CloudEvent (scheduled)', () => {
  const cloudEvent = (data: unknown, messageId: string) => ({
    specversion: '1.0',
    id: messageId,
    source: '//pubsub.googleapis.com/projects/p/topics/mt-ops-backup-trigger',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    data: {
      message: { data: Buffer.from(JSON.stringify(data)).toString('base64'), messageId, attributes: {} },
      subscription: 's',
    },
  });

  it('backs up once per message id, even when the message is redelivered', async () => {
    const handler = backupEventHandler(() => rt);
    const before = (await listBackups(rt.store, 'fn')).length;
    await handler(cloudEvent({ label: 'nightly' }, '1001') as never);
    await handler(cloudEvent({ label: 'nightly' }, '1001') as never);
    const after = await listBackups(rt.store, 'fn');
    expect(after.length).toBe(before + 1);
    expect(after[0]!.manifest).toMatchObject({ label: 'nightly', trigger: { kind: 'scheduled', messageId: '1001' } });
  });

  it('a trigger naming a schema that does not exist is poison: logged with the field path, acknowledged, no event', async () => {
    const handler = backupEventHandler(() => rt);
    const published = rt.bus.published.length;
    await expect(handler(cloudEvent({ schemas: ['nope'] }, '1077') as never)).resolves.toBeUndefined();
    expect(rt.bus.published.length).toBe(published);
    expect(
      rt.logs.some((l) => l.includes('"severity":"ERROR"') && l.includes('data.schemas[0]') && l.includes('nope')),
    ).toBe(true);
  });

  it('a poison message is logged and acknowledged, not thrown', async () => {
    const handler = backupEventHandler(() => rt);
    await expect(handler(cloudEvent({ label: 42 }, '1002') as never)).resolves.toBeUndefined();
    await expect(handler({ id: 'x', data: { nope: true } } as never)).resolves.toBeUndefined();
    expect(rt.logs.some((l) => l.includes('"severity":"ERROR"') && l.includes('data.label'))).toBe(true);
  });
});
