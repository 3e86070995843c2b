/** Reading legacy JSON backups as a stream: checked, then loaded through staging tables. */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { StorageError } from '../storage/types';
import { createGunzip } from 'node:zlib';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import type pg from 'pg';
import pgCopy from 'pg-copy-streams';
import { parser } from 'stream-json';
import { UsageError, errorMessage } from '../errors';
import type { PlannedTable, SourceTable } from './preflight';
import type { TableLoader } from './execute';
import { quoteIdent as ident, qualifiedName as qualified } from '../pg/ident';

/**
 * The legacy JSON format (database_backup_*.json[.gz]): `{"backup_info": {...}, "tables": {"name": [row, ...]}}`.
 *
 * Never loaded whole: the file is stream-parsed token by token, twice.
 *  1. scan (preflight): validates the whole document and learns each table's rows and keys, before any change.
 *  2. stage (inside the restore transaction): each row's JSON text goes by COPY into a per-table temporary table
 *     (ON COMMIT DROP). The file's table order is not foreign-key order, so rows are staged first and then inserted
 *     in the target's foreign-key order with json_populate_record (PostgreSQL converts each JSON value to the
 *     column's type). Every foreign key is checked (per row, or after the load under session_replication_role =
 *     replica, like a backup's restore), and no table is held in memory.
 */
export const AUTH_USERS = 'auth_users';
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export interface LegacyTable {
  name: string;
  rows: number;
  /** Top-level keys of the rows, in first-seen order. */
  keys: string[];
}

export interface LegacyScan {
  info: Record<string, unknown>;
  tables: LegacyTable[];
}

interface Handlers {
  onTable?(name: string): void | Promise<void>;
  onRow?(name: string, json: string, keys: string[]): void | Promise<void>;
  onTableEnd?(name: string): void | Promise<void>;
  onInfo?(info: Record<string, unknown>): void;
}

/** A legacy file: a local path, or an object in the bucket (named by its key, read as a stream). */
export type LegacyInput = string | { name: string; open: () => Promise<Readable> };

const nameOf = (input: LegacyInput) => (typeof input === 'string' ? input : input.name);

/** The file's bytes, gunzipped when it starts with the gzip magic (whatever its name says). */
export async function openLegacyFile(input: LegacyInput): Promise<Readable> {
  if (typeof input !== 'string') {
    let head = Buffer.alloc(0);
    for await (const chunk of await input.open()) {
      head = Buffer.from(chunk as Buffer).subarray(0, 2);
      break; // ends the read: only the first bytes are needed
    }
    return gunzipIfGzip(await input.open(), head);
  }
  const path = input;
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new UsageError(
      `cannot open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(err)}`,
    );
  }
  const head = Buffer.alloc(2);
  try {
    await handle.read(head, 0, 2, 0);
  } finally {
    await handle.close();
  }
  return gunzipIfGzip(createReadStream(path), head);
}

function gunzipIfGzip(raw: Readable, head: Buffer): Readable {
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    return raw.pipe(gunzip);
  }
  return raw;
}

/** JSON text of one value, rebuilt from tokens (numbers kept as written, so no precision is lost). */
class JsonText {
  parts: string[] = [];
  private first: boolean[] = [];
  private afterKey = false;
  keys: string[] = [];
  get depth(): number {
    return this.first.length;
  }
  private sep(): void {
    if (this.afterKey) {
      this.afterKey = false;
      return;
    }
    const n = this.first.length;
    if (n > 0) {
      if (!this.first[n - 1]) this.parts.push(',');
      this.first[n - 1] = false;
    }
  }
  token(t: { name: string; value?: unknown }): void {
    switch (t.name) {
      case 'startObject':
      case 'startArray':
        this.sep();
        this.parts.push(t.name === 'startObject' ? '{' : '[');
        this.first.push(true);
        break;
      case 'endObject':
      case 'endArray':
        this.first.pop();
        this.parts.push(t.name === 'endObject' ? '}' : ']');
        break;
      case 'keyValue':
        if (this.first.length === 1) this.keys.push(String(t.value));
        this.sep();
        this.parts.push(JSON.stringify(t.value), ':');
        this.afterKey = true;
        break;
      case 'stringValue':
        this.sep();
        this.parts.push(JSON.stringify(t.value));
        break;
      case 'numberValue':
        this.sep();
        this.parts.push(String(t.value));
        break;
      case 'nullValue':
      case 'trueValue':
      case 'falseValue':
        this.sep();
        this.parts.push(t.name === 'nullValue' ? 'null' : t.name === 'trueValue' ? 'true' : 'false');
        break;
    }
  }
}

