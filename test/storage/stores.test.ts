/** Behaviour specific to each store: holds and injected failures on GCS; crash safety and cross-process CAS on files. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Readable } from 'node:stream';
import { readdirSync, existsSync, mkdirSync, writeFileSync, utimesSync, rmSync, linkSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { tempDir } from '../support/temp';
import { incrementInProcesses } from '../support/cas-processes';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { openStore } from '../../shared/storage/open';
import { StorageError } from '../../shared/storage/types';
import { UsageError } from '../../shared/errors';
import { withLease, processScope } from '../../shared/storage/lease';
import { KeyLocks } from '../../shared/storage/file-lock';
import { poolIo } from '../../shared/storage/file-io';
import { hostname } from 'node:os';

describe('openStore', () => {
  it.each([
    [
      'ftp://x',
      /invalid bucket URL "ftp:\/\/x": must be file:\/\/\/abs\/path, file:\/\/\.\/relative or gs:\/\/bucket\[\/prefix\]/,
    ],
    ['file://', /no path/],
    ['gs://', /bucket name/],
    ['gs://Upper-Case', /bucket name/],
    ['gs://ab', /bucket name/],
    ['gs://bucket/a//b', /empty, \. or \.\. segment/],
    ['gs://bucket/../b', /empty, \. or \.\. segment/],
    ['/just/a/path', /must be file:\/\/\/abs\/path/],
  ])('rejects %s with a UsageError saying why', (url, reason) => {
    let err: unknown;
    try {
      openStore(url);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(reason);
  });

  it('opens file:///abs, file://./relative (to the working directory) and gs://bucket/prefix', () => {
    expect(openStore('file:///var/backups').url).toBe('file:///var/backups');
    expect(openStore('file://./backups').url).toBe(`file://${resolve(process.cwd(), 'backups')}`);
    expect(openStore('gs://my-bucket').url).toBe('gs://my-bucket');
    // the URL is safe to print: no endpoint, no trailing slash
    expect(openStore('gs://my-bucket/ops/prod/', { gcsApiEndpoint: 'http://127.0.0.1:9' }).url).toBe(
      'gs://my-bucket/ops/prod',
    );
  });
});

describe('GCS store against the fake', () => {
  let fake: FakeGcs;
  const open = () =>
    openStore('gs://held-bucket/ops', { gcsApiEndpoint: fake.url, gcsRetry: { maxRetries: 2, maxDelaySeconds: 1 } });
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

  it('refuses to overwrite a document under retention, as GCS does', async () => {
    const store = open();
    const generation = await store.writeJson('retained/doc.json', { v: 1 }, { ifGeneration: null });
    fake.setHold('held-bucket', 'ops/retained/doc.json', {
      retentionExpirationTime: new Date(Date.now() + 60_000).toISOString(),
    });
    const err = await store
      .writeJson('retained/doc.json', { v: 2 }, { ifGeneration: generation })
      .catch((e: unknown) => e);
    expect((err as StorageError).code).toBe('held');
    expect((await store.readJson('retained/doc.json'))?.value).toEqual({ v: 1 });
  });

  it('a download whose bytes do not match the stored CRC32C fails', async () => {
    const store = open();
    await store.put('corrupt/object', Readable.from([Buffer.alloc(300_000, 3)]));
    fake.corrupt('held-bucket', 'ops/corrupt/object');
    const read = async () => {
      for await (const chunk of await store.get('corrupt/object')) void chunk;
    };
    await expect(read()).rejects.toBeInstanceOf(StorageError);
  });

  it('retries a transient 503 on a create-only upload, then succeeds', async () => {
    const store = open();
    fake.failNext({ method: 'POST', pathIncludes: 'retry/once', status: 503, count: 1 });
    const info = await store.put('retry/once', 'payload');
    expect(info.size).toBe(7);
    expect(
      fake.requests.filter((r) => r.method === 'POST' && r.path.includes('retry%2Fonce')).length,
    ).toBeGreaterThanOrEqual(2);
  });

  it('resends a chunk that failed mid-upload: the streamed object arrives whole', async () => {
    const store = open();
    const blocks = function* () {
      for (let i = 0; i < 320; i++) yield Buffer.alloc(64 * 1024, i % 251); // 20 MiB: three 8 MiB chunks
    };
    const md5 = createHash('md5');
    for (const b of blocks()) md5.update(b);
    const before = fake.requests.length;
    fake.failNext({ method: 'PUT', pathIncludes: 'upload_id=', afterN: 1, count: 1, status: 503 }); // the second chunk
    const info = await store.put('chunked/big.bin', Readable.from(blocks()));
    expect(info).toMatchObject({ size: 20 * 1024 * 1024, md5: md5.digest('base64') });
    const puts = fake.requests.slice(before).filter((r) => r.method === 'PUT');
    expect(puts.length).toBeGreaterThanOrEqual(4); // 3 chunks + the failed one
    const readBack = createHash('md5');
    for await (const chunk of await store.get('chunked/big.bin')) readBack.update(chunk as Buffer);
    expect(readBack.digest('base64')).toBe(info.md5);
  });

  it('a stalled streamed upload is cut off at the socket: the request is closed, not left open in the process', async () => {
    const store = openStore('gs://held-bucket/ops', {
      gcsApiEndpoint: fake.url,
      gcsRetry: { maxRetries: 0 },
      progressTimeoutSeconds: 1,
    });
    fake.stallUploads({ readBody: true }); // the data is taken, the answer never comes
    try {
      const err = await store.put('stalled/upload', Readable.from([Buffer.alloc(300 * 1024)])).catch((e: unknown) => e);
      expect((err as StorageError).code).toBe('stalled');
      expect(fake.openStalledUploads()).toBeGreaterThan(0); // the fake still holds it: the client must close it
      // the client closes it as it gives up (a socket kept open would hold the function's instance, and its memory)
      for (const until = Date.now() + 5_000; fake.openStalledUploads() > 0 && Date.now() < until;)
        await new Promise((r) => setTimeout(r, 20));
      expect(fake.openStalledUploads()).toBe(0);
    } finally {
      fake.stallUploads(false);
    }
  });

  it('surfaces a persistent storage failure as a StorageError', async () => {
    const store = open();
    fake.failNext({ pathIncludes: 'fails/always', status: 503, count: 100 });
    const err = await store.put('fails/always', Readable.from([Buffer.alloc(1024)])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('io');
    expect(fake.objectNames('held-bucket')).not.toContain('ops/fails/always');
  });

  it('withLease rides out a failed renewal while the lease is still live', async () => {
    const store = openStore('gs://held-bucket/ops', { gcsApiEndpoint: fake.url, gcsRetry: { maxRetries: 0 } });
    // the first renewal (the 2nd lease write) fails; the next one, a tick later, succeeds
    fake.failNext({ method: 'POST', pathIncludes: 'locks/renew.json', status: 503, afterN: 1, count: 1 });
    const result = await withLease(store, 'locks/renew.json', { ttlMs: 900, holder: 'worker' }, async () => {
      await new Promise((r) => setTimeout(r, 1200));
      return 'done';
    });
    expect(result).toBe('done');
    const leaseWrites = fake.requests.filter(
      (r) => r.method === 'POST' && decodeURIComponent(r.path).includes('locks/renew.json'),
    );
    expect(leaseWrites.length).toBeGreaterThanOrEqual(3); // acquire, failed renewal, renewal
    expect(await store.readJson('locks/renew.json')).toBeUndefined(); // released
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

/** Key locks left in a file bucket (the holder files, one per store, stay: locks are links to them). */
const locksLeft = (root: string) => readdirSync(join(root, '.locks')).filter((name) => name !== 'holders');

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

  it('a folder is not an object', async () => {
    const store = openStore(`file://${tempDir()}`);
    await store.put('dir/inner', 'x');
    expect(await store.stat('dir')).toBeUndefined();
    const err = await store.get('dir').catch((e: unknown) => e);
    expect((err as StorageError).code).toBe('not_found');
  });

  it('waits for a live key lock, and breaks one left by a crashed process after 30 s', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    const lockFile = join(root, '.locks', `${createHash('sha256').update('doc.json').digest('hex')}.lock`);
    mkdirSync(join(root, '.locks'), { recursive: true });
    writeFileSync(lockFile, '');
    let written = false;
    const write = store.writeJson('doc.json', { a: 1 }, { ifGeneration: null }).then(() => (written = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(written).toBe(false); // a live lock holds the writer back
    rmSync(lockFile);
    await write;
    writeFileSync(lockFile, '');
    const old = new Date(Date.now() - 31_000);
    utimesSync(lockFile, old, old);
    const started = Date.now();
    const doc = await store.readJson('doc.json');
    await store.writeJson('doc.json', { a: 2 }, { ifGeneration: doc!.generation });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await store.readJson('doc.json'))?.value).toEqual({ a: 2 });
    expect(existsSync(lockFile)).toBe(false);
  });

  it('breaks at once a key lock whose holder, a process of this machine, was killed with SIGKILL (not after 30 s)', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    await store.writeJson('doc.json', { a: 1 }, { ifGeneration: null });
    const lockFile = join(root, '.locks', `${createHash('sha256').update('doc.json').digest('hex')}.lock`);
    // a real process holds the lock (the file a writer leaves while it publishes: its host, pid and pid scope)
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((r) => holder.once('spawn', r));
    writeFileSync(lockFile, JSON.stringify({ holder: `${hostname()}:${holder.pid}:abcdef`, scope: processScope() }));
    const doc = await store.readJson('doc.json');
    let written = false;
    const write = store.writeJson('doc.json', { a: 2 }, { ifGeneration: doc!.generation }).then(() => (written = true));
    // alive: its lock holds the writer back, even once older than the 30 s age rule (that rule is for holders elsewhere)
    const old = new Date(Date.now() - 31_000);
    utimesSync(lockFile, old, old);
    await new Promise((r) => setTimeout(r, 300));
    expect(written).toBe(false);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    const killedAt = Date.now();
    await write;
    expect(Date.now() - killedAt).toBeLessThan(10_000); // far below the 30 s age rule
    expect((await store.readJson('doc.json'))?.value).toEqual({ a: 2 });
    expect(locksLeft(root)).toEqual([]);
  });

  it('a key lock is a link to its holder file, gone once the write is done; one left by a killed writer is broken at once', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    await store.writeJson('doc.json', { a: 1 }, { ifGeneration: null });
    expect(locksLeft(root)).toEqual([]); // a finished write leaves no lock behind
    const [own] = readdirSync(join(root, '.locks', 'holders'));
    expect(JSON.parse(readFileSync(join(root, '.locks', 'holders', own!), 'utf8'))).toMatchObject({
      holder: expect.stringMatching(new RegExp(`^${hostname()}:${process.pid}:`)),
    });
    const lockFile = join(root, '.locks', `${createHash('sha256').update('doc.json').digest('hex')}.lock`);
    // a process on another machine sharing the folder takes the key's lock, its holder file an hour old: the lock is
    // as young as its holder's last link, so it holds (the 30 s age rule does not break it)
    const remote = join(root, '.locks', 'holders', 'remote');
    writeFileSync(remote, JSON.stringify({ holder: 'elsewhere:4242:abcdef', scope: 'another-boot' }));
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(remote, hourAgo, hourAgo);
    linkSync(remote, lockFile);
    let first = false;
    const firstWrite = store.writeJson('other.json', { b: 1 }, { ifGeneration: null });
    const blocked = store.writeJson('doc.json', { a: 1.5 }, { ifGeneration: null }).catch(() => 'refused');
    void blocked.then(() => (first = true));
    await firstWrite;
    await new Promise((r) => setTimeout(r, 300));
    expect(first).toBe(false);
    rmSync(lockFile); // released
    expect(await blocked).toBe('refused'); // (doc.json exists: the write then meets its precondition)
    // another process of this machine holds the key's lock: a link to its holder file
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((r) => holder.once('spawn', r));
    const theirs = join(root, '.locks', 'holders', 'theirs');
    writeFileSync(theirs, JSON.stringify({ holder: `${hostname()}:${holder.pid}:abcdef`, scope: processScope() }));
    linkSync(theirs, lockFile);
    const doc = await store.readJson('doc.json');
    let written = false;
    const write = store.writeJson('doc.json', { a: 2 }, { ifGeneration: doc!.generation }).then(() => (written = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(written).toBe(false); // its holder is alive: it waits
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    const killedAt = Date.now();
    await write;
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect((await store.readJson('doc.json'))?.value).toEqual({ a: 2 });
    expect(locksLeft(root)).toEqual([]);
    // the cleanup's sweep removes the dead holder's file, and keeps this live one's
    await (store as unknown as { removeTemporary(d: Date): Promise<unknown> }).removeTemporary(
      new Date(Date.now() - 60_000),
    );
    expect(readdirSync(join(root, '.locks', 'holders')).sort()).toEqual([own, 'remote'].sort()); // remote: linked a moment ago
  });

  it('the cleanup also removes broken locks a killed process left moved aside, once old; young ones may be in use', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    await store.writeJson('doc.json', { a: 1 }, { ifGeneration: null });
    const aside = (n: number) => join(root, '.locks', `${'0'.repeat(64)}.lock.${n}abcdef.stale`);
    writeFileSync(aside(1), JSON.stringify({ holder: 'gone:1:abc' }));
    writeFileSync(aside(2), JSON.stringify({ holder: 'gone:2:abc' }));
    const sweep = (olderThan: Date) =>
      (store as unknown as { removeTemporary(d: Date): Promise<unknown> }).removeTemporary(olderThan);
    await sweep(new Date(Date.now() - 60_000));
    expect(readdirSync(join(root, '.locks')).filter((n) => n.endsWith('.stale'))).toHaveLength(2);
    await sweep(new Date(Date.now() + 1_000));
    expect(readdirSync(join(root, '.locks')).filter((n) => n.endsWith('.stale'))).toEqual([]);
    expect((await store.readJson('doc.json'))?.value).toEqual({ a: 1 });
  });

  it('a lock held long enough to be broken is released only if it is still ours (one taken over meanwhile stays)', async () => {
    const root = tempDir();
    const locks = new KeyLocks(
      root,
      (err) => err as StorageError,
      () => poolIo,
    );
    const lockFile = join(root, '.locks', `${createHash('sha256').update('doc.json').digest('hex')}.lock`);
    const other = join(root, 'other-holder');
    writeFileSync(other, JSON.stringify({ holder: 'elsewhere:1:abcdef', scope: 'another-boot' }));
    await locks.with('doc.json', async () => {
      // held past the time in which nobody could have broken it: another writer judged it stale and took it over
      await new Promise((r) => setTimeout(r, 5_200));
      rmSync(lockFile);
      linkSync(other, lockFile);
    });
    expect(existsSync(lockFile)).toBe(true); // theirs, left alone
    rmSync(lockFile);
    // held briefly: released without a look (nobody breaks a lock that young)
    await locks.with('doc.json', async () => {});
    expect(existsSync(lockFile)).toBe(false);
  }, 15_000);

  it('compare-and-swap holds across processes: 6 processes x 10 increments lose no update', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    await store.writeJson('counter.json', { n: 0 }, { ifGeneration: null });
    await incrementInProcesses(`file://${root}`, 6, 10);
    expect((await store.readJson('counter.json'))?.value).toEqual({ n: 60 });
    // each process removed its lock holder file as it exited (a CLI run from cron every minute left one a run); this
    // process's own is still there
    expect(readdirSync(join(root, '.locks', 'holders'))).toHaveLength(1);
  });
});
