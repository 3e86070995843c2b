/**
 * The outbox's drain (flushOutbox): every run of any function drains it, so two drains often run at once (the probe
 * run and the alert sweep of the same minute under `npm start`, or two function instances). Each entry is claimed
 * with compare-and-swap before it is published: published once, never by both. And what `mt-ops alerts status` reads
 * of it (readOutbox): a bounded number of entries, however many wait.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/temp';
import { capturedLogger } from '../support/logs';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { openStore } from '../../shared/storage/open';
import { MemoryBus } from '../../shared/bus/memory-bus';
import { flushOutbox, outboxKeys, saveToOutbox, OUTBOX_CLAIM_TTL_MS } from '../../shared/bus/outbox';
import { readOutbox, OUTBOX_READ_LIMIT } from '../../shared/bus/outbox-read';
import type { ObjectStore } from '../../shared/storage/types';
import { probeFiring } from '../support/alert-messages';

async function fill(store: ObjectStore, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await saveToOutbox(store, 'prod', probeFiring(i));
}

async function waiting(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(outboxKeys.prefix('prod'))) keys.push(o.key);
  return keys;
}

/** Whether the (only) entry is claimed by a drain. */
async function claimed(store: ObjectStore): Promise<boolean> {
  for await (const o of store.list(outboxKeys.prefix('prod')))
    return Object.keys(o.metadata).some((k) => /claimed-at/.test(k));
  return false;
}

const fingerprints = (events: object[]) => events.map((e) => (e as { fingerprint?: string }).fingerprint).sort();
const expected = (count: number) => fingerprints(Array.from({ length: count }, (_, i) => probeFiring(i)));

describe('two drains at once publish each outbox entry once', () => {
  let gcs: FakeGcs;
  beforeAll(async () => {
    gcs = await startFakeGcs();
  });
  afterAll(async () => {
    await gcs?.close();
  });
  const stores: Array<[string, () => () => ObjectStore]> = [
    [
      'a folder bucket',
      () => {
        const url = `file://${tempDir('mt-outbox-race-')}`;
        return () => openStore(url);
      },
    ],
    [
      'a gs:// bucket (the GCS protocol fake)',
      () => {
        const url = `gs://outbox-race/${Math.random().toString(36).slice(2)}`;
        return () => openStore(url, { gcsApiEndpoint: gcs.url, gcsRetry: { maxRetries: 2, maxDelaySeconds: 1 } });
      },
    ],
  ];
  it.each(stores)(
    'in one process (the probe run and the alert sweep of the same minute, each with its own store): %s',
    async (_name, bucket) => {
      const open = bucket();
      await fill(open(), 20);
      const bus = new MemoryBus();
      const deliver = (e: Parameters<MemoryBus['publish']>[0]) => bus.publish(e);
      const [a, b] = [capturedLogger(), capturedLogger()];
      const results = await Promise.all([
        flushOutbox(open(), 'prod', deliver, a.logger),
        flushOutbox(open(), 'prod', deliver, b.logger),
      ]);
      expect(fingerprints(bus.published.map((m) => m.event as { fingerprint?: string }))).toEqual(expected(20));
      expect(results[0]!.published + results[1]!.published).toBe(20);
      expect(results.every((r) => !r.left)).toBe(true);
      expect(await waiting(open())).toEqual([]);
    },
  );

  it('in two processes', async () => {
    const url = `file://${tempDir('mt-outbox-race2-')}`;
    await fill(openStore(url), 30);
    const script = fileURLToPath(new URL('../support/outbox-drain.ts', import.meta.url));
    const runner = fileURLToPath(new URL('../../bin/run-ts.js', import.meta.url));
    const at = String(Date.now() + 1500);
    const outputs = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, [runner, script, url, 'prod'], {
              env: { ...process.env, MT_DRAIN_AT: at },
              stdio: ['ignore', 'pipe', 'inherit'],
            });
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += String(d)));
            child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`drain exited ${code}`))));
          }),
      ),
    );
    const published = outputs.flatMap((o) =>
      o
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { fingerprint?: string }),
    );
    expect(fingerprints(published)).toEqual(expected(30));
    expect(await waiting(openStore(url))).toEqual([]);
  }, 30_000);
});

