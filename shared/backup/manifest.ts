/** The manifest of a backup and the verify record: their schemas, the one description of what a backup holds. */
import { z } from 'zod';
import { BACKUP_ID_PATTERN } from './layout';

/** A relative object name inside one backup: no traversal, no absolute paths. */
export const ObjectName = z
  .string()
  .regex(/^data\/[A-Za-z0-9._-]+$/, 'must be data/<file> with no path traversal')
  .refine((s) => !s.split('/').includes('..'), 'must not contain ..');

export const ColumnSchema = z.object({
  name: z.string().min(1),
  /** format_type() of the column, e.g. `timestamp with time zone`, `public.mood[]`. */
  type: z.string().min(1),
});

export const TableEntrySchema = z.object({
  schema: z.string().min(1),
  name: z.string().min(1),
  /** Object holding the table's data, relative to the backup's prefix. */
  object: ObjectName,
  /** COPY text format (tab-separated, \N for NULL), gzip-compressed. */
  format: z.literal('copy-text-gzip'),
  /** The columns in the data, in order (generated columns are left out). */
  columns: z.array(ColumnSchema),
  rows: z.number().int().min(0),
  rawBytes: z.number().int().min(0),
  compressedBytes: z.number().int().min(0),
  /** Hex sha256 of the stored (compressed) object. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type TableEntry = z.infer<typeof TableEntrySchema>;

export const SequenceEntrySchema = z.object({
  schema: z.string().min(1),
  name: z.string().min(1),
  /** bigint as a decimal string. */
  lastValue: z.string().regex(/^-?\d+$/),
  isCalled: z.boolean(),
  ownedBy: z.object({ schema: z.string(), table: z.string(), column: z.string() }).optional(),
});
export type SequenceEntry = z.infer<typeof SequenceEntrySchema>;

/** One large object, in the order of the frames in the large-objects stream. */
export const LargeObjectEntrySchema = z.object({
  oid: z.number().int().min(1).max(0xffffffff),
  /** Bytes of the large object's data. */
  size: z.number().int().min(0),
  /** Hex sha256 of the large object's data. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type LargeObjectEntry = z.infer<typeof LargeObjectEntrySchema>;

/**
 * Every large object of the database (pg_largeobject_metadata in the snapshot), packed into one object of frames
 * (see shared/backup/large-objects.ts). Absent when the database has none, and in manifests written before.
 */
export const LargeObjectsSchema = z.object({
  object: z
    .string()
    .regex(/^lo\/[A-Za-z0-9._-]+$/, 'must be lo/<file> with no path traversal')
    .refine((s) => !s.split('/').includes('..'), 'must not contain ..'),
  format: z.literal('lo-frames-gzip'),
  count: z.number().int().min(0),
  /** Sum of the large objects' sizes. */
  rawBytes: z.number().int().min(0),
  compressedBytes: z.number().int().min(0),
  /** Hex sha256 of the stored (compressed) object. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  items: z.array(LargeObjectEntrySchema),
});
export type LargeObjects = z.infer<typeof LargeObjectsSchema>;

export const ManifestSchema = z.object({
  format: z.literal('mt-ops-backup/1'),
  id: z.string().regex(BACKUP_ID_PATTERN, 'must be a backup id like 20261129T030000Z-7f3a'),
  env: z.string().min(1),
  label: z.string().optional(),
  /**
   * `safety`: taken by a restore of its target before overwriting it (label `pre-restore`); never `latest`, kept
   * by its own retention rule. Absent in manifests written before the field existed (see isSafetyBackup).
   */
  purpose: z.enum(['backup', 'safety']).optional(),
  trigger: z.object({ kind: z.enum(['manual', 'scheduled']), messageId: z.string().optional() }),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  database: z.object({
    /** Host and database name only: never a user's password. */
    host: z.string().optional(),
    name: z.string(),
    serverVersion: z.string(),
  }),
  /** The snapshot's point in time: the transaction's start (`now()`) and its txid snapshot. */
  snapshot: z.object({ time: z.iso.datetime({ offset: true }), txidSnapshot: z.string() }),
  scope: z.object({
    schemas: z.array(z.string()),
    excludeTables: z.array(z.string()),
    /** Tables outside the asked scope, carried because a table in scope references them (the foreign-key closure). */
    included: z.array(z.object({ table: z.string(), referencedBy: z.string(), constraint: z.string() })).optional(),
  }),
  tables: z.array(TableEntrySchema),
  sequences: z.array(SequenceEntrySchema),
  /** Optional: manifests written before large objects were backed up have none (and so do databases without any). */
  largeObjects: LargeObjectsSchema.optional(),
  /** Materialized views in scope and whether each was populated; restore refreshes the populated ones. Absent in older backups. */
  materializedViews: z
    .array(z.object({ schema: z.string().min(1), name: z.string().min(1), populated: z.boolean() }))
    .optional(),
  /** sha256 over the captured tables' schema, name and column names and types. */
  structureFingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  totals: z.object({
    tables: z.number().int().min(0),
    rows: z.number().int().min(0),
    rawBytes: z.number().int().min(0),
    compressedBytes: z.number().int().min(0),
  }),
  tool: z.object({ name: z.literal('mt-ops'), version: z.string() }),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** The label of the safety backup a restore takes of its target. */
export const SAFETY_LABEL = 'pre-restore';

/** A restore's safety backup: by its purpose, or, in manifests older than that field, by its label. */
export function isSafetyBackup(manifest: Pick<Manifest, 'purpose' | 'label'>): boolean {
  return manifest.purpose ? manifest.purpose === 'safety' : manifest.label === SAFETY_LABEL;
}

export const VerifyRecordSchema = z.object({
  backupId: z.string(),
  ok: z.boolean(),
  at: z.iso.datetime(),
  /** Mismatches found, one line each; empty when ok. */
  problems: z.array(z.string()),
  restoreDrill: z.object({ ok: z.boolean(), database: z.string(), details: z.array(z.string()) }).optional(),
});
export type VerifyRecord = z.infer<typeof VerifyRecordSchema>;
