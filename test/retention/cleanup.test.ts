/** Retention against real stores: the file store and the protocol fake of GCS. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { writeSyntheticBackup, idAt } from '../support/synthetic-backup';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { openStore } from '../../shared/storage/open';
import type { ObjectStore } from '../../shared/storage/types';
import { keys } from '../../shared/backup/layout';
import { acquireLease } from '../../shared/storage/lease';
import { listBackups } from '../../shared/backup/catalog';
import { runRetention } from '../../shared/retention/run';
import { MemoryBus } from '../../shared/bus/memory-bus';
import { retentionEventHandler } from '../../functions/retention/handlers';
import { testRuntime } from '../support/runtime';

const ENV = 'prod';
const NOW = new Date('2026-11-29T12:00:00Z');

/** Writes a complete backup (data object + manifest) the way the backup code lays it out. */
function fakeBackup(
  store: ObjectStore,
  iso: string,
  options: { verified?: boolean; suffix?: string } = {},
): Promise<string> {
  return writeSyntheticBackup(store, ENV, iso, {
    ...(options.suffix ? { suffix: options.suffix } : {}),
    columns: [
      { name: 'id', type: 'integer' },
      { name: 'v', type: 'text' },
    ],
    ...(options.verified ? { verify: { ok: true, at: iso } } : {}),
  });
}

async function orphan(store: ObjectStore, iso: string): Promise<string> {
  const id = idAt(iso, 'dead');
  await store.put(keys.started(ENV, id), JSON.stringify({ backupId: id }));
  await store.put(`${keys.backupPrefix(ENV, id)}data/0001.copy.gz`, 'partial');
  return id;
}

async function allKeys(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('')) out.push(o.key);
  return out;
}

