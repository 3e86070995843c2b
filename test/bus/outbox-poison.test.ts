/**
 * Poison entries (outbox entries that were no event, set aside in <env>/.outbox-poison/ by a drain) are kept
 * POISON_KEEP_DAYS after they were set aside, then removed by a drain (prunePoison, after the events): the young stay,
 * the old go, a pass looks at a bounded number of them (from the listing, never reading one), and a store failure
 * while removing them never stops the events. Their age is the object's time in the store (the file's mtime, the GCS
 * object's timeCreated), set here with utimes or the fake's setTimeCreated instead of waiting.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { capturedLogger } from '../support/logs';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { probeFiring } from '../support/alert-messages';
import { openStore } from '../../shared/storage/open';
import { MemoryBus } from '../../shared/bus/memory-bus';
import {
  flushOutbox,
  outboxKeys,
  saveToOutbox,
  POISON_KEEP_DAYS,
  POISON_PRUNE_EVERY_MS,
  POISON_PRUNE_LIMIT,
} from '../../shared/bus/outbox';
import { loadConfig } from '../../shared/config/load';
import { functionRuntime } from '../../shared/functions/runtime';
import type { ObjectStore } from '../../shared/storage/types';

const DAY = 86_400_000;
/** A time `days` ago, in whole seconds (a file's mtime and a GCS time both keep those). */
const daysAgo = (days: number) => new Date(Math.floor((Date.now() - days * DAY) / 1000) * 1000);
const poisonKey = (name: string) => `${outboxKeys.poisonPrefix('prod')}${name}`;

/** A bucket to test on, and how to set when one of its objects was written. */
interface Bucket {
  store: ObjectStore;
  setTime(key: string, at: Date): void;
}

let gcs: FakeGcs;
beforeAll(async () => {
  gcs = await startFakeGcs();
});
afterAll(async () => {
  await gcs?.close();
});

function folderBucket(): Bucket {
  const dir = tempDir('mt-outbox-keep-');
  return {
    store: openStore(`file://${dir}`),
    setTime: (key, at) => utimesSync(join(dir, key), at, at),
  };
}

function gcsBucket(): Bucket {
  const prefix = Math.random().toString(36).slice(2);
  return {
    store: openStore(`gs://outbox-keep/${prefix}`, {
      gcsApiEndpoint: gcs.url,
      gcsRetry: { maxRetries: 2, maxDelaySeconds: 1 },
    }),
    setTime: (key, at) => gcs.setTimeCreated('outbox-keep', `${prefix}/${key}`, at),
  };
}

/** Poison entries set aside `days` ago each (named by their age), as a drain leaves them; the times set, by name. */
async function poison(bucket: Bucket, ages: Record<string, number>): Promise<Record<string, Date>> {
  const times: Record<string, Date> = {};
  for (const [name, days] of Object.entries(ages)) {
    await bucket.store.put(poisonKey(name), '{"type":"alert",', { contentType: 'application/json' });
    bucket.setTime(poisonKey(name), (times[name] = daysAgo(days)));
  }
  return times;
}

async function kept(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(outboxKeys.poisonPrefix('prod'))) keys.push(o.key.slice(o.key.lastIndexOf('/') + 1));
  return keys;
}

async function waiting(store: ObjectStore): Promise<number> {
  let n = 0;
  for await (const _ of store.list(outboxKeys.prefix('prod'))) n++;
  return n;
}

const buckets: Array<[string, () => Bucket]> = [
  ['a folder bucket', folderBucket],
  ['a gs:// bucket (the GCS protocol fake)', gcsBucket],
];