/** Walks a legacy file's tokens; calls the handlers for each table and row. Bad shape -> UsageError. */
async function walk(source: LegacyInput, handlers: Handlers): Promise<void> {
  const path = nameOf(source);
  const bad = (why: string) => new UsageError(`${path} is not a legacy backup file: ${why}`);
  const tokens = parser.asStream({ streamValues: false });
  const input = await openLegacyFile(source);
  input.on('error', (e) => tokens.destroy(e));
  input.pipe(tokens);
  // Positions: 0 outside; 1 in the root object; 2 in "tables"; 3 in a table's array; value capture below that.
  let level = 0;
  let key: string | undefined;
  let table: string | undefined;
  let capture: { text: JsonText; kind: 'row' | 'info' | 'skip' } | undefined;
  let sawTables = false;
  let sawRoot = false;
  try {
    for await (const t of tokens as AsyncIterable<{ name: string; value?: unknown }>) {
      if (capture) {
        capture.text.token(t);
        if (capture.text.depth === 0 && t.name !== 'keyValue') {
          const done = capture;
          capture = undefined;
          if (done.kind === 'row') await handlers.onRow?.(table!, done.text.parts.join(''), done.text.keys);
          else if (done.kind === 'info')
            handlers.onInfo?.(JSON.parse(done.text.parts.join('')) as Record<string, unknown>);
        }
        continue;
      }
      const isValue = t.name !== 'keyValue' && t.name !== 'endObject' && t.name !== 'endArray';
      if (level === 0) {
        if (t.name !== 'startObject') throw bad('the document is not a JSON object');
        sawRoot = true;
        level = 1;
      } else if (level === 1) {
        if (t.name === 'keyValue') key = String(t.value);
        else if (t.name === 'endObject') level = 0;
        else if (key === 'tables') {
          if (t.name !== 'startObject') throw bad('"tables" is not an object');
          sawTables = true;
          level = 2;
        } else if (isValue) {
          const kind = key === 'backup_info' && t.name === 'startObject' ? 'info' : 'skip';
          if (t.name === 'startObject' || t.name === 'startArray') {
            capture = { text: new JsonText(), kind };
            capture.text.token(t);
          }
        }
      } else if (level === 2) {
        if (t.name === 'keyValue') {
          table = String(t.value);
          if (!TABLE_NAME.test(table)) throw bad(`table name ${JSON.stringify(table)} is not a plain table name`);
        } else if (t.name === 'endObject') level = 1;
        else if (t.name === 'startArray') {
          await handlers.onTable?.(table!);
          level = 3;
        } else throw bad(`tables.${table} is not an array of rows`);
      } else if (level === 3) {
        if (t.name === 'endArray') {
          await handlers.onTableEnd?.(table!);
          level = 2;
        } else if (t.name === 'startObject') {
          capture = { text: new JsonText(), kind: 'row' };
          capture.text.token(t);
        } else throw bad(`tables.${table} holds a value that is not a row object`);
      }
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof StorageError) throw err; // a failing bucket is no bad file
    throw bad(errorMessage(err));
  } finally {
    input.destroy();
  }
  if (!sawRoot || level !== 0) throw bad('the document ends early (truncated file?)');
  if (!sawTables) throw bad('no "tables" object');
}

/** Pass 1: the whole file read and validated; tables, row counts and keys. Nothing is kept but those. */
export async function scanLegacy(source: LegacyInput): Promise<LegacyScan> {
  const path = nameOf(source);
  const tables = new Map<string, { rows: number; keys: Set<string> }>();
  let info: Record<string, unknown> = {};
  await walk(source, {
    onInfo: (i) => (info = i),
    onTable: (name) => {
      if (tables.has(name)) throw new UsageError(`${path}: table ${name} appears twice`);
      tables.set(name, { rows: 0, keys: new Set() });
    },
    onRow: (name, _json, keys) => {
      const t = tables.get(name)!;
      t.rows++;
      for (const k of keys) t.keys.add(k);
    },
  });
  return { info, tables: [...tables].map(([name, t]) => ({ name, rows: t.rows, keys: [...t.keys] })) };
}

