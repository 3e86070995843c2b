/** Large objects in a backup: read inside the snapshot and streamed to one checked object. */
import type pg from 'pg';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { DigestTap } from '../pgcopy/copy-text';
import { CopyOut } from '../pgcopy/copy-out';
import { StorageError, type ObjectStore } from '../storage/types';
import { OpsError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { keys } from './layout';
import type { LargeObjectEntry, LargeObjects } from './manifest';

/**
 * Large objects (pg_largeobject_metadata): every one of them, read inside the backup's snapshot with
 * `lo_get(oid, offset, 1 MiB)`, is written into ONE gzip stream of frames, `lo/0001.lo.gz`:
 *
 *   "MTLO1\n"                                   magic
 *   per large object: 'O' oid:u32be             then its data as chunks: len:u32be (1..1 MiB) bytes
 *                     0:u32be                   end of this large object (an empty one has no chunk)
 *   'E' count:u32be                             trailer, then end of stream
 *
 * Why one stream and not an object per large object: databases that use them tend to hold many small ones, and
 * an object each would cost a storage request each (upload, listing, retention's deletes) and fill the bucket
 * with tiny objects. Chunked frames need no size up front (a large object is never read whole) and hold at most
 * one chunk in memory. The manifest still records every large object (oid, size, sha256, in frame order), so
 * verify and restore check each one, and the stored object's own sha256 and size.
 *
 * Ownership and grants of large objects are not recorded (the manifest holds no role names): a restore creates
 * them owned by the restoring role, as `pg_restore --no-owner --no-privileges` does, and its plan says so.
 */
export const LO_MAGIC = Buffer.from('MTLO1\n');
/** lo_get chunk: the most any large object's bytes are held in memory at once. */
export const LO_CHUNK = 1 << 20;
/** A frame chunk longer than this is corruption, not data (the writer never exceeds LO_CHUNK). */
const MAX_FRAME_CHUNK = 16 << 20;
/** Large objects listed per query, each with its first HEAD bytes (at most 1 MiB of data per query). */
const OID_PAGE = 256;
const HEAD = 4096;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export interface LargeObjectsDumpOptions {
  compressionLevel: number;
  signal?: AbortSignal;
  /** lo_get chunk size (tests); default LO_CHUNK. */
  chunkBytes?: number;
  onProgress?: (p: { count: number; rawBytes: number }) => void;
}

/** Whether the database (in the snapshot) holds any large object. */
export async function hasLargeObjects(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query('SELECT 1 FROM pg_largeobject_metadata LIMIT 1');
  return rows.length > 0;
}

/**
 * Streams every large object visible in the client's snapshot into `<prefix>lo/0001.lo.gz`; undefined (and
 * nothing written) when there are none. A large object that cannot be read fails the backup, naming its oid.
 */
export async function dumpLargeObjects(
  client: pg.ClientBase,
  store: ObjectStore,
  prefix: string,
  options: LargeObjectsDumpOptions,
): Promise<LargeObjects | undefined> {
  if (!(await hasLargeObjects(client))) return undefined;
  const chunkBytes = options.chunkBytes ?? LO_CHUNK;
  const items: LargeObjectEntry[] = [];
  let rawBytes = 0;
  const read = async (sql: string, params: unknown[], what: string) => {
    try {
      return (await client.query<{ oid: string; data: Buffer }>(sql, params)).rows;
    } catch (err) {
      throw new OpsError(`${what}: ${redactString(errorMessage(err))}`, 'large_object_unreadable', { cause: err });
    }
  };
  async function* frames(): AsyncGenerator<Buffer> {
    yield LO_MAGIC;
    for (let after = 0; ;) {
      // a page of oids, each with its first HEAD bytes: one round trip for up to OID_PAGE small large objects
      const rows = await read(
        'SELECT oid::int8::text AS oid, lo_get(oid, 0, $3::int4) AS data FROM pg_largeobject_metadata WHERE oid > $1::int8::oid ORDER BY oid LIMIT $2',
        [after, OID_PAGE, HEAD],
        `large objects after oid ${after}`,
      );
      for (const row of rows) {
        const oid = Number(row.oid);
        after = oid;
        yield Buffer.concat([Buffer.from('O'), u32(oid)]);
        const hash = createHash('sha256');
        let size = 0;
        let data = row.data;
        let asked = HEAD;
        for (;;) {
          if (data.length > 0) {
            hash.update(data);
            size += data.length;
            yield u32(data.length);
            yield data;
          }
          if (data.length < asked) break;
          options.signal?.throwIfAborted();
          asked = chunkBytes;
          try {
            data = await readLargeObjectChunk(client, oid, size, chunkBytes);
          } catch (err) {
            throw new OpsError(`large object ${oid}: ${redactString(errorMessage(err))}`, 'large_object_unreadable', {
              cause: err,
            });
          }
        }
        yield u32(0);
        items.push({ oid, size, sha256: hash.digest('hex') });
        rawBytes += size;
        options.onProgress?.({ count: items.length, rawBytes });
      }
      if (rows.length < OID_PAGE) break;
    }
    yield Buffer.concat([Buffer.from('E'), u32(items.length)]);
  }
  const object = keys.largeObjects();
  const digest = new DigestTap();
  const stored = store.put(`${prefix}${object}`, digest, {
    contentType: 'application/gzip',
    metadata: { format: 'lo-frames-gzip' },
  });
  const piped = pipeline(
    Readable.from(frames(), { objectMode: false, highWaterMark: 1 << 20 }),
    createGzip({ level: options.compressionLevel, chunkSize: 256 * 1024 }),
    digest,
    { signal: options.signal },
  );
  stored.catch((err) => digest.destroy(err instanceof Error ? err : new Error(String(err))));
  const [, info] = await Promise.all([piped, stored]);
  return {
    object,
    format: 'lo-frames-gzip',
    count: items.length,
    rawBytes,
    compressedBytes: info.size ?? digest.bytes,
    sha256: digest.digest(),
    items,
  };
}

/**
 * `lo_get(oid, offset, len)` as raw bytes: through `COPY (SELECT lo_get(...)) TO STDOUT (FORMAT binary)` rather than a
 * query, whose bytea result arrives as hex text (a 2 MiB string per 1 MiB chunk, which V8 keeps in its large-object
 * space until a full collection: on a loaded machine the peak memory then rose by tens of MB with a large object's size).
 */
export async function readLargeObjectChunk(
  client: pg.ClientBase,
  oid: number,
  offset: number,
  length: number,
): Promise<Buffer> {
  const copy = client.query(
    new CopyOut(
      `COPY (SELECT lo_get(${Math.trunc(oid)}::oid, ${Math.trunc(offset)}::int8, ${Math.trunc(length)}::int4)) TO STDOUT (FORMAT binary)`,
      length + 64,
    ),
  );
  const parts: Buffer[] = [];
  for await (const part of copy) parts.push(part as Buffer);
  const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  // binary COPY: 11-byte signature, flags:i32, extension length:i32 (+ extension), then one row: fields:i16, length:i32, bytes
  let at = 15;
  at += 4 + all.readUInt32BE(at);
  if (all.readInt16BE(at) !== 1) throw new Error(`unexpected binary COPY row for large object ${oid}`);
  const len = all.readInt32BE(at + 2);
  if (len < 0) throw new Error(`large object ${oid} does not exist`);
  return all.subarray(at + 6, at + 6 + len);
}

export type LargeObjectFrame =
  | { kind: 'start'; oid: number }
  | { kind: 'data'; oid: number; data: Buffer }
  | { kind: 'end'; oid: number }
  | { kind: 'trailer'; count: number };

/** Reads exact byte counts from a stream of buffers, holding only what was asked for. */
class ByteReader {
  private buffered: Buffer[] = [];
  private length = 0;
  constructor(private readonly source: AsyncIterator<Buffer>) {}
  /** `n` bytes, or undefined at a clean end of stream (nothing buffered). */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.length < n) {
      const next = await this.source.next();
      if (next.done) {
        if (this.length === 0) return undefined;
        throw new Error(`large-objects stream truncated (${this.length} bytes left, ${n} expected)`);
      }
      this.buffered.push(next.value);
      this.length += next.value.length;
    }
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.length);
    const rest = all.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return all.subarray(0, n);
  }
  async need(n: number, what: string): Promise<Buffer> {
    const b = await this.read(n);
    if (!b) throw new Error(`large-objects stream ends before ${what}`);
    return b;
  }
}

