import type pg from 'pg';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { CopyTap, DigestTap } from '../pgcopy/copy-text';
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
  const counter = new CopyTap((tap) => options.onProgress?.({ rows: tap.rows, rawBytes: tap.bytes }));
  const digest = new DigestTap();
  const source = client.query(pgCopy.to(copyToSql(table)));
  const stored = store.put(key, digest, {
    contentType: 'application/gzip',
    metadata: { table: `${table.schema}.${table.name}`, format: 'copy-text-gzip' },
  });
  const piped = pipeline(source, counter, createGzip({ level: options.compressionLevel, memLevel: 9, chunkSize: 256 * 1024 }), digest, {
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
    sha256: digest.digest(),
  };
}
