/** Checking a backup against its manifest (sha256, size, rows) and recording the result (verify.json). */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { CopyTap, DigestTap } from '../pgcopy/copy-text';
import { StorageError, type ObjectStore } from '../storage/types';
import { errorMessage } from '../errors';
import { keys } from './layout';
import { checkLargeObjectsObject } from './large-objects';
import { VerifyRecordSchema, type Manifest, type TableEntry, type VerifyRecord } from './manifest';

export interface TableCheck {
  table: string;
  ok: boolean;
  problems: string[];
}

/** Re-reads one table object: sha256 and size of the stored bytes, rows and raw size of the data inside. */
export async function checkTableObject(
  store: ObjectStore,
  prefix: string,
  entry: TableEntry,
  signal?: AbortSignal,
): Promise<TableCheck> {
  const table = `${entry.schema}.${entry.name}`;
  const problems: string[] = [];
  const stored = new DigestTap();
  const data = new CopyTap();
  let readable = true;
  try {
    const source = await store.get(`${prefix}${entry.object}`);
    await pipeline(
      source,
      stored,
      createGunzip(),
      data,
      new Writable({ write: (_chunk, _enc, done) => done() }),
      ...(signal ? [{ signal }] : []),
    );
  } catch (err) {
    // stopped (a server shutting down, a time limit): the read was cut off, which says nothing about the backup
    if (signal?.aborted) throw signal.reason;
    // the storage stalled: that says nothing about the backup, so the verify fails as a run and records nothing
    if (err instanceof StorageError && err.code === 'stalled') throw err;
    // missing: one problem (its size and sha256 of nothing would only repeat it)
    if (err instanceof StorageError && err.code === 'not_found')
      return { table, ok: false, problems: [`${table}: ${entry.object} is missing from the backup`] };
    // a truncated or corrupted gzip stream: still report what the bytes say
    readable = false;
    problems.push(`${table}: cannot read ${entry.object}: ${errorMessage(err)}`);
  }
  const sha256 = stored.digest();
  const [size, raw, rows] = [stored.bytes, data.bytes, data.rows];
  if (size !== entry.compressedBytes)
    problems.push(`${table}: size ${size} bytes, manifest says ${entry.compressedBytes}`);
  if (sha256 !== entry.sha256)
    problems.push(`${table}: sha256 ${sha256.slice(0, 16)}…, manifest says ${entry.sha256.slice(0, 16)}…`);
  if (readable) {
    if (rows !== entry.rows) problems.push(`${table}: ${rows} rows, manifest says ${entry.rows}`);
    if (raw !== entry.rawBytes) problems.push(`${table}: ${raw} raw bytes, manifest says ${entry.rawBytes}`);
  }
  return { table, ok: problems.length === 0, problems };
}

/**
 * Verifies a complete backup: every object re-read and checked against the manifest (sha256, size, rows).
 * Records the result beside the backup (verify.json) unless `record` is false.
 */
export async function verifyBackup(
  store: ObjectStore,
  manifest: Manifest,
  options: {
    record?: boolean;
    now?: () => Date;
    onTable?: (check: TableCheck, index: number, total: number) => void;
    /** Stops the verify (a time limit, a server shutting down), mid-read too: rejects with its reason, records nothing. */
    signal?: AbortSignal;
  } = {},
): Promise<VerifyRecord> {
  const prefix = keys.backupPrefix(manifest.env, manifest.id);
  const problems: string[] = [];
  let index = 0;
  const total = manifest.tables.length + (manifest.largeObjects ? 1 : 0);
  for (const entry of manifest.tables) {
    options.signal?.throwIfAborted();
    const check = await checkTableObject(store, prefix, entry, options.signal);
    problems.push(...check.problems);
    options.onTable?.(check, ++index, total);
  }
  options.signal?.throwIfAborted();
  if (manifest.largeObjects) {
    const found = await checkLargeObjectsObject(store, prefix, manifest.largeObjects, options.signal);
    problems.push(...found);
    options.onTable?.(
      { table: `${manifest.largeObjects.count} large objects`, ok: found.length === 0, problems: found },
      ++index,
      total,
    );
  }
  const record: VerifyRecord = {
    backupId: manifest.id,
    ok: problems.length === 0,
    at: (options.now?.() ?? new Date()).toISOString(),
    problems,
  };
  if (options.record !== false) await recordVerify(store, manifest.env, record);
  return record;
}

/** Writes verify.json beside the backup, replacing the previous result (compare-and-swap). */
export async function recordVerify(store: ObjectStore, env: string, record: VerifyRecord): Promise<void> {
  const key = keys.verify(env, record.backupId);
  const value = VerifyRecordSchema.parse(record);
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await store.readJson(key);
    try {
      await store.writeJson(key, value, { ifGeneration: current?.generation ?? null });
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'precondition_failed') throw err;
    }
  }
  throw new Error(`could not record the verify result at ${key}: concurrent writers`);
}
