/**
 * Preflight (pure): what is restored, in which order, what is truncated, and every difference between the
 * backup and the target, all at once. Nothing here touches a database; the caller reads the target first.
 */
import { orderTables, type FkOrder } from './fk-order';
import { referencingClosure, tableKey, type TargetSchema } from './target-schema';

export interface SourceTable {
  schema: string;
  name: string;
  /** The columns in the data, in order. `type` is absent for the legacy format (PostgreSQL converts JSON values). */
  columns: Array<{ name: string; type?: string }>;
  rows?: number;
  /** Target columns missing from the data are not drift (legacy: an empty table, or auth_users). */
  lenient?: boolean;
}

export interface SourceSequence {
  schema: string;
  name: string;
  lastValue: string;
  isCalled: boolean;
  ownedBy?: { schema: string; table: string; column: string };
}

export interface PreflightInput {
  tables: SourceTable[];
  sequences: SourceSequence[];
  target: TargetSchema;
  /** Tables (schema.table) of the target that hold rows, among those that would be truncated. */
  nonEmpty: ReadonlySet<string>;
  /**
   * Whether the role may SET session_replication_role. When it may, the load runs under it (no per-row foreign
   * key triggers, keys checked afterwards in one query each); when it may not, a cycle of non-deferrable keys is refused.
   */
  canUseReplica: boolean;
  /** fireTriggers: load with per-row triggers (user triggers and foreign key checks) even where replica is allowed. */
  /** cascade: empty tables that are not restored but reference restored ones and hold rows (else refused). */
  options: { tables?: string[]; allowSchemaDrift?: boolean; yes?: boolean; fireTriggers?: boolean; cascade?: boolean };
}

export interface PlannedTable {
  key: string;
  schema: string;
  name: string;
  source: SourceTable;
  /** Columns restored, in the data's order. */
  columns: string[];
  /** Indexes (in the data) of the restored columns; undefined when every column is restored. */
  keep?: number[];
}

export interface Preflight {
  /** Refusals: the restore cannot go ahead. */
  problems: string[];
  /** The refusals that are the operator's input (--tables naming a table not in the backup): bad input, exit 2. */
  inputProblems: string[];
  /** Schema differences (refusals too, unless allowSchemaDrift). */
  drift: string[];
  notes: string[];
  /** Tables to load, in foreign-key order. */
  tables: PlannedTable[];
  /** Every table truncated, restored ones first. */
  truncate: string[];
  /** Tables outside the restore that hold rows and are emptied with it (--cascade). */
  cascade: string[];
  /** Tables outside the restore that reference it (and are truncated with it). */
  referencing: Array<{ table: string; references: string; constraint: string; rows: boolean }>;
  order: FkOrder;
  sequences: SourceSequence[];
  /**
   * Load under session_replication_role = replica: triggers (the per-row foreign key checks among them) do not
   * fire, and every foreign key of the loaded tables is checked afterwards with one set-based query, before COMMIT.
   * Several times faster, and it loads cycles of non-deferrable keys. Off when the role may not set it.
   */
  replica: boolean;
  /**
   * Some trigger fires during the load (all of them without replica; ENABLE ALWAYS or REPLICA ones with it). When none
   * does, the loaded tables' indexes are set aside and rebuilt after the load (no trigger can rely on them meanwhile).
   */
  triggersFire: boolean;
  /** Tables (of truncate) that hold rows now. */
  overwrites: string[];
}

