/** Large objects in a restore: planned, recreated with their oids and checked. */
import type pg from 'pg';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { ObjectStore } from '../storage/types';
import type { LargeObjects, Manifest } from '../backup/manifest';
import { keys } from '../backup/layout';
import {
  LO_CHUNK,
  readLargeObjectChunk,
  checkLargeObjectsManifest,
  checkLargeObjectsStored,
  walkLargeObjects,
} from '../backup/large-objects';
import { DigestTap } from '../pgcopy/copy-text';

/**
 * Large objects in a restore: every one of the backup's large objects is recreated with its oid, inside the restore
 * transaction (all or nothing). One the target holds already (same oid) is replaced once overwriting is confirmed
 * (--yes or the prompt); large objects of the target that are not in the backup are left as they are (as
 * `pg_restore --data-only` does). With --tables none are restored: they belong to no table.
 */
export interface LargeObjectsPlan {
  action: 'restore' | 'skipped (--tables)';
  count: number;
  /** Bytes of data (uncompressed). */
  bytes: number;
  /** Oids of the backup that the target holds already: replaced. */
  existing: number[];
  /** Large objects of the target that are not in the backup: left as they are. */
  others: number;
}

/** A large object up to SMALL bytes is written in a batch of up to BATCH (and BATCH_BYTES); a larger one streams. */
const SMALL = 64 * 1024;
const BATCH = 256;
const BATCH_BYTES = 1 << 20;

const preview = (oids: number[]) => `${oids.slice(0, 10).join(', ')}${oids.length > 10 ? `, … (${oids.length})` : ''}`;

/** Reads the target's large objects against the backup's; problems refuse the restore, notes go into the plan. */
export async function planLargeObjects(
  client: pg.ClientBase,
  store: ObjectStore,
  manifest: Manifest,
  options: { tables?: string[] },
): Promise<{ plan?: LargeObjectsPlan; problems: string[]; notes: string[] }> {
  const entry = manifest.largeObjects;
  if (!entry) return { problems: [], notes: [] };
  const base = { count: entry.count, bytes: entry.rawBytes, existing: [], others: 0 };
  if (options.tables && options.tables.length > 0) {
    return {
      plan: { action: 'skipped (--tables)', ...base },
      problems: [],
      notes: [
        `large objects: the backup holds ${entry.count}; none restored with --tables (they belong to no table; restore without --tables to restore them)`,
      ],
    };
  }
  const oids = entry.items.map((i) => i.oid);
  const { rows } = await client.query<{ oid: string; replaceable: boolean }>(
    `SELECT oid::int8::text AS oid, pg_has_role(lomowner, 'MEMBER') AS replaceable FROM pg_largeobject_metadata WHERE oid = ANY($1::oid[]) ORDER BY oid::int8`,
    [oids],
  );
  const { rows: counts } = await client.query<{ total: string; me: string }>(
    'SELECT count(*)::text AS total, current_user AS me FROM pg_largeobject_metadata',
  );
  const existing = rows.map((r) => Number(r.oid));
  const problems = [...checkLargeObjectsManifest(entry)];
  const locked = rows.filter((r) => !r.replaceable).map((r) => Number(r.oid));
  if (locked.length > 0) {
    problems.push(
      `large objects: the target holds ${locked.length} with the backup's oids that the restoring role may not replace (owned by a role it is not a member of): ${preview(locked)}`,
    );
  }
  problems.push(...(await checkLargeObjectsStored(store, keys.backupPrefix(manifest.env, manifest.id), entry)));
  const others = Number(counts[0]!.total) - existing.length;
  const notes = [
    `large objects: created owned by ${counts[0]!.me} (the backup records no owners or grants of large objects)`,
  ];
  if (others > 0) notes.push(`large objects: ${others} in the target are not in the backup and are left as they are`);
  return { plan: { action: 'restore', count: entry.count, bytes: entry.rawBytes, existing, others }, problems, notes };
}

/** One line for the overwrite confirmation, or undefined when no large object would be replaced. */
export function largeObjectsOverwrite(plan: LargeObjectsPlan | undefined): string | undefined {
  if (!plan || plan.action !== 'restore' || plan.existing.length === 0) return undefined;
  return `${plan.existing.length} large object(s) that would be replaced (oids ${preview(plan.existing)})`;
}