/** Parses the frames of a (decompressed) large-objects stream; throws on any malformed frame. */
export async function* readLargeObjectFrames(source: AsyncIterable<Buffer>): AsyncGenerator<LargeObjectFrame> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  const magic = await reader.read(LO_MAGIC.length);
  if (!magic || !magic.equals(LO_MAGIC)) throw new Error('not a large-objects stream (bad magic)');
  for (;;) {
    const tag = (await reader.need(1, 'the trailer'))[0];
    if (tag === 0x45 /* E */) {
      const count = (await reader.need(4, 'the trailer count')).readUInt32BE();
      if ((await reader.read(1)) !== undefined) throw new Error('large-objects stream has bytes after its trailer');
      yield { kind: 'trailer', count };
      return;
    }
    if (tag !== 0x4f /* O */) throw new Error(`large-objects stream: unexpected frame tag 0x${tag!.toString(16)}`);
    const oid = (await reader.need(4, 'an oid')).readUInt32BE();
    yield { kind: 'start', oid };
    for (;;) {
      const len = (await reader.need(4, `the end of large object ${oid}`)).readUInt32BE();
      if (len === 0) break;
      if (len > MAX_FRAME_CHUNK) throw new Error(`large object ${oid}: chunk of ${len} bytes (corrupted stream)`);
      yield { kind: 'data', oid, data: await reader.need(len, `the end of large object ${oid}`) };
    }
    yield { kind: 'end', oid };
  }
}

/**
 * Walks the frames of `source` against the manifest's entries, in order: the same oids, and each large object's
 * size and sha256. Calls `onFrame` for each frame (restore writes there); returns the mismatches, one line each.
 */