/** `format_type` differs by search_path (`mood` vs `public.mood`); quotes too. */
export function normalizeType(type: string): string {
  return type
    .replace(/"/g, '')
    .replace(/(^|[\s(,])public\./g, '$1')
    .trim();
}

export function runPreflight(input: PreflightInput): Preflight {
  const { target, options } = input;
  const replica = input.canUseReplica && !options.fireTriggers;
  const problems: string[] = [];
  const inputProblems: string[] = [];
  const drift: string[] = [];
  const notes: string[] = [];
  const sourceByKey = new Map(input.tables.map((t) => [tableKey(t.schema, t.name), t]));

  let selected = [...sourceByKey.keys()];
  if (options.tables && options.tables.length > 0) {
    // A partitioned table holds no rows itself: naming it means all of its partitions.
    const expanded = options.tables.flatMap((t) => {
      if (sourceByKey.has(t)) return [t];
      const leaves = (target.partitions.get(t) ?? []).filter((l) => sourceByKey.has(l));
      if (leaves.length > 0)
        notes.push(`--tables: ${t} is partitioned: its partitions ${leaves.join(', ')} are restored`);
      else inputProblems.push(`--tables: ${t} is not in the backup`);
      return leaves;
    });
    selected = [...new Set(expanded)];
  }

  const planned: PlannedTable[] = [];
  let triggersFire = !replica;
  for (const key of selected) {
    const source = sourceByKey.get(key)!;
    const table = target.tables.get(key);
    if (!table) {
      problems.push(`${key}: table missing in the target database`);
      continue;
    }
    const targetColumns = new Map(table.columns.map((c) => [c.name, c]));
    const sourceNames = new Set(source.columns.map((c) => c.name));
    const keep: number[] = [];
    source.columns.forEach((column, index) => {
      const tc = targetColumns.get(column.name);
      if (!tc) drift.push(`${key}: column ${column.name} missing in the target`);
      else if (tc.generated) drift.push(`${key}: column ${column.name} is generated in the target (not restored)`);
      else {
        keep.push(index);
        if (column.type !== undefined && normalizeType(column.type) !== normalizeType(tc.type)) {
          drift.push(
            `${key}: column ${column.name} type changed: ${column.type} in the backup, ${tc.type} in the target`,
          );
        }
      }
    });
    for (const tc of table.columns) {
      if (tc.generated || sourceNames.has(tc.name)) continue;
      if (!source.lenient) drift.push(`${key}: extra column ${tc.name} in the target (not in the backup)`);
      if (source.rows !== 0 && tc.notNull && !tc.hasDefault && tc.identity === '') {
        problems.push(
          `${key}: column ${tc.name} is NOT NULL without a default and not in the backup: no row can be restored`,
        );
      }
    }
    if (!replica) {
      if (table.triggers.length > 0)
        notes.push(`${key}: user triggers fire during the load: ${table.triggers.join(', ')}`);
    } else {
      const off = table.triggers.filter((t) => !table.replicaTriggers.includes(t));
      if (off.length > 0)
        notes.push(
          `${key}: user triggers do not fire during the load (as pg_restore --disable-triggers): ${off.join(', ')}`,
        );
      if (table.replicaTriggers.length > 0) triggersFire = true;
      if (table.replicaTriggers.length > 0)
        notes.push(
          `${key}: triggers enabled ALWAYS or REPLICA fire during the load: ${table.replicaTriggers.join(', ')}`,
        );
    }
    planned.push({
      key,
      schema: source.schema,
      name: source.name,
      source,
      columns: keep.map((i) => source.columns[i]!.name),
      ...(keep.length === source.columns.length ? {} : { keep }),
    });
  }

  // Tables outside the restore whose foreign keys reach into it (transitively) must be truncated with it.
  const restoring = new Set(planned.map((t) => t.key));
  const referencing: Preflight['referencing'] = referencingClosure(target, restoring).via.map((fk) => ({
    table: fk.from,
    references: fk.to,
    constraint: fk.name,
    rows: input.nonEmpty.has(fk.from),
  }));
  // Emptying a table that is not restored loses its rows: only with --cascade (--yes only confirms overwriting restored tables).
  const cascade = referencing.filter((r) => r.rows).map((r) => r.table);
  for (const r of referencing) {
    if (!r.rows) notes.push(`${r.table} (empty) references ${r.references} (${r.constraint}): truncated too`);
    else if (options.cascade)
      notes.push(`${r.table} references ${r.references} (${r.constraint}): EMPTIED too (--cascade), its rows are lost`);
  }
  if (cascade.length > 0 && !options.cascade) {
    const which = referencing.filter((r) => r.rows).map((r) => `${r.table} (${r.constraint} -> ${r.references})`);
    problems.push(
      `not restored, but would be emptied too (they hold rows and reference restored tables): ${which.join(', ')}; include them in --tables, or pass --cascade to empty them as well`,
    );
  }

  const order = orderTables([...restoring], target.foreignKeys);
  if (replica)
    notes.push(
      'loaded with session_replication_role = replica: foreign keys are checked after the load, one query per key, before COMMIT',
    );
  if (order.cycles.length > 0) {
    if (replica) {
      for (const c of order.cycles)
        notes.push(
          `cycle of non-deferrable foreign keys ${c.text}: loaded with session_replication_role = replica, then checked`,
        );
    } else {
      for (const c of order.cycles) {
        problems.push(
          input.canUseReplica
            ? `cycle of non-deferrable foreign keys ${c.text}: cannot be loaded in any order with triggers firing; restore without --fire-triggers`
            : `cycle of non-deferrable foreign keys ${c.text}: cannot be loaded in any order, and this role may not set session_replication_role; make one of them DEFERRABLE`,
        );
      }
    }
  }
  const byKey = new Map(planned.map((t) => [t.key, t]));
  const tables = order.order.map((k) => byKey.get(k)!);
  const truncate = [...tables.map((t) => t.key), ...referencing.map((r) => r.table)];

  // Sequences: all of them for a whole restore; only those owned by restored tables for a subset.
  // A sequence owned by a partitioned table is restored when all of its partitions in the backup are.
  const subset = Boolean(options.tables && options.tables.length > 0);
  const sequences: SourceSequence[] = [];
  for (const s of input.sequences) {
    const key = tableKey(s.schema, s.name);
    const owner = s.ownedBy ? tableKey(s.ownedBy.schema, s.ownedBy.table) : undefined;
    const leaves = owner ? (target.partitions.get(owner) ?? []).filter((l) => sourceByKey.has(l)) : [];
    if (subset && owner && leaves.length > 0 && !leaves.every((l) => restoring.has(l))) {
      if (leaves.some((l) => restoring.has(l)))
        notes.push(
          `sequence ${key} left as it is (its table ${owner} is partly restored: restore all of it to set it)`,
        );
      else notes.push(`sequence ${key} left as it is (not owned by a restored table)`);
      continue;
    }
    if (subset && !(owner && (restoring.has(owner) || leaves.length > 0))) {
      notes.push(`sequence ${key} left as it is (not owned by a restored table)`);
      continue;
    }
    if (!target.sequences.has(key)) {
      drift.push(`sequence ${key} missing in the target`);
      continue;
    }
    sequences.push(s);
  }

  if (drift.length > 0 && !options.allowSchemaDrift) {
    problems.push(...drift.map((d) => `schema drift: ${d}`));
    problems.push('schema drift: pass --allow-schema-drift to restore the common columns');
  }

  const overwrites = truncate.filter((t) => input.nonEmpty.has(t));
  problems.unshift(...inputProblems);
  return {
    problems,
    inputProblems,
    drift,
    notes,
    tables,
    truncate,
    referencing,
    cascade,
    order,
    sequences,
    replica,
    triggersFire,
    overwrites,
  };
}
