/** COPY text format streams: row counts, digests, column filtering, parsing, and order-independent row-set hashes. */
import { Transform, type TransformCallback } from 'node:stream';
import { createHash, type Hash } from 'node:crypto';

/**
 * Helpers for PostgreSQL COPY text format streams (rows end with \n; fields split by \t; tabs, newlines and
 * backslashes inside values are escaped, so raw 0x09 / 0x0a bytes are always separators).
 */

/** sha256 and size of the bytes passing through (the stored, compressed object). */
/** Buffering between the stages of a COPY pipeline: big enough that per-chunk overhead stays small. */
export const STREAM_BUFFER = 1 << 20;

export class DigestTap extends Transform {
  constructor() {
    super({ highWaterMark: STREAM_BUFFER });
  }
  private readonly hash = createHash('sha256');
  bytes = 0;
  private hex?: string;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.update(chunk);
    done(null, chunk);
  }
  /** Counts bytes that do not pass through the stream (a store's scan()). */
  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }
  digest(): string {
    this.hex ??= this.hash.digest('hex');
    return this.hex;
  }
}

/** Counts rows and bytes of COPY text passing through; reports progress once per `everyBytes` (1 MiB). */
export class CopyTap extends Transform {
  rows = 0;
  bytes = 0;
  private reported = 0;
  constructor(
    private readonly onProgress?: (tap: CopyTap) => void,
    private readonly everyBytes = 1 << 20,
  ) {
    super({ highWaterMark: STREAM_BUFFER });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    let i = -1;
    while ((i = chunk.indexOf(10, i + 1)) !== -1) this.rows++;
    if (this.onProgress && this.bytes - this.reported >= this.everyBytes) {
      this.reported = this.bytes;
      this.onProgress(this);
    }
    done(null, chunk);
  }
}

/** Keeps only the fields at `keep` (indexes, ascending) of every row: the common columns under schema drift. */
export class FieldFilter extends Transform {
  private rest: Buffer = Buffer.alloc(0);
  constructor(private readonly keep: readonly number[]) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const data = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const out: Buffer[] = [];
    let start = 0;
    let nl: number;
    while ((nl = data.indexOf(10, start)) !== -1) {
      out.push(this.row(data.subarray(start, nl)));
      start = nl + 1;
    }
    this.rest = Buffer.from(data.subarray(start));
    done(null, out.length ? Buffer.concat(out) : undefined);
  }
  override _flush(done: TransformCallback): void {
    done(null, this.rest.length ? this.row(this.rest) : undefined);
  }
  private row(line: Buffer): Buffer {
    const fields: Buffer[] = [];
    let start = 0;
    for (let i = 0; i <= line.length; i++) {
      if (i === line.length || line[i] === 9) {
        fields.push(line.subarray(start, i));
        start = i + 1;
      }
    }
    const kept: Buffer[] = [];
    this.keep.forEach((k, j) => {
      if (j > 0) kept.push(TAB);
      kept.push(fields[k] ?? NULL_FIELD);
    });
    kept.push(NEWLINE);
    return Buffer.concat(kept);
  }
}
const TAB = Buffer.from('\t');
const NEWLINE = Buffer.from('\n');
const NULL_FIELD = Buffer.from('\\N');

/**
 * An order-independent hash of a table's content: the sum (mod 2^128) of the sha256 of every COPY text row.
 * Two tables hash equal exactly when they hold the same multiset of rows, byte for byte in COPY text form.
 */
export class RowSetHash {
  private sum = 0n;
  rows = 0;
  private current?: Hash;
  update(chunk: Buffer): void {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf(10, start)) !== -1) {
      (this.current ??= createHash('sha256')).update(chunk.subarray(start, nl));
      this.add();
      start = nl + 1;
    }
    if (start < chunk.length) (this.current ??= createHash('sha256')).update(chunk.subarray(start));
  }
  private add(): void {
    const d = this.current!.digest();
    this.current = undefined;
    this.sum = (this.sum + d.readBigUInt64BE(0) * 2n ** 64n + d.readBigUInt64BE(8)) & MASK_128;
    this.rows++;
  }
  digest(): string {
    if (this.current) this.add();
    return this.sum.toString(16).padStart(32, '0');
  }
}
const MASK_128 = 2n ** 128n - 1n;

/** A pass-through stream feeding a RowSetHash. */
export class RowSetHashTap extends Transform {
  readonly hash = new RowSetHash();
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
}

/** Decodes one COPY text field (without the NULL case: `\N` alone is NULL and handled by the caller). */
export function unescapeCopy(field: string): string {
  if (!field.includes('\\')) return field;
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i]!;
    if (c !== '\\' || i === field.length - 1) {
      out += c;
      continue;
    }
    const n = field[++i]!;
    switch (n) {
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x': {
        const m = /^[0-9a-fA-F]{1,2}/.exec(field.slice(i + 1));
        if (m) {
          out += String.fromCharCode(parseInt(m[0], 16));
          i += m[0].length;
        } else out += 'x';
        break;
      }
      default:
        if (n >= '0' && n <= '7') {
          const m = /^[0-7]{1,3}/.exec(field.slice(i))!;
          out += String.fromCharCode(parseInt(m[0], 8));
          i += m[0].length - 1;
        } else out += n;
    }
  }
  return out;
}

/** Splits a COPY text line into fields; null for \N. */
export function splitCopyLine(line: string): Array<string | null> {
  return line.split('\t').map((f) => (f === '\\N' ? null : unescapeCopy(f)));
}