function describeRetention(name: string, open: () => ObjectStore, fake?: () => FakeGcs) {
  describe(`retention on ${name}`, () => {
    it('applies the policy to complete and legacy backups, removes old orphans, and never touches other prefixes', async () => {
      const store = open();
      const days = ['2026-11-28', '2026-11-27', '2026-11-26', '2026-11-25', '2026-10-31', '2026-10-15'];
      const ids = [] as string[];
      for (const d of days) ids.push(await fakeBackup(store, `${d}T03:00:00.000Z`));
      await store.put('database_backup_20260915_030001.json.gz', gzipSync('{"backup_info":{},"tables":{}}'));
      await store.put('database_backup_20260901_030001.json', '{"backup_info":{},"tables":{}}');
      await store.put('unrelated/database_backup_20200101_000000.json', 'not ours to judge');
      await store.put('staging/other-env-object', 'x');
      const old = await orphan(store, '2026-11-20T03:00:00.000Z');
      const fresh = await orphan(store, '2026-11-29T11:00:00.000Z');

      const result = await runRetention(store, ENV, {
        policy: { keepLast: 2, keepMonthly: 3 },
        minKeep: 3,
        orphanGraceHours: 24,
        now: NOW,
      });
      const decided = Object.fromEntries(
        result.plan.decisions.map((d) => [d.backup.id, d.keep ? d.reasons.join(', ') : 'REMOVE']),
      );
      expect(decided).toEqual({
        [ids[0]!]: 'last 2, monthly 2026-11, floor: newest',
        [ids[1]!]: 'last 2',
        [ids[2]!]: 'REMOVE',
        [ids[3]!]: 'REMOVE',
        [ids[4]!]: 'monthly 2026-10',
        [ids[5]!]: 'REMOVE',
        'database_backup_20260915_030001.json.gz': 'monthly 2026-09',
        'database_backup_20260901_030001.json': 'REMOVE',
      });
      expect(result.removed).toBe(4);
      expect(result.orphansRemoved).toBe(1);
      expect(result.failed).toBe(0);
      const left = await allKeys(store);
      expect(left.some((k) => k.includes(ids[3]!))).toBe(false);
      expect(left.some((k) => k.includes(old))).toBe(false);
      expect(left.some((k) => k.includes(fresh))).toBe(true); // younger than the grace period
      expect(left).toContain('unrelated/database_backup_20200101_000000.json');
      expect(left).toContain('staging/other-env-object');
      expect(left).toContain('database_backup_20260915_030001.json.gz');
      expect(left).not.toContain('database_backup_20260901_030001.json');
      expect(result.bytesFreed).toBeGreaterThan(0);
      // running again removes nothing more
      const again = await runRetention(store, ENV, {
        policy: { keepLast: 2, keepMonthly: 3 },
        minKeep: 3,
        orphanGraceHours: 24,
        now: NOW,
      });
      expect(again.removed + again.orphansRemoved).toBe(0);
    });

    it('a dry run removes nothing', async () => {
      const store = open();
      for (const d of ['2026-11-10', '2026-11-11', '2026-11-12', '2026-11-13'])
        await fakeBackup(store, `${d}T03:00:00.000Z`, { suffix: 'd001' });
      const before = await allKeys(store);
      const result = await runRetention(store, ENV, {
        policy: { keepLast: 1 },
        minKeep: 1,
        orphanGraceHours: 24,
        now: NOW,
        dryRun: true,
      });
      expect(result.plan.decisions.filter((d) => !d.keep).length).toBeGreaterThan(0);
      expect(await allKeys(store)).toEqual(before);
    });

    it('leaves orphans alone while a backup holds the lease', async () => {
      const store = open();
      await fakeBackup(store, '2026-11-28T03:00:00.000Z', { suffix: 'c0de' });
      const dead = await orphan(store, '2026-11-01T03:00:00.000Z');
      const lease = await acquireLease(store, keys.lease(ENV), { ttlMs: 60_000, holder: 'running-backup' });
      try {
        const result = await runRetention(store, ENV, {
          policy: { keepLast: 10 },
          minKeep: 1,
          orphanGraceHours: 24,
          now: new Date(),
        });
        expect(result.orphansRemoved).toBe(0);
        expect(result.plan.orphans.find((o) => o.backup.id === dead)?.reason).toMatch(/holds the lease/);
      } finally {
        await lease.release();
      }
    });

    it('deletes with bounded concurrency, the manifest of each backup first', async () => {
      const real = open();
      const ids = [] as string[];
      for (let i = 1; i <= 12; i++)
        ids.push(await fakeBackup(real, `2025-07-${String(i).padStart(2, '0')}T03:00:00.000Z`, { suffix: 'cc00' }));
      await fakeBackup(real, '2026-11-28T03:00:00.000Z', { suffix: 'cc01' });
      // the real store, watched: how many deletes are in flight, and in which order each backup's objects go
      let inFlight = 0;
      let most = 0;
      const order = new Map<string, string[]>();
      const watched: ObjectStore = Object.assign(Object.create(real) as ObjectStore, {
        async delete(key: string, options?: { ifGeneration?: string }) {
          most = Math.max(most, ++inFlight);
          const id = key.split('/')[1]!;
          order.set(id, [...(order.get(id) ?? []), key.slice(key.lastIndexOf('/') + 1)]);
          try {
            await new Promise((r) => setTimeout(r, 5));
            await real.delete(key, options);
          } finally {
            inFlight--;
          }
        },
      });
      const result = await runRetention(watched, ENV, {
        policy: { keepLast: 1 },
        minKeep: 1,
        orphanGraceHours: 24,
        now: NOW,
        concurrency: 3,
      });
      expect(result.failed).toBe(0);
      expect(most).toBe(3);
      for (const id of ids) expect(order.get(id)?.[0]).toBe('manifest.json');
    });

    it('never removes a backup whose manifest is there but malformed: it is reported, not taken for an orphan', async () => {
      const store = open();
      await fakeBackup(store, '2026-11-28T03:00:00.000Z', { suffix: 'ok01' });
      const id = idAt('2026-02-01T03:00:00.000Z', 'bad1');
      await store.put(`${keys.backupPrefix(ENV, id)}data/0001.copy.gz`, 'data');
      await store.put(keys.manifest(ENV, id), '{"format":"mt-ops-backup/1", truncated');
      const result = await runRetention(store, ENV, {
        policy: { keepLast: 1 },
        minKeep: 1,
        orphanGraceHours: 24,
        now: NOW,
      });
      const decision = result.plan.orphans.find((o) => o.backup.id === id);
      expect(decision).toMatchObject({
        remove: false,
        reason: expect.stringMatching(/manifest present but unreadable.*not valid JSON/),
      });
      expect(await store.stat(keys.manifest(ENV, id))).toBeDefined();
      expect(await store.stat(`${keys.backupPrefix(ENV, id)}data/0001.copy.gz`)).toBeDefined();
    });

    if (fake) {
      it('skips backups under a hold or retention period and reports them', async () => {
        const store = open();
        const held = await fakeBackup(store, '2026-01-05T03:00:00.000Z', { suffix: 'beef' });
        const retained = await fakeBackup(store, '2026-01-06T03:00:00.000Z', { suffix: 'cafe' });
        await fakeBackup(store, '2026-11-28T03:00:00.000Z', { suffix: 'e001' });
        fake().setHold('retention-bucket', `ops/${ENV}/${held}/data/0001.copy.gz`, { temporaryHold: true });
        fake().setHold('retention-bucket', `ops/${ENV}/${retained}/manifest.json`, {
          retentionExpirationTime: new Date(Date.now() + 86_400_000).toISOString(),
        });
        const result = await runRetention(store, ENV, {
          policy: { keepLast: 1 },
          minKeep: 1,
          orphanGraceHours: 24,
          now: NOW,
        });
        const skipped = result.outcomes.filter((o) => o.status === 'skipped').map((o) => o.id);
        expect(skipped).toEqual(expect.arrayContaining([held, retained]));
        expect(result.failed).toBe(0);
        const complete = (await listBackups(store, ENV)).map((e) => e.id);
        expect(complete).toEqual(expect.arrayContaining([held, retained])); // intact: manifest still there
      });

      it('a deletion failing midway leaves every other backup intact, reports it, and the next run finishes the job', async () => {
        const store = open();
        const victims = [] as string[];
        for (const d of ['2025-02-01', '2025-02-02', '2025-02-03'])
          victims.push(await fakeBackup(store, `${d}T03:00:00.000Z`, { suffix: 'fa11' }));
        fake().failNext({ method: 'DELETE', pathIncludes: `${victims[1]}/data`, count: 20, status: 503 });
        const result = await runRetention(store, ENV, {
          policy: { keepLast: 1 },
          minKeep: 1,
          orphanGraceHours: 24,
          now: NOW,
          concurrency: 2,
        });
        expect(result.failed).toBe(1);
        expect(result.outcomes.find((o) => o.status === 'failed')?.id).toBe(victims[1]);
        fake().clearFailures();
        const rerun = await runRetention(store, ENV, {
          policy: { keepLast: 1 },
          minKeep: 1,
          orphanGraceHours: 24,
          now: NOW,
        });
        expect(rerun.failed).toBe(0);
        const left = await allKeys(store);
        for (const v of victims) expect(left.some((k) => k.includes(v))).toBe(false);
      });

      it('a manifest that cannot be read right now (503) does not turn a complete backup into an orphan', async () => {
        const store = open();
        const id = await fakeBackup(store, '2025-04-01T03:00:00.000Z', { suffix: '5031' });
        fake().failNext({ method: 'GET', pathIncludes: `ops/${ENV}/${id}/manifest.json`, count: 20, status: 503 });
        const result = await runRetention(store, ENV, {
          policy: { keepLast: 1000 },
          minKeep: 1,
          orphanGraceHours: 24,
          now: NOW,
        });
        fake().clearFailures();
        expect(result.plan.orphans.find((o) => o.backup.id === id)).toMatchObject({
          remove: false,
          reason: expect.stringMatching(/unreadable/),
        });
        expect((await listBackups(store, ENV)).map((e) => e.id)).toContain(id);
      });

      it('a backup whose objects cannot be listed at deletion time is reported failed, and the run goes on', async () => {
        const store = open();
        const victims = [] as string[];
        for (const d of ['2025-03-01', '2025-03-02', '2025-03-03'])
          victims.push(await fakeBackup(store, `${d}T03:00:00.000Z`, { suffix: '1157' }));
        // the plan lists the whole environment at once: a listing of this one backup's prefix is the one made to delete it
        fake().failNext({ method: 'GET', pathIncludes: `prefix=ops/${ENV}/${victims[1]}/`, count: 20, status: 503 });
        const result = await runRetention(store, ENV, {
          policy: { keepLast: 1 },
          minKeep: 1,
          orphanGraceHours: 24,
          now: NOW,
          concurrency: 2,
        });
        fake().clearFailures();
        expect(result.outcomes.filter((o) => o.status === 'failed').map((o) => o.id)).toEqual([victims[1]]);
        const complete = (await listBackups(store, ENV)).map((e) => e.id);
        expect(complete).toContain(victims[1]); // untouched: its manifest was never deleted
        expect(complete).not.toContain(victims[0]);
        expect(complete).not.toContain(victims[2]);
      });

      it('pages through many objects (a server that answers at most 7 items a page)', async () => {
        const small = await startFakeGcs({ maxPageSize: 7 });
        afterAll(() => small.close());
        const store = openStore('gs://retention-bucket/many', {
          gcsApiEndpoint: small.url,
          gcsRetry: { maxRetries: 1, maxDelaySeconds: 1 },
        });
        const start = Date.parse('2026-06-01T03:00:00.000Z');
        for (let i = 0; i < 40; i++)
          await fakeBackup(store, new Date(start + i * 3_600_000).toISOString(), { suffix: 'ab12' });
        const before = small.requests.length;
        expect(await listBackups(store, ENV)).toHaveLength(40);
        // the catalog pages through the environment once instead of listing every backup on its own
        const listings = small.requests.slice(before).filter((r) => r.method === 'GET' && r.path.includes('prefix='));
        expect(listings.length).toBeLessThan(40);
        const result = await runRetention(store, ENV, {
          policy: { keepLast: 5 },
          minKeep: 3,
          orphanGraceHours: 24,
          now: NOW,
        });
        expect(result.removed).toBe(35);
        expect((await listBackups(store, ENV)).length).toBe(5);
        expect(small.requests.filter((r) => r.path.includes('pageToken=')).length).toBeGreaterThanOrEqual(5);
      });
    }
  });
}

