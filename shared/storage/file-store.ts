/** The object store in a local folder (file:// buckets). */
import { createWriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, readFile, readdir, rmdir, stat, unlink, link, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Readable as ReadableType } from 'node:stream';
import { UsageError } from '../errors';
import { KeyLocks, keyHash } from './file-lock';
import { asStorageError, fsError, refusal } from './file-errors';
import { generationOf, publishDocument, readDocument, sparePath } from './file-json';
import { directIo, ioFor, makeFolder, poolIo, type DocIo, type IoMode } from './file-io';
import {
  StorageError,
  checkKey,
  type Body,
  type JsonDocument,
  type ObjectInfo,
  type ObjectStore,
  type WriteOptions,
} from './types';

const INTERNAL = new Set(['.tmp', '.meta', '.locks', '.spare']);
/** A `.json` object without a sidecar up to this size gets its md5 from its content in stat (GCS always has one). */
const JSON_HASHED_ON_STAT = 4 << 20;
/** The one buffer scan() reads an object through. */
const SCAN_BUFFER = 1 << 20;

interface Sidecar {
  md5: string;
  contentType?: string;
  metadata: Record<string, string>;
}

/**
 * An object store in a local folder. Writes go to a temp file in the same filesystem and are published
 * atomically: create-only objects with link() (fails if the name exists), JSON documents with rename()
 * under a short lock file, so a crash never leaves a half-written object under its final name. A JSON document
 * rewritten after a second is written into the inode its previous write replaced (file-json.ts), so the steady
 * state of the probe and lease documents creates no file.
 */
export class FileStore implements ObjectStore {
  readonly url: string;

  private rootChecked?: Promise<void>;

  private readonly locks: KeyLocks;

  /** Keys whose sidecar (of an older version) this store has removed or found absent. */
  private readonly noSidecar = new Set<string>();

  /** How its JSON documents' calls are made (file-io.ts): known once the folder is checked. */
  private io: DocIo = poolIo;

  constructor(
    readonly root: string,
    /** Tests: the calls made this way whatever the filesystem (else chosen from it). */
    private readonly ioMode?: IoMode,
  ) {
    this.url = `file://${root}`;
    this.locks = new KeyLocks(
      root,
      (err, key) => refusal(root, err, key),
      () => this.io,
    );
  }

  /** The bucket folder was not there when the store first looked (it is made by the first write). */
  private rootMissing = false;

  /**
   * Whether the bucket folder was missing when the store first looked: nothing has been written there (a read-only
   * command says so). A path through a file and the like are refused as every command refuses them (UsageError).
   */
  async folderMissing(): Promise<boolean> {
    await this.ready();
    return this.rootMissing;
  }

  /** How this store makes its JSON documents' calls: directly on a local disk, else through the thread pool. */
  async ioModeInUse(): Promise<IoMode> {
    await this.ready();
    return this.io.mode;
  }