describe('claims', () => {
  it('a publish that fails releases its claim: the next drain publishes the entry at once', async () => {
    const url = `file://${tempDir('mt-outbox-fail-')}`;
    const store = openStore(url);
    await fill(store, 2);
    const log = capturedLogger();
    const down = await flushOutbox(
      store,
      'prod',
      async () => {
        throw new Error('bus down');
      },
      log.logger,
    );
    expect(down).toEqual({ published: 0, poisoned: 0, left: true });
    expect(log.lines.join('\n')).toMatch(/outbox: 0 event\(s\) published, the rest stay for the next run: bus down/);
    const bus = new MemoryBus();
    const up = await flushOutbox(store, 'prod', (e) => bus.publish(e), capturedLogger().logger);
    expect(up).toEqual({ published: 2, poisoned: 0, left: false });
    expect(await waiting(store)).toEqual([]);
  });

  it('the claim of a drain that died is taken over once it is older than the TTL; a live one is left alone', async () => {
    const url = `file://${tempDir('mt-outbox-stale-')}`;
    const store = openStore(url);
    await fill(store, 1);
    // a drain claims the entry and dies before publishing it (its deliver never returns)
    void flushOutbox(store, 'prod', () => new Promise<string>(() => {}), capturedLogger().logger);
    for (let i = 0; i < 100 && !(await claimed(store)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await claimed(store)).toBe(true);
    const bus = new MemoryBus();
    const deliver = (e: Parameters<MemoryBus['publish']>[0]) => bus.publish(e);
    expect((await flushOutbox(store, 'prod', deliver, capturedLogger().logger)).published).toBe(0);
    expect(await waiting(store)).toHaveLength(1);
    const later = () => new Date(Date.now() + OUTBOX_CLAIM_TTL_MS + 1000);
    expect((await flushOutbox(store, 'prod', deliver, capturedLogger().logger, { now: later })).published).toBe(1);
    expect(fingerprints(bus.published.map((m) => m.event as { fingerprint?: string }))).toEqual(expected(1));
    expect(await waiting(store)).toEqual([]);
  });
});

describe('reading the outbox (mt-ops alerts status)', () => {
  it('reads at most OUTBOX_READ_LIMIT entries, the oldest; the others are counted from the listing, not read', async () => {
    const store = openStore(`file://${tempDir('mt-outbox-read-')}`);
    const total = OUTBOX_READ_LIMIT + 150; // a bus down for a while
    await fill(store, total);
    // the real store, watched: every document read
    const read: string[] = [];
    const watched: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      readJson: (key: string) => {
        read.push(key);
        return store.readJson(key);
      },
    });
    const summary = await readOutbox(watched, 'prod');
    expect(read).toEqual((await waiting(store)).slice(0, OUTBOX_READ_LIMIT));
    expect(summary).toMatchObject({ waiting: total, read: OUTBOX_READ_LIMIT, unread: 150 });
    expect(summary.alerts).toHaveLength(OUTBOX_READ_LIMIT);
    expect(summary.oldest).not.toBeNull();
  });

  it('with no more entries than the limit, every one is read', async () => {
    const store = openStore(`file://${tempDir('mt-outbox-read-all-')}`);
    await fill(store, 3);
    const summary = await readOutbox(store, 'prod');
    expect(summary).toMatchObject({ waiting: 3, read: 3, unread: 0 });
    expect(fingerprints(summary.alerts)).toEqual(expected(3));
  });
});

