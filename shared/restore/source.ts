/**
 * What a restore reads from, whatever the format: the native backup (backup-source.ts) and the legacy JSON file
 * (legacy-source.ts) both implement RestoreSource, so restore.ts knows neither format. A source is asked, in this
 * order: what it holds (inspect, against the target's schema), whether its stored data is intact (checkStored), its
 * rows as COPY text for the preflight key checks (copyRows, when the format has them), and finally a loader for the
 * restore transaction.
 */
import type { Readable } from 'node:stream';
import type pg from 'pg';
import type { PlannedTable, SourceSequence, SourceTable } from './preflight';
import type { TableLoader } from './execute';
import type { TargetSchema } from './target-schema';
import type { LargeObjectsPlan } from './large-objects';

/** The source as the plan names it. */
export type SourceDescription =
  { kind: 'backup'; id: string; env: string; takenAt: string } | { kind: 'legacy'; path: string; createdAt?: string };

/** A materialized view the source recorded, and whether it was populated there. */
export interface RecordedView {
  schema: string;
  name: string;
  populated: boolean;
}

/** What a source holds, read once per plan. */
export interface SourceInspection {
  description: SourceDescription;
  /** Tables and their columns, in the data's column order. */
  tables: SourceTable[];
  /** 'recorded': `sequences` hold the source's values. 'max-id': the format records none; each is set from its column's max. */
  sequenceValues: 'recorded' | 'max-id';
  sequences: SourceSequence[];
  /** Materialized views the source recorded; undefined when the format records none. */
  materializedViews?: RecordedView[];
  /** The source is unusable as it stands (refusals), and what the plan should say about it. */
  problems: string[];
  notes: string[];
}

/** How the rows get into the target, inside the restore transaction. */
export interface SourceLoad {
  /** Runs first inside the transaction, before anything is truncated (the legacy file is staged here). */
  prepare?: (client: pg.ClientBase, tables: PlannedTable[]) => Promise<void>;
  /** Loads one table (in foreign-key order). */
  load: TableLoader;
}

export interface SourceLargeObjects {
  /** Reads the target's large objects against the source's; problems refuse the restore. No plan: the source holds none. */
  plan(
    client: pg.ClientBase,
    options: { tables?: string[] },
  ): Promise<{ plan?: LargeObjectsPlan; problems: string[]; notes: string[] }>;
  /** Recreates them inside the restore transaction. */
  load(client: pg.ClientBase, plan: LargeObjectsPlan): Promise<{ count: number; bytes: number }>;
}

export interface RestoreSource {
  inspect(target: TargetSchema): Promise<SourceInspection>;
  /** Checksums of the stored data of the tables to restore (preflight); one problem per bad table. */
  checkStored?(tables: PlannedTable[]): Promise<string[]>;
  /** A table's rows as COPY text (decompressed), read before any change (keys into tables that are not restored). */
  copyRows?(table: PlannedTable): Promise<Readable>;
  /** Bytes read to restore these tables, as stored (0 when unknown). */
  storedBytes(tables: PlannedTable[]): number;
  largeObjects?: SourceLargeObjects;
  loader(): SourceLoad;
}
