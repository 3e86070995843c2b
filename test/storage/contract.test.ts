/**
 * One contract for every ObjectStore: the file store, the GCS store against the protocol fake, and a real bucket
 * when GCS_TEST_BUCKET is set.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { createHash, randomBytes } from 'node:crypto';
import { tempDir } from '../support/temp';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { openStore } from '../../shared/storage/open';
import { FileStore } from '../../shared/storage/file-store';
import { StorageError, type ObjectStore } from '../../shared/storage/types';
import { acquireLease, withLease, readLease, LeaseHeldError, LeaseLostError } from '../../shared/storage/lease';

/**
 * A deterministic body of `size` bytes, generated block by block on the fly (never built whole in memory):
 * each 64 KiB block is a fixed pseudo-random block stamped with its index, so blocks differ and order matters.
 */
function generated(size: number, seed = 1): { stream: () => Readable; md5: string } {
  const BLOCK = 64 * 1024;
  const base = Buffer.alloc(BLOCK);
  for (let off = 0; off < BLOCK; off += 32) createHash('sha256').update(`${seed}:${off}`).digest().copy(base, off);
  function* blocks() {
    for (let i = 0, sent = 0; sent < size; i++) {
      const block = Buffer.from(base.subarray(0, Math.min(BLOCK, size - sent)));
      block.writeUInt32BE(i, 0);
      sent += block.length;
      yield block;
    }
  }
  const md5 = createHash('md5');
  for (const block of blocks()) md5.update(block);
  return { md5: md5.digest('base64'), stream: () => Readable.from(blocks()) };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected StorageError(${code})`).toBeInstanceOf(StorageError);
  expect((err as StorageError).code).toBe(code);
}

function describeStoreContract(name: string, makeStore: () => ObjectStore, options: { bigBytes: number }): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    const run = randomBytes(4).toString('hex');
    const k = (key: string) => `contract-${run}/${key}`;
    beforeAll(() => {
      store = makeStore();
    });
    // Leaves a real bucket clean (best effort: a held object stays).
    afterAll(async () => {
      for await (const o of store.list(k(''))) await store.delete(o.key).catch(() => {});
    });

    it('streams a large body in and out, with size and md5 in stat', async () => {
      const body = generated(options.bigBytes);
      const info = await store.put(k('big/object.bin'), body.stream(), {
        contentType: 'application/octet-stream',
        metadata: { table: 'public.matches' },
      });
      expect(info.size).toBe(options.bigBytes);
      expect(info.md5).toBe(body.md5);
      const stat = await store.stat(k('big/object.bin'));
      expect(stat).toMatchObject({
        key: k('big/object.bin'),
        size: options.bigBytes,
        md5: body.md5,
        metadata: { table: 'public.matches' },
        temporaryHold: false,
      });
      expect(stat!.created.getTime()).toBeGreaterThan(Date.now() - 600_000);
      const md5 = createHash('md5');
      let read = 0;
      for await (const chunk of await store.get(k('big/object.bin'))) {
        md5.update(chunk as Buffer);
        read += (chunk as Buffer).length;
      }
      expect(read).toBe(options.bigBytes);
      expect(md5.digest('base64')).toBe(body.md5);
      if (store.scan) {
        // scan(): the same bytes in order, each piece a view of one reused buffer (no allocation per piece)
        const scanned = createHash('md5');
        const buffers = new Set<ArrayBufferLike>();
        let pieces = 0;
        await store.scan(k('big/object.bin'), (piece) => {
          scanned.update(piece);
          buffers.add(piece.buffer);
          pieces++;
        });
        expect(scanned.digest('base64')).toBe(body.md5);
        expect(pieces).toBeGreaterThan(1);
        expect(buffers.size).toBe(1);
      }
    });

    it('is create-only: a second put of the same key fails and the original stays', async () => {
      await store.put(k('once.txt'), 'first', { metadata: { by: 'first' } });
      await rejectsWithCode(store.put(k('once.txt'), 'second', { metadata: { by: 'second' } }), 'already_exists');
      // streamed bodies take another path (a resumable upload on GCS): same rule
      await rejectsWithCode(store.put(k('once.txt'), Readable.from([Buffer.from('third')])), 'already_exists');
      expect(await text(await store.get(k('once.txt')))).toBe('first');
      expect(await store.stat(k('once.txt'))).toMatchObject({ size: 5, metadata: { by: 'first' } });
    });

    it('of concurrent puts of one key exactly one wins, and stat describes the winner', async () => {
      const key = k('race/object');
      const bodies = ['alpha', 'bravo-bravo', 'charlie-charlie-charlie', 'delta'];
      const results = await Promise.allSettled(
        bodies.map((b) => store.put(key, Readable.from([Buffer.from(b)]), { metadata: { body: b } })),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results)
        if (r.status === 'rejected') expect((r.reason as StorageError).code).toBe('already_exists');
      const content = await text(await store.get(key));
      expect(await store.stat(key)).toMatchObject({ size: content.length, metadata: { body: content } });
    });

    it('a body that fails midway leaves no object', async () => {
      let sent = 0;
      const failing = new Readable({
        read() {
          if (sent++ < 4) this.push(Buffer.alloc(256 * 1024, 7));
          else this.destroy(new Error('database connection lost'));
        },
      });
      await expect(store.put(k('broken/object'), failing)).rejects.toThrow(/database connection lost/);
      expect(await store.stat(k('broken/object'))).toBeUndefined();
      expect(await collect(store.list(k('broken/')))).toEqual([]);
      await store.put(k('broken/object'), 'the retry'); // the key is still free
    });

    it('reports missing objects', async () => {
      expect(await store.stat(k('missing'))).toBeUndefined();
      await rejectsWithCode(store.get(k('missing')), 'not_found');
      if (store.scan)
        await rejectsWithCode(
          store.scan(k('missing'), () => {}),
          'not_found',
        );
      await expect(store.delete(k('missing'))).resolves.toBeUndefined();
      expect(await store.readJson(k('missing.json'))).toBeUndefined();
    });

    it('lists by prefix in key order across pages', async () => {
      const names = ['a/1', 'a/2', 'a/3', 'a/sub/x', 'b/1', 'a10/y', 'c'];
      for (const n of names) await store.put(k(`list/${n}`), n);
      const keys = (await collect(store.list(k('list/a'), { pageSize: 2 }))).map((o) => o.key.slice(k('list/').length));
      expect(keys).toEqual(['a/1', 'a/2', 'a/3', 'a/sub/x', 'a10/y']);
      const all = (await collect(store.list(k('list/'), { pageSize: 3 }))).map((o) => o.key.slice(k('list/').length));
      expect(all).toEqual([...names].sort());
    });

    it('deletes, conditionally on the generation when asked', async () => {
      const info = await store.put(k('del/x'), 'x');
      await rejectsWithCode(store.delete(k('del/x'), { ifGeneration: `${info.generation}0` }), 'precondition_failed');
      expect(await store.stat(k('del/x'))).toBeDefined();
      await store.delete(k('del/x'), { ifGeneration: info.generation });
      expect(await store.stat(k('del/x'))).toBeUndefined();
    });

    it('writes JSON documents with compare-and-swap: of two writers from one generation, exactly one wins', async () => {
      const key = k('state/doc.json');
      const g1 = await store.writeJson(key, { n: 1 }, { ifGeneration: null });
      await rejectsWithCode(store.writeJson(key, { n: 0 }, { ifGeneration: null }), 'precondition_failed');
      const results = await Promise.allSettled([
        store.writeJson(key, { n: 2, by: 'a' }, { ifGeneration: g1 }),
        store.writeJson(key, { n: 2, by: 'b' }, { ifGeneration: g1 }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((loser.reason as StorageError).code).toBe('precondition_failed');
      const doc = await store.readJson(key);
      const winner = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<string>).value;
      expect(doc?.generation).toBe(winner);
      expect(doc?.value).toMatchObject({ n: 2 });
      const info = await store.stat(key);
      expect(info?.generation).toBe(winner);
      expect(info?.md5).toBe(createHash('md5').update(JSON.stringify(doc?.value)).digest('base64'));
      expect(info?.contentType).toBe('application/json');
    });

    it('rejects keys that could escape the store', async () => {
      for (const bad of ['../x', '/abs', 'a/../../b', 'a//b', '']) {
        await rejectsWithCode(store.put(bad, 'x'), 'invalid_key');
      }
    });

    it('leases: a second acquirer fails while live, succeeds after expiry; a stale holder cannot release the new lease', async () => {
      const key = k('lease/backup.json');
      const first = await acquireLease(store, key, { ttlMs: 800, holder: 'first' });
      const held = await acquireLease(store, key, { ttlMs: 800, holder: 'second' }).catch((e: unknown) => e);
      expect(held).toBeInstanceOf(LeaseHeldError);
      expect((held as LeaseHeldError).holder).toBe('first');
      expect((await readLease(store, key))?.live).toBe(true);
      await new Promise((r) => setTimeout(r, 900));
      const second = await acquireLease(store, key, { ttlMs: 5_000, holder: 'second' });
      await first.release(); // stale: must not delete the second holder's lease
      expect((await readLease(store, key))?.holder).toBe('second');
      await expect(first.renew()).rejects.toBeInstanceOf(LeaseLostError);
      await second.release();
      expect(await readLease(store, key)).toBeUndefined();
    });

    it('withLease renews while the work runs longer than the ttl', async () => {
      const key = k('lease/renewed.json');
      const result = await withLease(store, key, { ttlMs: 1500, holder: 'worker' }, async () => {
        await new Promise((r) => setTimeout(r, 3200));
        const other = await acquireLease(store, key, { ttlMs: 1500, holder: 'intruder' }).catch((e: unknown) => e);
        expect(other).toBeInstanceOf(LeaseHeldError);
        return 'done';
      });
      expect(result).toBe('done');
      expect(await readLease(store, key)).toBeUndefined();
    });

    it('withLease fails the run when a renewal finds the lease taken', async () => {
      const key = k('lease/stolen.json');
      let workDone: (aborted: boolean) => void = () => {};
      const sawAbort = new Promise<boolean>((r) => (workDone = r));
      const run = withLease(store, key, { ttlMs: 1500, holder: 'worker' }, async (_lease, signal) => {
        const doc = await store.readJson(key);
        // another process overwrites the lease (as if it had taken it over after an expiry)
        const expiresAt = new Date(Date.now() + 60_000).toISOString();
        await store.writeJson(
          key,
          { holder: 'thief', acquiredAt: new Date().toISOString(), expiresAt },
          { ifGeneration: doc!.generation },
        );
        await new Promise((r) => setTimeout(r, 1000));
        workDone(signal.aborted);
        return 'finished anyway';
      });
      await expect(run).rejects.toBeInstanceOf(LeaseLostError);
      expect(await sawAbort).toBe(true);
      expect((await readLease(store, key))?.holder).toBe('thief'); // the loser did not delete the thief's lease
    });
  });
}

// --- file store -----------------------------------------------------------------------------------------
// on a local disk it makes its JSON documents' calls directly; on a network or FUSE filesystem through the thread
// pool (file-io.ts): both ways keep the whole contract
describeStoreContract('file', () => openStore(`file://${tempDir('mt-contract-')}`), { bigBytes: 20 * 1024 * 1024 });
describeStoreContract('file (thread pool calls)', () => new FileStore(tempDir('mt-contract-'), 'pool'), {
  bigBytes: 3 * 1024 * 1024,
});

// --- GCS store against the protocol fake ---------------------------------------------------------------
let fake: FakeGcs;
beforeAll(async () => {
  fake = await startFakeGcs();
});
afterAll(async () => {
  await fake?.close();
});
describeStoreContract(
  'gcs (fake)',
  () =>
    openStore('gs://contract-bucket/some/prefix', {
      gcsApiEndpoint: fake.url,
      gcsRetry: { maxRetries: 2, maxDelaySeconds: 1 },
    }),
  {
    bigBytes: 20 * 1024 * 1024,
  },
);

// --- a real bucket, when one is given ------------------------------------------------------------------
const realBucket =
  process.env.GCS_TEST_BUCKET &&
  (process.env.GCS_TEST_BUCKET.startsWith('gs://')
    ? process.env.GCS_TEST_BUCKET
    : `gs://${process.env.GCS_TEST_BUCKET}`);
if (!realBucket)
  console.warn(
    'skipping the real-GCS contract run: set GCS_TEST_BUCKET=gs://bucket/prefix (and credentials) to run it',
  );
describe.skipIf(!realBucket)('real GCS bucket', () => {
  describeStoreContract(`gcs (${realBucket})`, () => openStore(realBucket!), { bigBytes: 20 * 1024 * 1024 });
});