  /**
   * The bucket folder is a folder, or not there yet (made on first write). A bucket URL naming a file, or a path
   * through one, is a configuration mistake said in plain words (a UsageError: exit 2), not a raw ENOTDIR later.
   */
  private ready(): Promise<void> {
    this.rootChecked ??= stat(this.root)
      .then(
        (st) => {
          if (!st.isDirectory()) throw new UsageError(`bucket ${this.url}: ${this.root} is a file, not a folder`);
        },
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOTDIR')
            throw new UsageError(`bucket ${this.url}: a parent of ${this.root} is a file, not a folder`);
          if (err.code === 'ELOOP')
            throw new UsageError(`bucket ${this.url}: the path ${this.root} goes round a loop of symbolic links`);
          if (err.code !== 'ENOENT') throw fsError(this.root, err, 'read');
          this.rootMissing = true;
        },
      )
      .then(async () => {
        if (this.ioMode) this.io = this.ioMode === 'direct' ? directIo : poolIo;
        else this.io = await ioFor(this.root);
      });
    return this.rootChecked.catch((err) => {
      this.rootChecked = undefined;
      throw err;
    });
  }

  private path(key: string): string {
    checkKey(key);
    if (INTERNAL.has(key.split('/')[0]!))
      throw new StorageError('invalid_key', `invalid object key: ${JSON.stringify(key)} is reserved`);
    return join(this.root, key);
  }

  private metaPath(key: string): string {
    return join(this.root, '.meta', `${key}.json`);
  }

  private async tempPath(): Promise<string> {
    await this.ready();
    const dir = join(this.root, '.tmp');
    await makeFolder(dir).catch((err: NodeJS.ErrnoException) => {
      throw fsError(this.root, err, 'write');
    });
    return this.tempName();
  }

  /** A prefix of this store's temp names, random once, so that no other store or process makes the same names. */
  private readonly tempPrefix = randomBytes(6).toString('hex');
  private tempCount = 0;

  /**
   * A fresh name in `.tmp/` (the folder is the caller's to make): the time, this store's random prefix and a count
   * (a random suffix per name cost each JSON write some 10 us of the event loop).
   */
  private tempName(): string {
    return join(this.root, '.tmp', `${Date.now()}-${this.tempPrefix}-${(this.tempCount++).toString(36)}`);
  }

  async put(key: string, body: Body, options: WriteOptions = {}): Promise<ObjectInfo> {
    const final = this.path(key);
    const temp = await this.tempPath();
    const md5 = createHash('md5');
    try {
      const source = typeof body === 'string' || body instanceof Uint8Array ? Readable.from([Buffer.from(body)]) : body;
      const hasher = new Transform({
        transform(chunk: Buffer, _enc, done) {
          md5.update(chunk);
          done(null, chunk);
        },
      });
      const out = createWriteStream(temp, { flags: 'wx' });
      await pipeline(source as ReadableType, hasher, out);
      const handle = await open(temp, 'r');
      await handle.sync().finally(() => handle.close());
      const sidecar: Sidecar = {
        md5: md5.digest('base64'),
        contentType: options.contentType,
        metadata: options.metadata ?? {},
      };
      // Publishing holds the key's lock, so a losing concurrent put cannot overwrite the winner's sidecar
      // and a delete cannot remove the sidecar of an object published right after it.
      await this.locks.with(key, () =>
        this.withFolders(key, async () => {
          if (await exists(final)) throw new StorageError('already_exists', `object ${key} already exists`);
          await writeFile(this.metaPath(key), JSON.stringify(sidecar));
          try {
            await link(temp, final); // atomic, create-only
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'EEXIST')
              throw new StorageError('already_exists', `object ${key} already exists`);
            throw err;
          }
        }),
      );
    } catch (err) {
      throw refusal(this.root, err, key);
    } finally {
      await unlink(temp).catch(() => {});
    }
    return (await this.stat(key))!;
  }

  /**
   * Removes temporary files (`.tmp/`) older than `olderThan`: what a killed writer left behind (a put publishes by link
   * and unlinks its temp file; a SIGKILL skips the unlink). Younger ones may belong to a write under way. The lock
   * holder files of processes that are gone go too (not counted: a few bytes each, bookkeeping rather than data).
   */
  async removeTemporary(olderThan: Date): Promise<{ removed: number; bytes: number }> {
    await this.locks.removeDeadHolders(olderThan);
    const dir = join(this.root, '.tmp');
    let removed = 0;
    let bytes = 0;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return { removed, bytes };
    }
    for (const name of names) {
      const path = join(dir, name);
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile() || st.mtime >= olderThan) continue;
      await unlink(path).then(
        () => {
          removed++;
          bytes += st.size;
        },
        () => {},
      );
    }
    return { removed, bytes };
  }

  async get(key: string): Promise<ReadableType> {
    await this.ready();
    const path = this.path(key);
    let handle;
    try {
      handle = await open(path, 'r');
      // A folder is not an object (on GCS it would not exist at all).
      if (!(await handle.stat()).isFile()) throw new StorageError('not_found', `object ${key} not found`);
      return handle.createReadStream();
    } catch (err) {
      await handle?.close().catch(() => {});
      throw asStorageError(err, key);
    }
  }

  async scan(key: string, visit: (piece: Buffer) => void): Promise<void> {
    await this.ready();
    const path = this.path(key);
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'r');
      if (!(await handle.stat()).isFile()) throw new StorageError('not_found', `object ${key} not found`);
      const buffer = Buffer.allocUnsafe(SCAN_BUFFER);
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        visit(buffer.subarray(0, bytesRead));
      }
    } catch (err) {
      throw asStorageError(err, key);
    } finally {
      await handle?.close().catch(() => {});
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    return this.info(key, true);
  }

  /**
   * An object's info; `hashJson`: a JSON document kept without a sidecar gets its md5 from its content (stat does;
   * a listing does not, as its callers read the documents they list anyway, and GCS leaves md5 optional too).
   */
  private async info(key: string, hashJson: boolean): Promise<ObjectInfo | undefined> {
    await this.ready();
    const path = this.path(key);
    let st;
    try {
      st = await stat(path, { bigint: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw asStorageError(err, key);
    }
    if (!st.isFile()) return undefined;
    const sidecar = await readFile(this.metaPath(key), 'utf8')
      .then((t) => JSON.parse(t) as Sidecar)
      .catch(() => undefined);
    const info: ObjectInfo = {
      key,
      size: Number(st.size),
      md5: sidecar?.md5,
      generation: `${st.ino}-${st.mtimeNs}`,
      created: new Date(Number(st.mtimeMs)),
      contentType: sidecar?.contentType,
      metadata: sidecar?.metadata ?? {},
      temporaryHold: false,
      eventBasedHold: false,
    };
    if (sidecar || !key.endsWith('.json')) return info;
    // a JSON document kept without a sidecar (writeJson); stat: its hash from its content, read with its generation
    info.contentType = 'application/json';
    if (!hashJson || st.size > JSON_HASHED_ON_STAT) return info;
    const doc = await readDocument(this.io, path, key).catch(() => undefined);
    if (!doc) return info;
    info.md5 = createHash('md5').update(doc.bytes).digest('base64');
    info.generation = doc.generation;
    info.size = doc.bytes.length;
    return info;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    await this.ready();
    for await (const key of this.walk('', prefix)) {
      const info = await this.info(key, false);
      if (info) yield info;
    }
  }

  /** Walks folders lazily in key order, descending only where keys can match the prefix. */
  private async *walk(dir: string, prefix: string): AsyncIterable<string> {
    for (const entry of await this.sortedEntries(dir)) {
      if (dir === '' && INTERNAL.has(entry.name)) continue;
      const key = `${dir}${entry.name}`;
      if (entry.isDirectory()) {
        const folder = `${key}/`;
        if (folder.startsWith(prefix) || prefix.startsWith(folder)) yield* this.walk(folder, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        yield key;
      }
    }
  }

  private async sortedEntries(dir: string) {
    try {
      const entries = await readdir(join(this.root, dir), { withFileTypes: true });
      // key order: a folder "a" sorts as "a/" among files
      return entries.sort((a, b) =>
        cmp(a.isDirectory() ? `${a.name}/` : a.name, b.isDirectory() ? `${b.name}/` : b.name),
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
        return [];
      throw err;
    }
  }

  async delete(key: string, options: { ifGeneration?: string } = {}): Promise<void> {
    const path = this.path(key);
    await this.ready();
    // Under the key's lock: the generation check and the unlink are one step for every process
    // (a stale lease holder's release cannot delete the lease another process just took over).
    await this.locks.with(key, async () => {
      if (options.ifGeneration !== undefined) {
        const current = await this.stat(key);
        if (current && current.generation !== options.ifGeneration) {
          throw new StorageError('precondition_failed', `object ${key} changed (generation ${current.generation})`);
        }
      }
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw asStorageError(err, key);
      });
      await unlink(this.metaPath(key)).catch(() => {});
      await unlink(sparePath(this.root, keyHash(key))).catch(() => {});
    });
    await this.pruneEmptyFolders(dirname(path));
    await this.pruneEmptyFolders(dirname(this.metaPath(key)));
  }

  /**
   * Runs `publish`, making the key's folders (object, sidecar, `.tmp/`) only when it finds one missing (ENOENT): the
   * common case, a key whose folders are there, costs no mkdir. A delete elsewhere may prune a folder between the
   * mkdir and the publish: then the folders are made again, once.
   */
  private async withFolders<T>(key: string, publish: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (attempt > 0) {
          await makeFolder(dirname(join(this.root, key)));
          await makeFolder(dirname(this.metaPath(key)));
          await makeFolder(join(this.root, '.tmp'));
        }
        return await publish();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' || code === 'ENOTDIR') {
          // a parent "folder" is an object here: files cannot have both (GCS could)
          throw new StorageError('io', `cannot write ${key}: a parent of it is an object in this file store`, {
            cause: err,
          });
        }
        if (code !== 'ENOENT' || attempt > 1) throw err;
      }
    }
  }

  /** Removes folders left empty by a delete, up to the root (a bucket has no empty folders). */
  private async pruneEmptyFolders(dir: string): Promise<void> {
    for (let current = dir; current.startsWith(this.root) && current !== this.root; current = dirname(current)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or gone): stop here
      }
    }
  }

  async readJson(key: string): Promise<JsonDocument | undefined> {
    await this.ready();
    const path = this.path(key);
    try {
      const doc = await readDocument(this.io, path, key);
      return doc && { value: JSON.parse(doc.bytes.toString('utf8')), generation: doc.generation };
    } catch (err) {
      throw asStorageError(err, key);
    }
  }

  async writeJson(
    key: string,
    value: unknown,
    options: { ifGeneration: string | null; metadata?: Record<string, string> },
  ): Promise<string> {
    const final = this.path(key);
    await this.ready();
    // serialised before taking the lock, which is then held for the file operations alone
    const text = JSON.stringify(value);
    // a `.json` document with no metadata needs no sidecar (stat reads its type from the name and hashes it): one
    // file fewer to write at each write, and none to create for a new key
    const sidecar = jsonWithoutSidecar(key, options.metadata)
      ? undefined
      : JSON.stringify({
          md5: createHash('md5').update(text).digest('base64'),
          contentType: 'application/json',
          metadata: options.metadata ?? {},
        } satisfies Sidecar);
    const hashed = keyHash(key); // the lock's name and the spare's
    return this.locks.with(
      key,
      () => this.withFolders(key, () => this.swapJson(key, hashed, final, text, sidecar, options)),
      hashed,
    );
  }

  /** The check-and-replace step of writeJson; runs under the key's lock (see file-json.ts for the replace). */
  private async swapJson(
    key: string,
    hashed: string,
    final: string,
    text: string,
    sidecar: string | undefined,
    options: { ifGeneration: string | null },
  ): Promise<string> {
    const current = await this.io.stat(final).then(
      (st) => (st.isFile() ? generationOf(st) : undefined),
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      },
    );
    const ok = options.ifGeneration === null ? current === undefined : current === options.ifGeneration;
    if (!ok) {
      throw new StorageError(
        'precondition_failed',
        `precondition failed for ${key}: expected ${options.ifGeneration === null ? 'no object' : `generation ${options.ifGeneration}`}, found ${current ? `generation ${current}` : 'none'}`,
      );
    }
    if (sidecar !== undefined) {
      await writeFile(this.metaPath(key), sidecar);
      this.noSidecar.delete(key);
    } else if (current !== undefined && !this.noSidecar.has(key)) {
      // a sidecar an older version wrote (its md5 would be stale): removed once per key and process
      await unlink(this.metaPath(key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      if (this.noSidecar.size >= 10_000) this.noSidecar.clear(); // bounded: forgetting costs one unlink per key
      this.noSidecar.add(key);
    }
    return publishDocument({
      io: this.io,
      final,
      current,
      spare: sparePath(this.root, hashed),
      temp: () => this.tempName(),
      text,
    });
  }
}

/** A JSON document written with no metadata under a `.json` name: kept without a sidecar. */
function jsonWithoutSidecar(key: string, metadata: Record<string, string> | undefined): boolean {
  return key.endsWith('.json') && (!metadata || Object.keys(metadata).length === 0);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
