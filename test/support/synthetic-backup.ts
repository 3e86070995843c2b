/** A complete backup written straight into a store, laid out as the backup code does (one tiny table), for tests of what reads backups. */
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import type { ObjectStore } from '../../shared/storage/types';
import { keys } from '../../shared/backup/layout';

/** The backup id of a time: `2026-11-29T03:00:00Z` -> `20261129T030000Z-<suffix>`. */
export function idAt(iso: string, suffix = 'a1b2'): string {
  return `${iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${suffix}`;
}

export interface SyntheticBackup {
  suffix?: string;
  label?: string;
  /** Absent mimics a manifest older than the field. */
  purpose?: 'backup' | 'safety';
  /** The verify record written beside it, if any. */
  verify?: { ok: boolean; at: string };
  /** Columns of its one table (default: id integer). */
  columns?: Array<{ name: string; type: string }>;
  /** Write started.json too (default true). */
  started?: boolean;
}

export async function writeSyntheticBackup(
  store: ObjectStore,
  env: string,
  iso: string,
  options: SyntheticBackup = {},
): Promise<string> {
  const id = idAt(iso, options.suffix);
  const data = gzipSync(Buffer.from('1\tx\n'));
  if (options.started !== false) await store.put(keys.started(env, id), JSON.stringify({ backupId: id }));
  await store.put(`${keys.backupPrefix(env, id)}data/0001.copy.gz`, data);
  const manifest = {
    format: 'mt-ops-backup/1',
    id,
    env,
    ...(options.label ? { label: options.label } : {}),
    ...(options.purpose ? { purpose: options.purpose } : {}),
    trigger: { kind: 'scheduled' },
    startedAt: iso,
    finishedAt: iso,
    database: { name: 'missing_table', serverVersion: '15.4' },
    snapshot: { time: iso, txidSnapshot: '1:1:' },
    scope: { schemas: ['public'], excludeTables: [] },
    tables: [
      {
        schema: 'public',
        name: 't',
        object: 'data/0001.copy.gz',
        format: 'copy-text-gzip',
        columns: options.columns ?? [{ name: 'id', type: 'integer' }],
        rows: 1,
        rawBytes: 4,
        compressedBytes: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
      },
    ],
    sequences: [],
    structureFingerprint: 'a'.repeat(64),
    totals: { tables: 1, rows: 1, rawBytes: 4, compressedBytes: data.length },
    tool: { name: 'mt-ops', version: '0.1.0' },
  };
  await store.put(keys.manifest(env, id), JSON.stringify(manifest));
  const { verify } = options;
  if (verify)
    await store.writeJson(
      keys.verify(env, id),
      { backupId: id, ok: verify.ok, at: verify.at, problems: verify.ok ? [] : ['sha256 mismatch'] },
      { ifGeneration: null },
    );
  return id;
}
