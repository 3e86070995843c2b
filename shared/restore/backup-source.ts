/** The native backup as a restore source: the manifest's tables and sequences, checksums, and a COPY loader. */
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Readable, Transform } from 'node:stream';
import pgCopy from 'pg-copy-streams';
import type { ObjectStore } from '../storage/types';
import { errorMessage } from '../errors';
import { keys } from '../backup/layout';
import { structureFingerprint } from '../backup/discover';
import type { Manifest, TableEntry } from '../backup/manifest';
import { CopyTap, DigestTap, FieldFilter, RowSetHashTap, type RowSetHash } from '../pgcopy/copy-text';
import type { PlannedTable, SourceSequence, SourceTable } from './preflight';
import type { TableLoader } from './execute';
import type { RestoreSource } from './source';
import { loadLargeObjects, planLargeObjects } from './large-objects';
import { quoteIdent as ident, qualifiedName as qualified } from '../pg/ident';

/**
 * A backup (its manifest, its objects in `store`) as a restore source. With `hashes`, an order-independent content
 * hash of each table's rows is kept as they load (the restore drill compares it with the restored table's).
 */
export function backupSource(
  store: ObjectStore,
  manifest: Manifest,
  options: { hashes?: Map<string, RowSetHash> } = {},
): RestoreSource {
  const prefix = keys.backupPrefix(manifest.env, manifest.id);
  return {
    inspect: async () => ({
      description: { kind: 'backup', id: manifest.id, env: manifest.env, takenAt: manifest.snapshot.time },
      tables: manifestTables(manifest),
      sequenceValues: 'recorded',
      sequences: manifestSequences(manifest),
      materializedViews: manifest.materializedViews,
      problems: checkManifest(manifest),
      notes: [],
    }),
    checkStored: (tables) => checkObjects(store, manifest, tables),
    copyRows: async (table): Promise<Readable> =>
      (await store.get(`${prefix}${entryFor(manifest, table).object}`)).pipe(createGunzip()),
    storedBytes: (tables) => tables.reduce((a, t) => a + entryFor(manifest, t).compressedBytes, 0),
    largeObjects: {
      plan: (client, o) => planLargeObjects(client, store, manifest, o),
      load: (client, plan) => loadLargeObjects(client, store, manifest, plan),
    },
    loader: () => ({ load: backupLoader(store, manifest, options) }),
  };
}

export function manifestTables(manifest: Manifest): SourceTable[] {
  return manifest.tables.map((t) => ({ schema: t.schema, name: t.name, columns: t.columns, rows: t.rows }));
}

export function manifestSequences(manifest: Manifest): SourceSequence[] {
  return manifest.sequences;
}

export function entryFor(manifest: Manifest, table: { schema: string; name: string }): TableEntry {
  const entry = manifest.tables.find((t) => t.schema === table.schema && t.name === table.name);
  if (!entry) throw new Error(`${table.schema}.${table.name} is not in backup ${manifest.id}`);
  return entry;
}

/** The manifest's own consistency: its fingerprint and totals match its tables. */
export function checkManifest(manifest: Manifest): string[] {
  const problems: string[] = [];
  if (structureFingerprint(manifest.tables) !== manifest.structureFingerprint) {
    problems.push(
      `manifest of ${manifest.id}: structure fingerprint does not match its tables (manifest altered or corrupted)`,
    );
  }
  const rows = manifest.tables.reduce((a, t) => a + t.rows, 0);
  if (rows !== manifest.totals.rows || manifest.tables.length !== manifest.totals.tables) {
    problems.push(`manifest of ${manifest.id}: totals do not match its tables (manifest altered or corrupted)`);
  }
  const objects = new Set<string>();
  for (const t of manifest.tables) {
    if (objects.has(t.object)) problems.push(`manifest of ${manifest.id}: object ${t.object} listed twice`);
    objects.add(t.object);
  }
  return problems;
}

/**
 * Preflight check of the objects to be restored: size and sha256 of the stored bytes, against the manifest.
 * Reads each object once (no decompression); `concurrency` objects at a time.
 */
export async function checkObjects(
  store: ObjectStore,
  manifest: Manifest,
  tables: Array<{ schema: string; name: string }>,
  concurrency = 4,
): Promise<string[]> {
  const prefix = keys.backupPrefix(manifest.env, manifest.id);
  const entries = tables.map((t) => entryFor(manifest, t));
  const problems: string[][] = entries.map(() => []);
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const i = next++;
      const entry = entries[i]!;
      const name = `${entry.schema}.${entry.name}`;
      const tap = new DigestTap();
      try {
        // Through one reused buffer where the store can (no garbage: 4 objects read at page-cache speed otherwise
        // leave tens of MB of dead Buffers behind until the next GC, the restore's peak RSS).
        if (store.scan) await store.scan(`${prefix}${entry.object}`, (piece) => tap.update(piece));
        else {
          const source = await store.get(`${prefix}${entry.object}`);
          tap.resume();
          await pipeline(source, tap);
        }
      } catch (err) {
        problems[i]!.push(`${name}: cannot read ${entry.object}: ${errorMessage(err)}`);
        continue;
      }
      if (tap.bytes !== entry.compressedBytes)
        problems[i]!.push(
          `${name}: ${entry.object} is ${tap.bytes} bytes, the manifest says ${entry.compressedBytes} (corrupted object)`,
        );
      else if (tap.digest() !== entry.sha256)
        problems[i]!.push(`${name}: ${entry.object} sha256 does not match the manifest (corrupted object)`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, entries.length) }, worker));
  return problems.flat();
}

export function copyFromSql(table: PlannedTable, how: { freeze: boolean } = { freeze: false }): string {
  return `COPY ${qualified(table.schema, table.name)} (${table.columns.map(ident).join(', ')}) FROM STDIN${how.freeze ? ' WITH (FREEZE)' : ''}`;
}

/**
 * Loads a table from its object: store -> sha256 -> gunzip -> count -> (drop drifted columns) -> COPY FROM STDIN.
 * The sha256 is checked again at the end (the object could change between preflight and load): a mismatch fails
 * the restore, which rolls back. With `hashes`, an order-independent content hash of the loaded rows is kept.
 */
export function backupLoader(
  store: ObjectStore,
  manifest: Manifest,
  options: { hashes?: Map<string, RowSetHash> } = {},
): TableLoader {
  const prefix = keys.backupPrefix(manifest.env, manifest.id);
  return async (client, table, report, how) => {
    const entry = entryFor(manifest, table);
    const digest = new DigestTap();
    const counter = new CopyTap((tap) => report(tap.rows, tap.bytes));
    const stages: Transform[] = [digest, createGunzip({ chunkSize: 256 * 1024 }), counter];
    if (table.keep) stages.push(new FieldFilter(table.keep));
    if (options.hashes) {
      const tap = new RowSetHashTap();
      options.hashes.set(table.key, tap.hash);
      stages.push(tap);
    }
    const source = await store.get(`${prefix}${entry.object}`);
    const sink = client.query(pgCopy.from(copyFromSql(table, how)));
    await pipeline([source, ...stages, sink]);
    if (digest.digest() !== entry.sha256)
      throw new Error(`${entry.object}: sha256 does not match the manifest (object changed since preflight)`);
    if (sink.rowCount !== counter.rows)
      throw new Error(`COPY reported ${sink.rowCount} rows, the object holds ${counter.rows}`);
    return { table: table.key, rows: sink.rowCount, bytes: counter.bytes };
  };
}
