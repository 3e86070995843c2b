/** Behaviour specific to each store: holds and injected failures on GCS; crash safety and cross-process CAS on files. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Readable } from 'node:stream';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/temp';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { openStore } from '../../shared/storage/open';
import { StorageError } from '../../shared/storage/types';

describe('GCS store against the fake', () => {
  let fake: FakeGcs;
  const open = () => openStore('gs://held-bucket/ops', { gcsApiEndpoint: fake.url, gcsRetry: { maxRetries: 2, maxDelaySeconds: 1 } });
  beforeAll(async () => {
    fake = await startFakeGcs();
  });
  afterAll(() => fake.close());

  it('reports holds and retention in stat, and refuses to delete held objects', async () => {
    const store = open();
    await store.put('held/a', 'a');
    await store.put('held/b', 'b');
    fake.setHold('held-bucket', 'ops/held/a', { temporaryHold: true });
    const until = new Date(Date.now() + 86_400_000).toISOString();
    fake.setHold('held-bucket', 'ops/held/b', { retentionExpirationTime: until });
    expect(await store.stat('held/a')).toMatchObject({ temporaryHold: true });
    expect((await store.stat('held/b'))?.retentionExpires?.toISOString()).toBe(until);
    for (const key of ['held/a', 'held/b']) {
      const err = await store.delete(key).catch((e: unknown) => e);
      expect((err as StorageError).code).toBe('held');
    }
    expect(fake.objectNames('held-bucket')).toEqual(['ops/held/a', 'ops/held/b']);
  });

  it('retries a transient 503 on a create-only upload, then succeeds', async () => {
    const store = open();
    fake.failNext({ method: 'POST', pathIncludes: 'retry/once', status: 503, count: 1 });
    const info = await store.put('retry/once', 'payload');
    expect(info.size).toBe(7);
    expect(fake.requests.filter((r) => r.method === 'POST' && r.path.includes('retry%2Fonce')).length).toBeGreaterThanOrEqual(2);
  });

  it('surfaces a persistent storage failure as a StorageError', async () => {
    const store = open();
    fake.failNext({ pathIncludes: 'fails/always', status: 503, count: 100 });
    const err = await store.put('fails/always', Readable.from([Buffer.alloc(1024)])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('io');
    expect(fake.objectNames('held-bucket')).not.toContain('ops/fails/always');
  });

  it('lists page by page with maxResults and pageToken', async () => {
    const store = open();
    for (let i = 0; i < 7; i++) await store.put(`paged/${i}`, String(i));
    const before = fake.requests.length;
    const keys: string[] = [];
    for await (const o of store.list('paged/', { pageSize: 3 })) keys.push(o.key);
    expect(keys).toEqual(['paged/0', 'paged/1', 'paged/2', 'paged/3', 'paged/4', 'paged/5', 'paged/6']);
    const lists = fake.requests.slice(before).filter((r) => r.method === 'GET' && /\/o\?/.test(r.path));
    expect(lists).toHaveLength(3);
    expect(lists[1]!.path).toContain('pageToken=');
    expect(lists[0]!.path).toContain('maxResults=3');
  });
});

describe('file store', () => {
  it('a body that fails midway leaves nothing under the final name and no visible temp file', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    const body = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024, 1));
        setImmediate(() => this.destroy(new Error('database connection lost')));
      },
    });
    await expect(store.put('env/id/data/0001.copy.gz', body)).rejects.toThrow(/database connection lost/);
    expect(existsSync(join(root, 'env/id/data/0001.copy.gz'))).toBe(false);
    expect(await store.stat('env/id/data/0001.copy.gz')).toBeUndefined();
    const listed: string[] = [];
    for await (const o of store.list('')) listed.push(o.key);
    expect(listed).toEqual([]);
    expect(readdirSync(join(root, '.tmp'))).toEqual([]);
  });

  it('compare-and-swap holds across processes: 6 processes x 10 increments lose no update', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    await store.writeJson('counter.json', { n: 0 }, { ifGeneration: null });
    const script = fileURLToPath(new URL('../support/cas-increment.ts', import.meta.url));
    const runner = fileURLToPath(new URL('../../bin/run-ts.js', import.meta.url));
    await Promise.all(
      Array.from({ length: 6 }, () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, [runner, script, `file://${root}`, '10'], { stdio: 'inherit' });
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`incrementer exited ${code}`))));
        }),
      ),
    );
    expect((await store.readJson('counter.json'))?.value).toEqual({ n: 60 });
  });
});
