import type pg from 'pg';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import pgCopy from 'pg-copy-streams';
import type { ObjectStore } from '../storage/types';
import type { DiscoveredTable } from './discover';
import { qualifiedName, quoteIdent } from './scope';

export interface DumpedTable {
  rows: number;
  rawBytes: number;
  compressedBytes: number;
  sha256: string;
}

export interface DumpProgress {
  rows: number;
  rawBytes: number;
}

/** Counts bytes and rows (COPY text ends every row with a newline; newlines inside values are escaped). */
class CopyCounter extends Transform {
  rows = 0;
  bytes = 0;
  private lastReport = 0;
  constructor(private readonly onProgress?: (p: DumpProgress) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    let i = -1;
    while ((i = chunk.indexOf(10, i + 1)) !== -1) this.rows++;
    if (this.onProgress && this.bytes - this.lastReport >= 1 << 20) {
      this.lastReport = this.bytes;
      this.onProgress({ rows: this.rows, rawBytes: this.bytes });
    }
    done(null, chunk);
  }
}

/** sha256 and size of what passes through: the stored, compressed bytes. */
class Digest extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

export function copyToSql(table: DiscoveredTable): string {
  const columns = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  return `COPY ${qualifiedName(table.schema, table.name)} (${columns}) TO STDOUT`;
}

/**
 * Streams one table: COPY TO STDOUT -> count -> gzip -> sha256 -> create-only object in the store.
 * Nothing is buffered beyond the streams' own high-water marks.
 */
export async function dumpTable(
  client: pg.ClientBase,
  table: DiscoveredTable,
  store: ObjectStore,
  key: string,
  options: { compressionLevel: number; signal?: AbortSignal; onProgress?: (p: DumpProgress) => void },
): Promise<DumpedTable> {
  const counter = new CopyCounter(options.onProgress);
  const digest = new Digest();
  const source = client.query(pgCopy.to(copyToSql(table)));
  const stored = store.put(key, digest, {
    contentType: 'application/gzip',
    metadata: { table: `${table.schema}.${table.name}`, format: 'copy-text-gzip' },
  });
  const piped = pipeline(source, counter, createGzip({ level: options.compressionLevel }), digest, {
    signal: options.signal,
  });
  // If the store fails first, stop reading from the database too.
  stored.catch((err) => digest.destroy(err instanceof Error ? err : new Error(String(err))));
  const [, info] = await Promise.all([piped, stored]);
  options.onProgress?.({ rows: counter.rows, rawBytes: counter.bytes });
  return {
    rows: counter.rows,
    rawBytes: counter.bytes,
    compressedBytes: info.size ?? digest.bytes,
    sha256: digest.hash.digest('hex'),
  };
}