describe('a poison entry (corrupt, or not an event) never blocks the outbox', () => {
  let gcs: FakeGcs;
  beforeAll(async () => {
    gcs = await startFakeGcs();
  });
  afterAll(async () => {
    await gcs?.close();
  });
  it.each([
    ['a folder bucket', () => openStore(`file://${tempDir('mt-outbox-poison-')}`)],
    [
      'a gs:// bucket (the GCS protocol fake)',
      () =>
        openStore(`gs://outbox-poison/${Math.random().toString(36).slice(2)}`, {
          gcsApiEndpoint: gcs.url,
          gcsRetry: { maxRetries: 2, maxDelaySeconds: 1 },
        }),
    ],
  ])(
    'is moved aside to .outbox-poison/ and logged; the valid entries after it are published: %s',
    async (_name, open) => {
      const store = open();
      // keyed to sort before the valid entries saved now: the drain meets them first
      const corrupt = 'prod/.outbox/20200101T000000000Z-corrupt0.json';
      const notEvent = 'prod/.outbox/20200101T000000000Z-notevent.json';
      await store.put(corrupt, '{"type":"alert",');
      await store.put(notEvent, JSON.stringify({ type: 'alert', hello: 'world' }));
      await fill(store, 2);
      const bus = new MemoryBus();
      const log = capturedLogger();
      const result = await flushOutbox(store, 'prod', (e) => bus.publish(e), log.logger);
      expect(result).toEqual({ published: 2, poisoned: 2, left: false });
      expect(fingerprints(bus.published.map((m) => m.event as { fingerprint?: string }))).toEqual(expected(2));
      expect(await waiting(store)).toEqual([]);
      // kept for an operator, byte for byte
      const kept: string[] = [];
      for await (const o of store.list('prod/.outbox-poison/')) kept.push(o.key);
      expect(kept).toEqual([outboxKeys.poison('prod', corrupt), outboxKeys.poison('prod', notEvent)]);
      const text = async (key: string) => {
        let s = '';
        for await (const c of await store.get(key)) s += String(c);
        return s;
      };
      expect(await text(outboxKeys.poison('prod', corrupt))).toBe('{"type":"alert",');
      // one error line each, naming the key and why
      const errors = log.records().filter((r) => r.severity === 'ERROR');
      expect(errors).toHaveLength(2);
      expect(errors[0]!.message).toMatch(
        /outbox: entry prod\/\.outbox\/20200101T000000000Z-corrupt0\.json is not valid JSON/,
      );
      expect(errors[0]!.message).toContain(outboxKeys.poison('prod', corrupt));
      expect(errors[1]!.message).toMatch(
        /outbox: entry prod\/\.outbox\/20200101T000000000Z-notevent\.json is not an event/,
      );
      expect(log.lines.join('\n')).not.toMatch(/the rest stay for the next run/);
      // the next drain finds nothing left
      expect(await flushOutbox(store, 'prod', (e) => bus.publish(e), capturedLogger().logger)).toEqual({
        published: 0,
        poisoned: 0,
        left: false,
      });
    },
  );

  it('a storage failure is not poison: the drain stops and the entry stays for the next run', async () => {
    const store = openStore(`file://${tempDir('mt-outbox-poison-io-')}`);
    await fill(store, 2);
    const failing: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      readJson: async () => {
        throw new Error('the store does not answer');
      },
    });
    const log = capturedLogger();
    const result = await flushOutbox(failing, 'prod', async () => 'id', log.logger);
    expect(result).toEqual({ published: 0, poisoned: 0, left: true });
    expect(await waiting(store)).toHaveLength(2);
    expect(log.lines.join('\n')).toMatch(/the rest stay for the next run: the store does not answer/);
  });

  it('readOutbox lists it as unreadable, with its key and why, and reads the rest', async () => {
    const store = openStore(`file://${tempDir('mt-outbox-poison-read-')}`);
    const corrupt = 'prod/.outbox/20200101T000000000Z-corrupt0.json';
    await store.put(corrupt, '{"type":"alert",');
    await fill(store, 2);
    const summary = await readOutbox(store, 'prod');
    expect(summary).toMatchObject({ waiting: 3, read: 3, unread: 0 });
    expect(fingerprints(summary.alerts)).toEqual(expected(2));
    expect(summary.unreadable).toEqual([
      { key: corrupt, savedAt: '2020-01-01T00:00:00.000Z', reason: expect.stringMatching(/^not valid JSON/) },
    ]);
  });
});
