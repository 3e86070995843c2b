/**
 * The file store's JSON documents (shared/storage/file-json.ts): a write refills the key's spare inode (the one the
 * previous write replaced) once it has been a spare for a second, so the steady state creates and frees no file; the
 * rules that keep that safe (a reader never meets a refill, a generation never comes back); the sidecar a JSON
 * document no longer needs.
 */
import { describe, it, expect } from 'vitest';
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { tempDir } from '../support/temp';
import { incrementInProcesses } from '../support/cas-processes';
import { openStore } from '../../shared/storage/open';
import { readDocument, SPARE_MIN_AGE_MS } from '../../shared/storage/file-json';
import { directIo, poolIo } from '../../shared/storage/file-io';
import { FileStore } from '../../shared/storage/file-store';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const spareOf = (root: string, key: string) => join(root, '.spare', createHash('sha256').update(key).digest('hex'));
const ino = (path: string) => statSync(path).ino;

describe('file store JSON documents', () => {
  it('a document written again after a second is written into its spare: no file made or freed, a new generation, the old ones refused', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    const key = 'env/.state/probes/api.json';
    const g1 = await store.writeJson(key, { v: 1, pad: 'x'.repeat(500) }, { ifGeneration: null });
    const first = ino(join(root, key));
    expect(existsSync(spareOf(root, key))).toBe(false); // nothing replaced yet
    await sleep(SPARE_MIN_AGE_MS + 100);
    const g2 = await store.writeJson(key, { v: 2 }, { ifGeneration: g1 });
    const second = ino(join(root, key));
    expect(second).not.toBe(first);
    expect(ino(spareOf(root, key))).toBe(first); // the replaced inode, kept
    await sleep(SPARE_MIN_AGE_MS + 100);
    // shorter than what the spare held: the refill is cut to the new length
    const g3 = await store.writeJson(key, { v: 3 }, { ifGeneration: g2 });
    expect(ino(join(root, key))).toBe(first); // refilled and renamed back
    expect(ino(spareOf(root, key))).toBe(second);
    expect((await store.readJson(key))?.value).toEqual({ v: 3 });
    expect(new Set([g1, g2, g3]).size).toBe(3);
    // the first generation names the same inode again, with another content: it must not pass
    await expect(store.writeJson(key, { v: 'stale' }, { ifGeneration: g1 })).rejects.toMatchObject({
      code: 'precondition_failed',
    });
    expect(readdirSync(join(root, '.tmp'))).toEqual([]);
    // stat agrees with what readJson gives: size, md5 of the content, generation, type
    const info = await store.stat(key);
    expect(info).toMatchObject({
      size: JSON.stringify({ v: 3 }).length,
      md5: createHash('md5')
        .update(JSON.stringify({ v: 3 }))
        .digest('base64'),
      generation: g3,
      contentType: 'application/json',
    });
  });

  it('written again within a second, the spare is not refilled: a reader that opened the old document still reads it whole', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    const key = 'doc.json';
    const g1 = await store.writeJson(key, { v: 1, text: 'first' }, { ifGeneration: null });
    const held = openSync(join(root, key), 'r'); // a reader that opened v1 and has not read yet
    try {
      const g2 = await store.writeJson(key, { v: 2 }, { ifGeneration: g1 }); // v1's inode becomes the spare
      const g3 = await store.writeJson(key, { v: 3, text: 'third, longer than the first' }, { ifGeneration: g2 });
      await store.writeJson(key, { v: 4 }, { ifGeneration: g3 });
      const buffer = Buffer.alloc(200);
      const n = readSync(held, buffer, 0, buffer.length, 0);
      expect(JSON.parse(buffer.toString('utf8', 0, n))).toEqual({ v: 1, text: 'first' });
    } finally {
      closeSync(held);
    }
    expect((await store.readJson(key))?.value).toEqual({ v: 4 });
  });

  it.each([
    ['direct', directIo],
    ['thread pool', poolIo],
  ] as const)(
    'a read that stalled (its process paused) reads again: it never returns a refilled inode with its old generation (%s calls)',
    async (_mode, io) => {
      const root = tempDir();
      const store = new FileStore(root, io.mode);
      const key = 'doc.json';
      const g1 = await store.writeJson(key, { v: 1 }, { ifGeneration: null });
      await sleep(SPARE_MIN_AGE_MS + 100);
      const g2 = await store.writeJson(key, { v: 2, text: 'second' }, { ifGeneration: g1 }); // v1's inode: the spare
      await sleep(SPARE_MIN_AGE_MS + 100);
      let g4 = '';
      // the reader opens v2's inode and stalls; meanwhile v3 refills v1's inode (v2's becomes the spare) and, a second
      // later, v4 refills v2's inode: the very inode the stalled reader holds
      const doc = await readDocument(io, join(root, key), key, async () => {
        const g3 = await store.writeJson(key, { v: 3 }, { ifGeneration: g2 });
        await sleep(SPARE_MIN_AGE_MS + 100);
        g4 = await store.writeJson(key, { v: 4, text: 'fourth, and longer than the second' }, { ifGeneration: g3 });
      });
      expect(JSON.parse(doc!.bytes.toString('utf8'))).toEqual({ v: 4, text: 'fourth, and longer than the second' });
      expect(doc!.generation).toBe(g4);
    },
  );

  it('a sidecar an older version wrote (with an md5 that would go stale) is removed; metadata still gets one', async () => {
    const root = tempDir();
    const key = 'env/verify.json';
    mkdirSync(join(root, '.meta', 'env'), { recursive: true });
    mkdirSync(join(root, 'env'), { recursive: true });
    writeFileSync(join(root, key), JSON.stringify({ v: 0 }));
    writeFileSync(
      join(root, '.meta', `${key}.json`),
      JSON.stringify({ md5: 'stale', contentType: 'text/plain', metadata: {} }),
    );
    const store = openStore(`file://${root}`);
    const g0 = (await store.readJson(key))!.generation;
    await store.writeJson(key, { v: 1 }, { ifGeneration: g0 });
    expect(existsSync(join(root, '.meta', `${key}.json`))).toBe(false);
    expect(await store.stat(key)).toMatchObject({
      md5: createHash('md5')
        .update(JSON.stringify({ v: 1 }))
        .digest('base64'),
      contentType: 'application/json',
      metadata: {},
    });
    const withMeta = 'env/labelled.json';
    await store.writeJson(withMeta, { v: 1 }, { ifGeneration: null, metadata: { kind: 'x' } });
    expect(await store.stat(withMeta)).toMatchObject({ metadata: { kind: 'x' }, contentType: 'application/json' });
  });

  it('delete removes the spare with the document', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    const g1 = await store.writeJson('a.json', { v: 1 }, { ifGeneration: null });
    await store.writeJson('a.json', { v: 2 }, { ifGeneration: g1 });
    expect(existsSync(spareOf(root, 'a.json'))).toBe(true);
    await store.delete('a.json');
    expect(existsSync(spareOf(root, 'a.json'))).toBe(false);
    expect(await store.readJson('a.json')).toBeUndefined();
    const listed: string[] = [];
    for await (const o of store.list('')) listed.push(o.key);
    expect(listed).toEqual([]);
  });

  it('compare-and-swap holds across processes while spares are refilled: 4 processes x 3 rounds, 3 of them at once in each', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    await store.writeJson('counter.json', { n: 0 }, { ifGeneration: null });
    // each version of the document as often as the test's loop can look: a refilled inode was made (its birth time)
    // at least SPARE_MIN_AGE_MS before its content was written (its mtime); a new file, at the write
    const refilled = new Set<string>();
    let versions = 0;
    let last = '';
    const look = () => {
      try {
        const st = statSync(join(root, 'counter.json'));
        const version = `${st.ino}-${st.mtimeMs}`;
        if (version === last) return;
        last = version;
        versions++;
        if (st.mtimeMs - st.birthtimeMs >= SPARE_MIN_AGE_MS) refilled.add(version);
      } catch {
        // between a rename and the next: looked again 10 ms later
      }
    };
    const watch = setInterval(look, 10);
    try {
      // rounds 2 s apart (the processes' start-up allowed for first): in each, one process writes alone (more than
      // SPARE_MIN_AGE_MS after the previous round's writes: it refills the spare), then three at once 400 ms later
      // (compare-and-swap conflicts; their spare is too young: new files)
      const roundMs = 2_000;
      await incrementInProcesses(
        `file://${root}`,
        { t0: Date.now() + 3_000, roundMs, offsetsMs: [0, 400, 400, 400] },
        3,
      );
    } finally {
      clearInterval(watch);
    }
    expect(SPARE_MIN_AGE_MS).toBeLessThan(2_000 - 400 - 200);
    expect((await store.readJson('counter.json'))?.value).toEqual({ n: 12 });
    // refills seen (the lone writes of rounds 2 and 3), among the versions seen
    expect(statSync(root).birthtimeMs).toBeGreaterThan(0); // the premise: this filesystem keeps birth times
    expect(versions).toBeGreaterThan(3);
    expect(refilled.size).toBeGreaterThanOrEqual(1);
  });
});
