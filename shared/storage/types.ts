/** The object store interface every store implements, and its errors. */
import type { Readable } from 'node:stream';

/** What the store knows about one object. Keys are relative to the store's root (file) or prefix (gs). */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Base64 MD5 of the content, as GCS reports it (`md5Hash`). */
  md5?: string;
  /** Base64 CRC32C, as GCS reports it; absent on the file store. */
  crc32c?: string;
  /** Opaque version token: the GCS generation; on files, inode and mtime. Changes on every write. */
  generation: string;
  created: Date;
  contentType?: string;
  metadata: Record<string, string>;
  temporaryHold: boolean;
  eventBasedHold: boolean;
  /** Set when a bucket retention policy keeps the object until then. */
  retentionExpires?: Date;
}

/** Whether a hold or a bucket retention policy keeps the object at `now`: its delete would be refused. */
export function isHeld(o: ObjectInfo, now: Date): boolean {
  return o.temporaryHold || o.eventBasedHold || (o.retentionExpires !== undefined && o.retentionExpires > now);
}

export interface WriteOptions {
  contentType?: string;
  /** Custom metadata (GCS `metadata`); never put a secret here. */
  metadata?: Record<string, string>;
  /** Cuts a streamed upload off (its request aborted, nothing created); put then rejects. */
  signal?: AbortSignal;
}

export type Body = Readable | AsyncIterable<Uint8Array> | Uint8Array | string;

export interface JsonDocument {
  value: unknown;
  generation: string;
}

/**
 * The object store used by backups and by small state documents (leases, verify results, trigger markers).
 * Implementations: file:// (atomic temp file + link/rename) and gs:// (@google-cloud/storage).
 */
export interface ObjectStore {
  /** The store's URL, safe to print. */
  readonly url: string;

  /** Streams `body` into a new object. Create-only: rejects with StorageError('already_exists') if `key` exists. */
  put(key: string, body: Body, options?: WriteOptions): Promise<ObjectInfo>;

  /** A stream of the object's bytes; rejects with StorageError('not_found'). */
  get(key: string): Promise<Readable>;

  /**
   * Reads the object through, handing `visit` each piece in order: a view of ONE buffer the store reuses, valid only
   * during the call (no allocation per piece, so a pass that only looks at the bytes, a checksum, leaves no garbage).
   * Optional: where absent, read get()'s stream. Rejects with StorageError('not_found').
   */
  scan?(key: string, visit: (piece: Buffer) => void): Promise<void>;

  stat(key: string): Promise<ObjectInfo | undefined>;

  /** Every object whose key starts with `prefix`, in key order, fetched page by page. */
  list(prefix: string, options?: { pageSize?: number }): AsyncIterable<ObjectInfo>;

  /**
   * Deletes an object. `ifGeneration` makes it conditional (StorageError('precondition_failed')).
   * Objects under a hold or retention period reject with StorageError('held'). A missing object is not an error.
   */
  delete(key: string, options?: { ifGeneration?: string }): Promise<void>;

  /** Reads a small JSON document with its generation, or undefined when absent. */
  readJson(key: string): Promise<JsonDocument | undefined>;

  /**
   * Compare-and-swap write of a small JSON document: `ifGeneration: null` means "must not exist",
   * a string means "must still be that generation". Rejects with StorageError('precondition_failed') otherwise.
   * Returns the new generation.
   */
  writeJson(
    key: string,
    value: unknown,
    options: { ifGeneration: string | null; metadata?: Record<string, string> },
  ): Promise<string>;
}

/** `stalled`: the server took or sent no bytes, and did not answer, for the progress timeout (storage.progressTimeoutSeconds). */
export type StorageErrorCode =
  'not_found' | 'already_exists' | 'precondition_failed' | 'held' | 'invalid_key' | 'io' | 'stalled';

export class StorageError extends Error {
  override readonly name = 'StorageError';
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A compare-and-swap that lost: another writer changed the document (or created it) first. */
export function isConflict(err: unknown): boolean {
  return err instanceof StorageError && (err.code === 'precondition_failed' || err.code === 'already_exists');
}

/** Rejects keys that could escape the store's root or confuse a listing. */
export function checkKey(key: string): void {
  if (
    key === '' ||
    key.startsWith('/') ||
    key.includes('\0') ||
    key.includes('\\') ||
    key.split('/').some((part) => part === '..' || part === '.' || part === '')
  ) {
    throw new StorageError('invalid_key', `invalid object key: ${JSON.stringify(key)}`);
  }
}
