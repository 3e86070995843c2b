/** A backup written out as a legacy JSON file (database_backup_*.json.gz). */
import { createWriteStream, existsSync, statSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { StringDecoder } from 'node:string_decoder';
import type { ObjectStore } from '../storage/types';
import type { Manifest, TableEntry } from '../backup/manifest';
import { keys, backupIdTime } from '../backup/layout';
import { UsageError } from '../errors';
import { VERSION } from '../version';
import { DigestTap, splitCopyLine } from '../pgcopy/copy-text';

/**
 * Backup -> legacy JSON (database_backup_YYYYMMDD_HHMMSS.json.gz), the shape today's tools read.
 *
 * Choice: no database is needed. Each public table's COPY text is streamed out of its object and every value is
 * converted by its column type (recorded in the manifest) to the JSON PostgREST would have produced:
 * booleans and finite numbers as JSON, json/jsonb embedded as JSON, arrays as JSON arrays, timestamps in ISO 8601
 * (`T`, `+00:00`), everything else (text, uuid, date, enum, bytea `\x..`, interval, composite...) as its
 * PostgreSQL text form, which PostgreSQL reads back unchanged when the file is restored. One row at a time.
 */
export interface LegacyExportResult {
  path: string;
  tables: Array<{ table: string; rows: number }>;
  rows: number;
  bytes: number;
}

export function legacyFileName(manifest: Manifest): string {
  const t = backupIdTime(manifest.id).toISOString();
  return `database_backup_${t.slice(0, 4)}${t.slice(5, 7)}${t.slice(8, 10)}_${t.slice(11, 13)}${t.slice(14, 16)}${t.slice(17, 19)}.json.gz`;
}

export async function exportLegacy(options: {
  store: ObjectStore;
  manifest: Manifest;
  out: string;
}): Promise<LegacyExportResult> {
  const { store, manifest } = options;
  const path =
    existsSync(options.out) && statSync(options.out).isDirectory()
      ? join(options.out, legacyFileName(manifest))
      : options.out;
  if (existsSync(path)) throw new UsageError(`${path} exists already; not overwritten`);
  const folder = options.out.endsWith('/') ? options.out : dirname(path);
  if (!existsSync(folder)) throw new UsageError(`--out: no such directory: ${folder}`);
  if (!statSync(folder).isDirectory()) throw new UsageError(`--out: ${folder} is a file, not a directory`);
  const tables = manifest.tables.filter((t) => t.schema === 'public');
  const counts: LegacyExportResult['tables'] = [];
  const prefix = keys.backupPrefix(manifest.env, manifest.id);
  const t = backupIdTime(manifest.id).toISOString();

  async function* document(): AsyncGenerator<string> {
    const info = {
      timestamp: legacyFileName(manifest).slice('database_backup_'.length, -'.json.gz'.length),
      created_at: t.slice(0, 19),
      version: '1.0',
      source: `mt-ops ${VERSION} export of backup ${manifest.id}`,
    };
    yield `{\n  "backup_info": ${JSON.stringify(info)},\n  "tables": {`;
    for (const [i, entry] of tables.entries()) {
      yield `${i === 0 ? '' : ','}\n    ${JSON.stringify(entry.name)}: [`;
      let rows = 0;
      for await (const line of copyLines(store, `${prefix}${entry.object}`, entry)) {
        yield `${rows === 0 ? '' : ','}\n      ${rowJson(entry, line)}`;
        rows++;
      }
      yield rows === 0 ? ']' : '\n    ]';
      counts.push({ table: entry.name, rows });
    }
    yield '\n  }\n}\n';
  }

  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const file = createWriteStream(tmp, { flags: 'wx' });
  try {
    await pipeline(Readable.from(document()), createGzip({ level: 6 }), file);
    if (existsSync(path)) throw new UsageError(`${path} appeared while exporting; not overwritten`);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return { path, tables: counts, rows: counts.reduce((a, c) => a + c.rows, 0), bytes: statSync(path).size };
}

/** The object's COPY text lines, verified against the manifest's sha256 at the end. */
async function* copyLines(store: ObjectStore, key: string, entry: TableEntry): AsyncGenerator<string> {
  const digest = new DigestTap();
  const gunzip = createGunzip();
  const source = await store.get(key);
  const flowing = pipeline(source, digest, gunzip).catch((err) => gunzip.destroy(err));
  let rest = '';
  // a chunk may end inside a multi-byte character: the decoder keeps the incomplete tail for the next chunk
  const decoder = new StringDecoder('utf8');
  for await (const chunk of gunzip as AsyncIterable<Buffer>) {
    const text = rest + decoder.write(chunk);
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (const line of lines) yield line;
  }
  await flowing;
  rest += decoder.end();
  if (rest) yield rest;
  if (digest.digest() !== entry.sha256)
    throw new Error(`${entry.schema}.${entry.name}: ${entry.object} sha256 does not match the manifest`);
}

export function rowJson(entry: TableEntry, line: string): string {
  const fields = splitCopyLine(line);
  const parts = entry.columns.map((c, i) => `${JSON.stringify(c.name)}: ${valueJson(c.type, fields[i] ?? null)}`);
  return `{${parts.join(', ')}}`;
}

const NUMERIC = /^(smallint|integer|bigint|numeric|real|double precision|oid)(\(.*\))?$/;
const FINITE = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

export function valueJson(type: string, value: string | null): string {
  if (value === null) return 'null';
  if (type.endsWith('[]')) return arrayJson(type.slice(0, -2), value);
  if (type === 'boolean') return value === 't' ? 'true' : 'false';
  if (NUMERIC.test(type)) return FINITE.test(value) ? value.replace(/^(-?)0+(?=\d)/, '$1') : JSON.stringify(value);
  if (type === 'json' || type === 'jsonb') return value;
  if (type === 'timestamp with time zone') return JSON.stringify(isoTimestamp(value, true));
  if (type === 'timestamp without time zone') return JSON.stringify(isoTimestamp(value, false));
  return JSON.stringify(value);
}

function isoTimestamp(value: string, zoned: boolean): string {
  const m = /^(\d{4,}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)?(?::?(\d\d))?(?::?(\d\d))?$/.exec(value);
  if (!m) return value; // infinity, BC dates: PostgreSQL's own text
  if (!zoned) return `${m[1]}T${m[2]}`;
  return `${m[1]}T${m[2]}${m[3] ?? '+00'}:${m[4] ?? '00'}${m[5] ? `:${m[5]}` : ''}`;
}

/** PostgreSQL array text (`{a,"b c",NULL,{1,2}}`) -> JSON array, elements converted by the element type. */
function arrayJson(elementType: string, text: string): string {
  let i = text.startsWith('[') ? text.indexOf('=') + 1 : 0; // explicit bounds: [0:1]={...}
  const parse = (): string => {
    if (text[i] !== '{') throw new Error(`bad array literal: ${text.slice(0, 40)}`);
    i++;
    const items: string[] = [];
    while (i < text.length && text[i] !== '}') {
      if (text[i] === '{') items.push(parse());
      else if (text[i] === '"') {
        let s = '';
        i++;
        while (text[i] !== '"') {
          if (text[i] === '\\') i++;
          s += text[i++];
        }
        i++;
        items.push(valueJson(elementType, s));
      } else {
        let j = i;
        while (j < text.length && text[j] !== ',' && text[j] !== '}') j++;
        const raw = text.slice(i, j).trim();
        i = j;
        items.push(raw === 'NULL' ? 'null' : valueJson(elementType, raw));
      }
      if (text[i] === ',') i++;
    }
    i++;
    return `[${items.join(',')}]`;
  };
  return parse();
}