/** Where a legacy table goes: public.<name>, or auth.users for the auth_users pseudo-table. */
export function legacyTarget(name: string): { schema: string; name: string } {
  return name === AUTH_USERS ? { schema: 'auth', name: 'users' } : { schema: 'public', name };
}

/** Preflight view of the legacy tables. Empty tables have no known columns: they are only truncated. */
export function legacySourceTables(
  scan: LegacyScan,
  options: { includeAuth: boolean; authColumns?: string[] },
): SourceTable[] {
  const out: SourceTable[] = [];
  for (const t of scan.tables) {
    if (t.name === AUTH_USERS) {
      if (!options.includeAuth) continue;
      const existing = new Set(options.authColumns ?? []);
      out.push({
        ...legacyTarget(t.name),
        columns: t.keys.filter((k) => existing.has(k)).map((name) => ({ name })),
        rows: t.rows,
        lenient: true,
      });
      continue;
    }
    out.push({
      ...legacyTarget(t.name),
      columns: t.keys.map((name) => ({ name })),
      rows: t.rows,
      ...(t.rows === 0 ? { lenient: true } : {}),
    });
  }
  return out;
}

const stageName = (index: number) => `mt_restore_stage_${index}`;

/**
 * Pass 2, inside the restore transaction: every row of the tables being restored is copied as JSON text into a
 * temporary table (dropped at the end of the transaction). Returns the staging table of each target table.
 */
export async function stageLegacy(
  client: pg.ClientBase,
  path: LegacyInput,
  restoring: Set<string>,
): Promise<Map<string, string>> {
  const staged = new Map<string, string>();
  let copy: Writable | undefined;
  let finished: Promise<unknown> | undefined;
  await walk(path, {
    onTable: async (name) => {
      const target = legacyTarget(name);
      const key = `${target.schema}.${target.name}`;
      if (!restoring.has(key)) return;
      const stage = stageName(staged.size);
      staged.set(key, stage);
      await client.query(`CREATE TEMPORARY TABLE ${stage} (doc json NOT NULL) ON COMMIT DROP`);
      copy = client.query(pgCopy.from(`COPY pg_temp.${stage} (doc) FROM STDIN`));
      finished = once(copy, 'finish');
    },
    onRow: async (_name, json) => {
      if (!copy) return;
      // JSON text has no raw tab or newline; only backslashes need escaping for COPY text format.
      if (!copy.write(`${json.replace(/\\/g, '\\\\')}\n`))
        await Promise.race([once(copy, 'drain'), once(copy, 'error').then(([e]) => Promise.reject(e))]);
    },
    onTableEnd: async () => {
      if (!copy) return;
      copy.end();
      await Promise.race([finished, once(copy, 'error').then(([e]) => Promise.reject(e))]);
      copy = undefined;
    },
  });
  return staged;
}

/** Loads a table from its staging table, in foreign-key order: PostgreSQL converts the JSON values. */
export function legacyLoader(staged: Map<string, string>): TableLoader {
  return async (client, table: PlannedTable) => {
    const stage = staged.get(table.key);
    if (!stage || table.columns.length === 0) return { table: table.key, rows: 0, bytes: 0 };
    const cols = table.columns.map(ident).join(', ');
    const result = await client.query(
      `INSERT INTO ${qualified(table.schema, table.name)} (${cols}) OVERRIDING SYSTEM VALUE
       SELECT ${table.columns.map((c) => `r.${ident(c)}`).join(', ')}
       FROM pg_temp.${stage} s CROSS JOIN LATERAL json_populate_record(null::${qualified(table.schema, table.name)}, s.doc) r`,
    );
    const { rows } = await client.query<{ bytes: string }>(
      `SELECT coalesce(sum(octet_length(doc::text)), 0)::text AS bytes FROM pg_temp.${stage}`,
    );
    return { table: table.key, rows: result.rowCount ?? 0, bytes: Number(rows[0]!.bytes) };
  };
}