/**
 * Recreates every large object of the backup with its oid, in the caller's transaction: small ones (and empty ones)
 * with one lo_from_bytea query per batch; a larger one with lo_from_bytea for its first chunk and lo_put for the
 * next ones, at most one chunk (1 MiB) in memory. Each large
 * object's size and sha256, and the stored object's sha256, are checked; any mismatch throws (the restore rolls back).
 */
export async function loadLargeObjects(
  client: pg.ClientBase,
  store: ObjectStore,
  manifest: Manifest,
  plan: LargeObjectsPlan,
  onProgress?: (count: number, bytes: number) => void,
): Promise<{ count: number; bytes: number }> {
  const entry = manifest.largeObjects!;
  const replace = new Set(plan.existing);
  const digest = new DigestTap();
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  let source: Readable | undefined;
  let done = 0;
  let bytes = 0;
  // small large objects are written in batches (one query for up to BATCH of them); a larger one streams chunk by chunk
  let pending: Array<{ oid: number; data: Buffer }> = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    const oids = pending.map((p) => p.oid);
    const unlink = oids.filter((o) => replace.has(o));
    if (unlink.length > 0) await client.query('SELECT lo_unlink(o) FROM unnest($1::oid[]) AS t(o)', [unlink]);
    await client.query('SELECT lo_from_bytea(o, d) FROM unnest($1::oid[], $2::bytea[]) AS t(o, d)', [
      oids,
      pending.map((p) => p.data),
    ]);
    done += pending.length;
    pending = [];
    pendingBytes = 0;
    onProgress?.(done, bytes);
  };
  let current: { oid: number; head: Buffer[]; size: number; streaming: boolean } = {
    oid: 0,
    head: [],
    size: 0,
    streaming: false,
  };
  try {
    source = await store.get(`${keys.backupPrefix(manifest.env, manifest.id)}${entry.object}`);
    const reading = pipeline(source, digest, gunzip);
    reading.catch(() => {}); // surfaced through the walk below
    const walked = await walkLargeObjects(gunzip, entry, async (frame) => {
      if (frame.kind === 'start') current = { oid: frame.oid, head: [], size: 0, streaming: false };
      else if (frame.kind === 'data') {
        bytes += frame.data.length;
        if (!current.streaming && current.size + frame.data.length <= SMALL) current.head.push(frame.data);
        else if (!current.streaming) {
          await flush();
          if (replace.has(current.oid)) await client.query('SELECT lo_unlink($1::oid)', [current.oid]);
          await client.query('SELECT lo_from_bytea($1::oid, $2::bytea)', [
            current.oid,
            Buffer.concat([...current.head, frame.data]),
          ]);
          current.streaming = true;
        } else
          await client.query('SELECT lo_put($1::oid, $2::int8, $3::bytea)', [current.oid, current.size, frame.data]);
        current.size += frame.data.length;
      } else if (frame.kind === 'end') {
        if (current.streaming) {
          done++;
          onProgress?.(done, bytes);
        } else {
          pending.push({ oid: current.oid, data: Buffer.concat(current.head) });
          pendingBytes += current.size;
          if (pending.length >= BATCH || pendingBytes >= BATCH_BYTES) await flush();
        }
      }
    });
    await reading;
    if (walked.problems.length > 0) throw new Error(walked.problems.join('; '));
    await flush();
  } catch (err) {
    source?.destroy();
    gunzip.destroy();
    throw err;
  }
  if (digest.digest() !== entry.sha256)
    throw new Error(`${entry.object}: sha256 does not match the manifest (object changed since preflight)`);
  return { count: done, bytes };
}

/** Restore drill: reads every restored large object back (lo_get in chunks) and compares size and sha256. */
export async function checkRestoredLargeObjects(client: pg.ClientBase, entry: LargeObjects): Promise<string[]> {
  const problems: string[] = [];
  for (const item of entry.items) {
    const { rows: found } = await client.query('SELECT 1 FROM pg_largeobject_metadata WHERE oid = $1::oid', [item.oid]);
    if (found.length === 0) {
      problems.push(`large object ${item.oid}: missing after the restore`);
      continue;
    }
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      const data = await readLargeObjectChunk(client, item.oid, size, LO_CHUNK);
      hash.update(data);
      size += data.length;
      if (data.length < LO_CHUNK) break;
    }
    if (size !== item.size)
      problems.push(`large object ${item.oid}: ${size} bytes restored, the backup has ${item.size}`);
    else if (hash.digest('hex') !== item.sha256)
      problems.push(`large object ${item.oid}: restored bytes differ from the backup (sha256)`);
  }
  return problems;
}
