import { describe, it, expect, beforeAll } from 'vitest';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { readFixture, loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { runBackup } from '../../shared/backup/run';
import { keys } from '../../shared/backup/layout';
import type { Manifest } from '../../shared/backup/manifest';
import { runRestoreDrill, DrillSetupError } from '../../shared/restore/drill';
import { verifyEventHandler } from '../../functions/verify/index';
import { snapshotOf, exec, withClient } from './helpers';

let db: TestDatabase;
let rt: ReturnType<typeof testRuntime>;
let bucketDir: string;
let manifest: Manifest;
let scratch: string;

beforeAll(async () => {
  db = await createTestDatabase('mt_drill');
  await loadAwkwardSchema(db);
  bucketDir = tempDir('mt-drill-store-');
  scratch = await db.createDatabase('mt_drill_scratch');
  await exec(scratch, readFixture('awkward-schema.sql'));
  rt = testRuntime({ BACKUP_BUCKET: `file://${bucketDir}`, OPS_ENV: 'drill', VERIFY_DATABASE_URL: scratch });
  const r = await runBackup({ databaseUrl: db.url, store: rt.store, env: 'drill' });
  if (r.status !== 'completed') throw new Error(r.status);
  manifest = r.manifest;
});

describe('restore drill', () => {
  it('restores into an empty scratch database, matches every row count and content hash, and leaves it empty', async () => {
    const before = await snapshotOf(scratch);
    const result = await runRestoreDrill({ store: rt.store, manifest, databaseUrl: scratch });
    expect(result.details).toHaveLength(1);
    expect(result.ok).toBe(true);
    expect(result.tables.map((t) => t.table).sort()).toEqual(
      manifest.tables.map((t) => `${t.schema}.${t.name}`).sort(),
    );
    expect(result.tables.every((t) => t.ok && t.backupHash === t.restoredHash)).toBe(true);
    expect(result.tables.find((t) => t.table === 'public.serial_things')!.rows).toBe(20);
    expect(await snapshotOf(scratch)).toEqual(before); // rolled back: reusable
  });

  it('creates the scratch database from a template and drops it after', async () => {
    const template = (await db.createDatabase('mt_drill_tpl')).split('/').pop()!;
    await exec(db.urlFor(template), readFixture('awkward-schema.sql'));
    const name = `mt_drill_new_${Date.now()}`;
    const result = await runRestoreDrill({ store: rt.store, manifest, databaseUrl: db.urlFor(name), template });
    expect(result.ok, result.details.join('\n')).toBe(true);
    const { rows } = await withClient(db.url, (c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]));
    expect(rows).toHaveLength(0);
    await expect(runRestoreDrill({ store: rt.store, manifest, databaseUrl: db.url, template })).rejects.toThrow(
      /exists already/,
    );
  });

  it('refuses (a set-up error, without changing it) when the scratch database is not empty', async () => {
    const busy = await db.createDatabase('mt_drill_busy');
    await exec(busy, readFixture('awkward-schema.sql') + "INSERT INTO public.serial_things (name) VALUES ('x');");
    const before = await snapshotOf(busy);
    const err = await runRestoreDrill({ store: rt.store, manifest, databaseUrl: busy }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrillSetupError);
    expect((err as Error).message).toMatch(/scratch database mt_drill_busy_\w+ is not empty.*public\.serial_things/);
    expect(await snapshotOf(busy)).toEqual(before);
  });

  it('detects content that does not read back the same (a target that changes rows on the way in)', async () => {
    const odd = await db.createDatabase('mt_drill_odd');
    await exec(
      odd,
      readFixture('awkward-schema.sql') +
        `
      CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$;
      CREATE TRIGGER shout BEFORE INSERT ON public.serial_things FOR EACH ROW EXECUTE FUNCTION shout();
      -- the load runs with session_replication_role = replica, where only ALWAYS triggers fire
      ALTER TABLE public.serial_things ENABLE ALWAYS TRIGGER shout;`,
    );
    const result = await runRestoreDrill({ store: rt.store, manifest, databaseUrl: odd });
    expect(result.ok).toBe(false);
    expect(result.details.join('\n')).toMatch(/public\.serial_things: 20 rows \(backup 20\), content hash/);
  });
});

describe('functions/verify (scheduled)', () => {
  const trigger = (data = '') =>
    ({
      id: '1001',
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      data: { message: { data, messageId: '1001' } },
    }) as never;

  it('a trigger with an unexpected body is poison: logged, acknowledged, nothing verified', async () => {
    const before = rt.bus.published.length;
    const result = await verifyEventHandler(() => rt)(trigger(Buffer.from('{"id":"x"}').toString('base64')));
    expect(result).toBeUndefined();
    expect(rt.bus.published.length).toBe(before);
  });

  it('verifies the newest backup, runs the drill into VERIFY_DATABASE_URL, publishes verify.succeeded and records it', async () => {
    const result = await verifyEventHandler(() => rt)(trigger());
    expect(result!.ok).toBe(true);
    const event = rt.bus.published.at(-1)!.event;
    expect(event).toMatchObject({
      type: 'verify.succeeded',
      severity: 'info',
      backupId: manifest.id,
      restoreDrill: true,
    });
    const record = await rt.store.readJson(keys.verify('drill', manifest.id));
    expect(record!.value).toMatchObject({ ok: true, restoreDrill: { ok: true } });
    expect(JSON.stringify(record!.value)).not.toMatch(/postgres:\/\//);
  });

  it('publishes verify.failed (critical) with the details when an object is corrupted', async () => {
    const entry = manifest.tables.find((t) => t.name === 'everything')!;
    const file = `${bucketDir}/drill/${manifest.id}/${entry.object}`;
    chmodSync(file, 0o644);
    const bytes = readFileSync(file);
    writeFileSync(file, Buffer.concat([bytes, Buffer.from('x')]));
    const result = await verifyEventHandler(() => rt)(trigger());
    expect(result!.ok).toBe(false);
    const event = rt.bus.published.at(-1)!.event;
    expect(event).toMatchObject({ type: 'verify.failed', severity: 'critical', backupId: manifest.id });
    expect((event as { reason: string }).reason).toMatch(/public\.everything/);
  });
});