export async function walkLargeObjects(
  source: AsyncIterable<Buffer>,
  entry: LargeObjects,
  onFrame?: (frame: LargeObjectFrame, expected: LargeObjectEntry) => Promise<void>,
): Promise<{ problems: string[]; count: number; rawBytes: number }> {
  const problems: string[] = [];
  let index = -1;
  let hash = createHash('sha256');
  let size = 0;
  let rawBytes = 0;
  let trailer: number | undefined;
  for await (const frame of readLargeObjectFrames(source)) {
    if (frame.kind === 'trailer') {
      trailer = frame.count;
      break;
    }
    if (frame.kind === 'start') {
      index++;
      hash = createHash('sha256');
      size = 0;
    }
    const expected = entry.items[index];
    if (!expected)
      throw new Error(
        `large object ${frame.kind === 'start' ? frame.oid : '?'} is in the stream but not in the manifest`,
      );
    if (frame.kind === 'start' && frame.oid !== expected.oid)
      throw new Error(`large object ${frame.oid} found where the manifest has ${expected.oid}`);
    if (frame.kind === 'data') {
      hash.update(frame.data);
      size += frame.data.length;
      rawBytes += frame.data.length;
    }
    await onFrame?.(frame, expected);
    if (frame.kind === 'end') {
      if (size !== expected.size)
        problems.push(`large object ${expected.oid}: ${size} bytes, the manifest says ${expected.size}`);
      else if (hash.digest('hex') !== expected.sha256)
        problems.push(`large object ${expected.oid}: sha256 does not match the manifest`);
    }
  }
  const count = index + 1;
  if (count !== entry.items.length)
    problems.push(`large objects: ${count} in the stream, the manifest lists ${entry.items.length}`);
  if (trailer !== undefined && trailer !== count)
    problems.push(`large objects: the stream's trailer says ${trailer}, it holds ${count}`);
  return { problems, count, rawBytes };
}

/** The manifest's own consistency for large objects: totals match the entries, no oid twice. */
export function checkLargeObjectsManifest(entry: LargeObjects | undefined): string[] {
  if (!entry) return [];
  const problems: string[] = [];
  const bytes = entry.items.reduce((a, i) => a + i.size, 0);
  if (entry.count !== entry.items.length || bytes !== entry.rawBytes)
    problems.push('manifest: large-object totals do not match their entries (manifest altered or corrupted)');
  if (new Set(entry.items.map((i) => i.oid)).size !== entry.items.length)
    problems.push('manifest: a large object is listed twice');
  return problems;
}

/**
 * Verify: re-reads the large-objects object: sha256 and size of the stored bytes, then every large object's size
 * and sha256 inside, against the manifest.
 */
export async function checkLargeObjectsObject(
  store: ObjectStore,
  prefix: string,
  entry: LargeObjects,
  /** Stops the check (a time limit, a server shutting down), mid-read too: rejects with its reason. */
  signal?: AbortSignal,
): Promise<string[]> {
  const problems = checkLargeObjectsManifest(entry);
  const stored = new DigestTap();
  const gunzip = createGunzip();
  let source: Readable | undefined;
  try {
    source = await store.get(`${prefix}${entry.object}`);
    const reading = pipeline(source, stored, gunzip, ...(signal ? [{ signal }] : []));
    reading.catch(() => {}); // surfaced through the walk below
    const walked = await walkLargeObjects(gunzip, entry);
    await reading;
    if (stored.bytes !== entry.compressedBytes)
      problems.push(
        `large objects: ${entry.object} is ${stored.bytes} bytes, the manifest says ${entry.compressedBytes}`,
      );
    else if (stored.digest() !== entry.sha256)
      problems.push(`large objects: ${entry.object} sha256 does not match the manifest (corrupted object)`);
    return [...problems, ...walked.problems];
  } catch (err) {
    source?.destroy();
    gunzip.destroy();
    if (signal?.aborted) throw signal.reason; // stopped: says nothing about the backup
    if (err instanceof StorageError && err.code === 'stalled') throw err; // the storage, not the backup
    // unreadable inside: say whether the stored bytes themselves differ from what the backup wrote
    const storedProblems = await checkLargeObjectsStored(store, prefix, entry);
    return [...problems, ...storedProblems, `large objects: cannot read ${entry.object}: ${errorMessage(err)}`];
  }
}

/** Restore preflight: sha256 and size of the stored object only (no decompression), as for tables. */
export async function checkLargeObjectsStored(
  store: ObjectStore,
  prefix: string,
  entry: LargeObjects,
): Promise<string[]> {
  const tap = new DigestTap();
  try {
    const source = await store.get(`${prefix}${entry.object}`);
    await pipeline(source, tap, new Writable({ write: (_c, _e, done) => done() }));
  } catch (err) {
    return [`large objects: cannot read ${entry.object}: ${errorMessage(err)}`];
  }
  if (tap.bytes !== entry.compressedBytes)
    return [
      `large objects: ${entry.object} is ${tap.bytes} bytes, the manifest says ${entry.compressedBytes} (corrupted object)`,
    ];
  if (tap.digest() !== entry.sha256)
    return [`large objects: ${entry.object} sha256 does not match the manifest (corrupted object)`];
  return [];
}