describeRetention('the file store', () => openStore(`file://${tempDir('mt-retention-')}`));

let gcs: FakeGcs;
beforeAll(async () => {
  gcs = await startFakeGcs();
});
afterAll(() => gcs.close());
describeRetention(
  'GCS (fake)',
  () =>
    openStore(`gs://retention-bucket/ops`, {
      gcsApiEndpoint: gcs.url,
      gcsRetry: { maxRetries: 1, maxDelaySeconds: 1 },
    }),
  () => gcs,
);

describe('retention function', () => {
  it('publishes retention.completed with the totals', async () => {
    const dir = tempDir();
    const rt = testRuntime({ BACKUP_BUCKET: `file://${dir}`, OPS_ENV: ENV });
    for (const d of ['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04'])
      await fakeBackup(rt.store, `${d}T03:00:00.000Z`);
    const handler = retentionEventHandler(() => rt);
    await handler({ id: '1001', data: { message: { data: '', messageId: '1001' } } } as never);
    const event = (rt.bus as MemoryBus).published.map((m) => m.event);
    expect(event).toEqual([
      expect.objectContaining({ type: 'retention.completed', severity: 'info', kept: 4, removed: 0 }),
    ]);
  });

  /** A runtime on the fake GCS, with `retention` from an operator file. */
  function gcsRuntime(prefix: string, retention: object) {
    const config = join(tempDir(), 'ops.config.json');
    writeFileSync(config, JSON.stringify({ retention }));
    const rt = testRuntime({ BACKUP_BUCKET: `gs://fn-bucket/${prefix}`, OPS_ENV: ENV, OPS_CONFIG: config });
    return {
      ...rt,
      store: openStore(`gs://fn-bucket/${prefix}`, {
        gcsApiEndpoint: gcs.url,
        gcsRetry: { maxRetries: 1, maxDelaySeconds: 1 },
      }),
    };
  }

  it('publishes retention.failed (warning) naming the backup a deletion failed on; the others are removed', async () => {
    const rt = gcsRuntime('fn-fail', { policy: { keepLast: 1 }, minKeep: 1 });
    const ids = [] as string[];
    for (const d of ['2025-05-01', '2025-05-02', '2025-05-03'])
      ids.push(await fakeBackup(rt.store, `${d}T03:00:00.000Z`, { suffix: 'f0f0' }));
    gcs.failNext({ method: 'DELETE', pathIncludes: `fn-fail/${ENV}/${ids[0]}/manifest.json`, count: 20, status: 503 });
    await retentionEventHandler(() => rt)({ id: '1003', data: { message: { data: '', messageId: '1003' } } } as never);
    gcs.clearFailures();
    const events = rt.bus.published.map((m) => m.event);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'retention.failed',
        severity: 'warning',
        reason: expect.stringContaining(ids[0]!),
      }),
    ]);
    expect((await listBackups(rt.store, ENV)).map((e) => e.id)).toEqual([ids[2], ids[0]]); // ids[1] removed, ids[0] intact
  });

  it('an empty configured policy is refused when the configuration loads, before anything can be deleted', () => {
    expect(() => gcsRuntime('fn-empty', { policy: {} })).toThrow(/retention\.policy: empty retention policy/);
    expect(() => gcsRuntime('fn-empty', { policy: { keepLast: 0, keepMonthly: 0 } })).toThrow(/empty retention policy/);
  });

  it('stopped by its instance (npm start on SIGTERM): starts no deletion, reports nothing, says so in one line', async () => {
    const stop = new AbortController();
    const config = join(tempDir(), 'ops.config.json');
    writeFileSync(config, JSON.stringify({ retention: { policy: { keepLast: 1 }, minKeep: 1 } })); // three to remove
    const rt = {
      ...testRuntime({ BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: ENV, OPS_CONFIG: config }),
      signal: stop.signal,
    };
    for (const d of ['2025-05-01', '2025-05-02', '2025-05-03', '2025-05-04'])
      await fakeBackup(rt.store, `${d}T03:00:00.000Z`);
    stop.abort(new Error('interrupted by SIGTERM (the server is stopping)'));
    await retentionEventHandler(() => rt)({ id: '1004', data: { message: { data: '', messageId: '1004' } } } as never);
    expect(rt.bus.published).toHaveLength(0);
    expect((await listBackups(rt.store, ENV)).length).toBe(4);
    expect(rt.logs.join('\n')).toContain(
      'retention stopped (interrupted by SIGTERM (the server is stopping)) after removing 0; the next run removes the rest',
    );
  });

  it('acknowledges a poison trigger with a logged reason', async () => {
    const rt = testRuntime({ BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: ENV });
    await retentionEventHandler(() => rt)({
      id: '1002',
      data: { message: { data: Buffer.from('{"dryRun":"yes"}').toString('base64'), messageId: '1002' } },
    } as never);
    expect(rt.bus.published).toHaveLength(0);
    expect(rt.logs.join('\n')).toMatch(/data\.dryRun/);
  });
});