describe(`poison entries are kept ${POISON_KEEP_DAYS} days after they were set aside, then a drain removes them`, () => {
  it.each(buckets)(
    'the young stay, the old go, with one line saying how many and the oldest; the events are published: %s',
    async (_name, make) => {
      const bucket = make();
      const times = await poison(bucket, {
        'a-40d.json': 40,
        'b-1d.json': 1,
        'c-31d.json': 31,
        'd-29d.json': 29,
        'e-now.json': 0,
      });
      const oldest = times['a-40d.json']!.toISOString();
      await saveToOutbox(bucket.store, 'prod', probeFiring(0));
      const bus = new MemoryBus();
      const log = capturedLogger();
      const result = await flushOutbox(bucket.store, 'prod', (e) => bus.publish(e), log.logger);
      expect(result).toEqual({ published: 1, poisoned: 0, left: false });
      expect(bus.published).toHaveLength(1);
      expect(await kept(bucket.store)).toEqual(['b-1d.json', 'd-29d.json', 'e-now.json']);
      const removals = log.records().filter((r) => /poison entr/.test(String(r.message)));
      expect(removals).toHaveLength(1);
      expect(removals[0]).toMatchObject({ severity: 'INFO', removed: 2, oldestSetAsideAt: oldest });
      expect(removals[0]!.message).toBe(
        `outbox: 2 poison entry(ies) removed from prod/.outbox-poison/, kept over ${POISON_KEEP_DAYS} days (the oldest set aside ${oldest})`,
      );
      // nothing more to remove: no line
      const again = capturedLogger();
      await flushOutbox(bucket.store, 'prod', (e) => bus.publish(e), again.logger);
      expect(await kept(bucket.store)).toEqual(['b-1d.json', 'd-29d.json', 'e-now.json']);
      expect(again.lines).toEqual([]);
    },
  );

  it.each(buckets)(
    'a store failure while removing them does not stop the events: one warning, and the next drain removes them: %s',
    async (name, make) => {
      const bucket = make();
      await poison(bucket, { 'a-40d.json': 40, 'b-1d.json': 1 });
      for (let i = 0; i < 3; i++) await saveToOutbox(bucket.store, 'prod', probeFiring(i));
      let store = bucket.store;
      if (name.startsWith('a folder')) {
        // the real file store, its deletes in the poison folder refused
        store = Object.assign(Object.create(bucket.store) as ObjectStore, {
          delete: (key: string, options?: { ifGeneration?: string }) =>
            key.startsWith(outboxKeys.poisonPrefix('prod'))
              ? Promise.reject(new Error('the store refuses the delete'))
              : bucket.store.delete(key, options),
        });
      } else {
        // the listing of the poison folder answers 503, every retry too
        gcs.failNext({ method: 'GET', pathIncludes: '/.outbox-poison/', count: 3, status: 503 });
      }
      const bus = new MemoryBus();
      const log = capturedLogger();
      const result = await flushOutbox(store, 'prod', (e) => bus.publish(e), log.logger);
      gcs.clearFailures();
      expect(result).toEqual({ published: 3, poisoned: 0, left: false });
      expect(bus.published).toHaveLength(3);
      expect(await waiting(bucket.store)).toBe(0);
      expect(await kept(bucket.store)).toEqual(['a-40d.json', 'b-1d.json']);
      const warnings = log.records().filter((r) => r.severity === 'WARNING');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.message).toMatch(
        /^outbox: removing poison entries kept over 30 days from prod\/\.outbox-poison\/ stopped after 0, the next run tries again: /,
      );
      await flushOutbox(bucket.store, 'prod', (e) => bus.publish(e), capturedLogger().logger);
      expect(await kept(bucket.store)).toEqual(['b-1d.json']);
    },
  );

  it('an old entry under a hold or a retention policy stays, without a warning: the others go, and once released it goes too', async () => {
    const bucket = gcsBucket();
    await poison(bucket, { 'a-40d.json': 40, 'b-35d.json': 35, 'c-33d.json': 33, 'd-32d.json': 32 });
    const name = (key: string) => `${new URL(bucket.store.url).pathname.slice(1)}/${poisonKey(key)}`;
    gcs.setHold('outbox-keep', name('a-40d.json'), { temporaryHold: true });
    gcs.setHold('outbox-keep', name('b-35d.json'), { eventBasedHold: true });
    gcs.setHold('outbox-keep', name('c-33d.json'), {
      retentionExpirationTime: new Date(Date.now() + DAY).toISOString(),
    });
    const log = capturedLogger();
    const before = gcs.requests.length;
    await flushOutbox(bucket.store, 'prod', async () => 'id', log.logger);
    expect(await kept(bucket.store)).toEqual(['a-40d.json', 'b-35d.json', 'c-33d.json']);
    expect(log.records().filter((r) => r.severity !== 'INFO')).toEqual([]);
    expect(log.lines.join('\n')).toMatch(/outbox: 1 poison entry\(ies\) removed/);
    // the listing says they are held: no delete is even tried
    const deletes = gcs.requests.slice(before).filter((r) => r.method === 'DELETE');
    expect(deletes.map((r) => /[a-d]-\d+d\.json/.exec(decodeURIComponent(r.path))?.[0])).toEqual(['d-32d.json']);
    // the holds released: the next pass removes them
    gcs.setHold('outbox-keep', name('a-40d.json'), { temporaryHold: false });
    gcs.setHold('outbox-keep', name('b-35d.json'), { eventBasedHold: false });
    gcs.setHold('outbox-keep', name('c-33d.json'), {
      retentionExpirationTime: new Date(Date.now() - 1000).toISOString(),
    });
    await flushOutbox(bucket.store, 'prod', async () => 'id', capturedLogger().logger);
    expect(await kept(bucket.store)).toEqual([]);
  });

  it('an entry put under a hold after the listing (the delete refused, 403) stays, without a warning', async () => {
    const bucket = gcsBucket();
    await poison(bucket, { 'a-40d.json': 40, 'b-35d.json': 35 });
    const name = (key: string) => `${new URL(bucket.store.url).pathname.slice(1)}/${poisonKey(key)}`;
    // the real store, a hold set on the entry just before its delete goes out
    const racing: ObjectStore = Object.assign(Object.create(bucket.store) as ObjectStore, {
      delete: (key: string, options?: { ifGeneration?: string }) => {
        if (key.endsWith('a-40d.json')) gcs.setHold('outbox-keep', name('a-40d.json'), { temporaryHold: true });
        return bucket.store.delete(key, options);
      },
    });
    const log = capturedLogger();
    await flushOutbox(racing, 'prod', async () => 'id', log.logger);
    expect(await kept(bucket.store)).toEqual(['a-40d.json']);
    expect(log.records().filter((r) => r.severity !== 'INFO')).toEqual([]);
    expect(log.lines.join('\n')).toMatch(/outbox: 1 poison entry\(ies\) removed/);
  });

  it(`a pass looks at ${POISON_PRUNE_LIMIT} entries at most, from the listing, reading none; the next pass goes on`, async () => {
    const bucket = folderBucket();
    const extra = 7;
    const ages: Record<string, number> = {};
    for (let i = 0; i < POISON_PRUNE_LIMIT + extra; i++) ages[`p${String(i).padStart(4, '0')}.json`] = 31 + i / 1000;
    await poison(bucket, ages);
    // the real store, watched: every entry the pass was handed, every read
    let listed = 0;
    const read: string[] = [];
    const watched: ObjectStore = Object.assign(Object.create(bucket.store) as ObjectStore, {
      list: async function* (prefix: string, options?: { pageSize?: number }) {
        for await (const o of bucket.store.list(prefix, options)) {
          if (prefix === outboxKeys.poisonPrefix('prod')) listed++;
          yield o;
        }
      },
      get: (key: string) => (read.push(key), bucket.store.get(key)),
      readJson: (key: string) => (read.push(key), bucket.store.readJson(key)),
    });
    const log = capturedLogger();
    await flushOutbox(watched, 'prod', async () => 'id', log.logger);
    expect(listed).toBe(POISON_PRUNE_LIMIT);
    expect(read).toEqual([]);
    expect(await kept(bucket.store)).toHaveLength(extra);
    expect(log.lines.join('\n')).toMatch(new RegExp(`outbox: ${POISON_PRUNE_LIMIT} poison entry\\(ies\\) removed`));
    await flushOutbox(bucket.store, 'prod', async () => 'id', capturedLogger().logger);
    expect(await kept(bucket.store)).toEqual([]);
  });
});

describe("a function's drains remove them once an hour, not at every run", () => {
  it('the first drain of the instance removes them; one right after does not look; one an hour later does', async () => {
    const bucket = folderBucket();
    const config = loadConfig({ OPS_CONFIG: undefined, BACKUP_BUCKET: bucket.store.url, OPS_ENV: 'prod' });
    const log = capturedLogger();
    const runtime = functionRuntime(config, 'probe', { logger: log.logger });
    await poison(bucket, { 'a-40d.json': 40 });
    await runtime.flushOutbox!();
    expect(await kept(bucket.store)).toEqual([]);
    await poison(bucket, { 'b-40d.json': 40 });
    await runtime.flushOutbox!();
    expect(await kept(bucket.store)).toEqual(['b-40d.json']);
    const realNow = Date.now.bind(Date);
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + POISON_PRUNE_EVERY_MS + 1000);
    try {
      await runtime.flushOutbox!();
    } finally {
      clock.mockRestore();
    }
    expect(await kept(bucket.store)).toEqual([]);
  });
});
