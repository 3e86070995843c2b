/** The object store on Google Cloud Storage (gs:// buckets). */
import { IdempotencyStrategy, Storage, type File, type FileMetadata } from '@google-cloud/storage';
import { PassThrough, Transform, type Readable as ReadableType } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  StorageError,
  checkKey,
  type Body,
  type JsonDocument,
  type ObjectInfo,
  type ObjectStore,
  type WriteOptions,
} from './types';

export interface GcsStoreOptions {
  bucket: string;
  /** Objects live under this prefix (no leading or trailing slash); '' for the bucket's root. */
  prefix: string;
  /** A custom JSON API endpoint (the fake in tests); no credentials are used with one. */
  apiEndpoint?: string;
  /**
   * Streamed bodies are uploaded in resumable chunks of this size (a multiple of 256 KiB; default 8 MiB): the client
   * keeps one chunk in memory so a failed chunk is resent from where GCS stopped instead of failing the upload.
   */
  chunkBytes?: number;
  retry?: { maxRetries?: number; totalTimeoutSeconds?: number; maxDelaySeconds?: number };
  /**
   * A request that accepts no bytes (and does not answer) for this long fails (default 60): a streamed upload is
   * cut off, every other request times out. A stalled server never holds a backup, or its lease, forever.
   */
  progressTimeoutSeconds?: number;
}

type RequestInterceptor = File['interceptors'][number];

/**
 * The object store on Google Cloud Storage. Writes are create-only (`ifGenerationMatch: 0`), so a retried upload can
 * never overwrite a good object; JSON documents use the generation as their compare-and-swap version.
 */
export class GcsStore implements ObjectStore {
  readonly url: string;
  private readonly storage: Storage;
  private readonly bucketName: string;
  private readonly prefix: string;
  private readonly maxRetries: number;
  private readonly maxDelayMs: number;
  private readonly chunkBytes: number;
  private readonly progressTimeoutMs: number;

  constructor(options: GcsStoreOptions) {
    const endpoint =
      options.apiEndpoint ?? process.env.GCS_API_ENDPOINT ?? (process.env.STORAGE_EMULATOR_HOST || undefined);
    this.bucketName = options.bucket;
    this.maxRetries = options.retry?.maxRetries ?? 5;
    this.maxDelayMs = (options.retry?.maxDelaySeconds ?? 16) * 1000;
    this.chunkBytes = options.chunkBytes ?? 8 * 1024 * 1024;
    this.progressTimeoutMs = (options.progressTimeoutSeconds ?? 60) * 1000;
    if (this.chunkBytes <= 0 || this.chunkBytes % (256 * 1024) !== 0)
      throw new Error('chunkBytes must be a positive multiple of 256 KiB');
    this.prefix = options.prefix ? `${options.prefix.replace(/^\/+|\/+$/g, '')}/` : '';
    this.url = `gs://${options.bucket}${this.prefix ? `/${this.prefix.slice(0, -1)}` : ''}`;
    this.storage = new Storage({
      ...(endpoint ? { apiEndpoint: endpoint, projectId: 'local', useAuthWithCustomEndpoint: false } : {}),
      timeout: this.progressTimeoutMs,
      retryOptions: {
        // the client reads maxRetries 0 as "default (3)": switch retries off instead
        autoRetry: this.maxRetries > 0,
        maxRetries: options.retry?.maxRetries ?? 5,
        totalTimeout: options.retry?.totalTimeoutSeconds ?? 120,
        maxRetryDelay: options.retry?.maxDelaySeconds ?? 16,
        retryDelayMultiplier: 2,
        // Every write here is create-only or generation-conditional, and a repeated delete finds 404 (ignored),
        // so retrying them is safe; the default would never retry an unconditional delete.
        idempotencyStrategy: IdempotencyStrategy.RetryAlways,
      },
    });
  }

  /**
   * The progress watchdog of an upload or a download: each tick, `idle()` true means nothing waits on the server (the
   * clock restarts); otherwise, once progressTimeout has passed since the last `touch()`, `stalled(seconds)` is called.
   */
  private watchProgress(idle: () => boolean, stalled: (seconds: number) => void) {
    let last = Date.now();
    const timer = setInterval(
      () => {
        if (idle()) last = Date.now();
        else if (Date.now() - last >= this.progressTimeoutMs) stalled(this.progressTimeoutMs / 1000);
      },
      Math.min(1000, Math.max(50, this.progressTimeoutMs / 4)),
    );
    return { timer, touch: () => void (last = Date.now()) };
  }

  private file(key: string): File {
    checkKey(key);
    return this.storage.bucket(this.bucketName).file(`${this.prefix}${key}`);
  }

  async put(key: string, body: Body, options: WriteOptions = {}): Promise<ObjectInfo> {
    const file = this.file(key);
    const metadata = {
      contentType: options.contentType ?? 'application/octet-stream',
      ...(options.metadata ? { metadata: options.metadata } : {}),
    };
    if (typeof body === 'string' || body instanceof Uint8Array) return this.putSmall(key, Buffer.from(body), metadata);
    // The upload's requests go through agents of its own: the client offers no way to abort an upload's request (a
    // destroyed write stream leaves its PUT waiting on the socket), so giving up on an upload destroys its agents,
    // which closes its sockets (kept alive in between: the chunks of one upload share a connection). Otherwise a
    // stalled upload's socket would stay open for as long as the process lives.
    const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
    const closeSockets = () => {
      agents.http.destroy();
      agents.https.destroy();
    };
    // node-fetch (under the client's gaxios) takes a function that picks the agent for each request's URL
    const agent = (url: { protocol: string }) => (url.protocol === 'http:' ? agents.http : agents.https);
    // (the interceptor's declared types are teeny-request's: the options pass through to gaxios as they are)
    file.interceptors.push({
      request: (reqOpts) => ({ ...reqOpts, agent }) as unknown as ReturnType<RequestInterceptor['request']>,
    });
    // Streams go through a chunked resumable upload, which the client resumes by itself after a transient failure.
    const stream = file.createWriteStream({
      resumable: true,
      chunkSize: this.chunkBytes,
      preconditionOpts: { ifGenerationMatch: 0 },
      metadata,
      validation: 'crc32c',
    });
    // Stalled: for progressTimeout the upload held bytes it did not take (or all was sent and no answer came), while
    // the source was not the one keeping it waiting. Then the upload is cut off (its request aborted).
    const watch = this.watchProgress(
      () => !(meter.readableLength > 0 || stream.writableLength > 0 || meter.writableEnded),
      (seconds) => {
        stream.destroy(
          new StorageError(
            'stalled',
            `storage upload of ${key} stalled: the server took no bytes and did not answer for ${seconds} s`,
          ),
        );
        closeSockets();
      },
    );
    const meter = new Transform({
      transform(chunk, _encoding, done) {
        watch.touch();
        done(null, chunk);
      },
    });
    try {
      // A body that has ended leaves the upload waiting on the server: the caller's signal cuts that off too.
      await pipeline(body as ReadableType, meter, stream, ...(options.signal ? [{ signal: options.signal }] : []));
    } catch (err) {
      throw mapError(err, key, 'upload');
    } finally {
      clearInterval(watch.timer);
      closeSockets(); // done, failed, stalled or stopped by the caller's signal: nothing of this upload stays open
    }
    const info = await this.stat(key);
    if (!info) throw new StorageError('io', `object ${key} missing right after upload`);
    return info;
  }

  /**
   * A small body in one request, retried on transient errors. Create-only makes the retry safe; a retry that finds
   * the object already there checks it is ours (same MD5) before calling it done.
   */
  private async putSmall(key: string, data: Buffer, metadata: FileMetadata): Promise<ObjectInfo> {
    const md5 = createHash('md5').update(data).digest('base64');
    for (let attempt = 0; ; attempt++) {
      try {
        await this.file(key).save(data, {
          resumable: false,
          preconditionOpts: { ifGenerationMatch: 0 },
          metadata,
          validation: 'md5',
        });
        break;
      } catch (err) {
        const mapped = mapError(err, key, 'upload');
        if (mapped.code === 'already_exists' && attempt > 0 && (await this.stat(key))?.md5 === md5) break;
        if (!isTransient(err) || attempt >= this.maxRetries) throw mapped;
        await new Promise((r) => setTimeout(r, Math.min(this.maxDelayMs, 200 * 2 ** attempt)));
      }
    }
    const info = await this.stat(key);
    if (!info) throw new StorageError('io', `object ${key} missing right after upload`);
    return info;
  }

  async get(key: string): Promise<ReadableType> {
    const file = this.file(key);
    const [exists] = await file.exists().catch((err) => {
      throw mapError(err, key, 'read');
    });
    if (!exists) throw new StorageError('not_found', `object ${key} not found`);
    const stream = file.createReadStream({ validation: 'crc32c' });
    const out = new PassThrough();
    stream.on('error', (err) => out.destroy(mapError(err, key, 'read')));
    // Stalled: for progressTimeout no byte came while the reader was ready for more (a reader that is slow itself,
    // `out` full, is not the server's stall). Then the download is cut off with one clear error.
    const watch = this.watchProgress(
      () => out.writableNeedDrain || out.writableEnded,
      (seconds) =>
        out.destroy(
          new StorageError(
            'stalled',
            `storage read of ${key} stalled: the server sent no bytes and did not answer for ${seconds} s`,
          ),
        ),
    );
    stream.on('data', () => watch.touch());
    watch.timer.unref();
    out.on('close', () => {
      clearInterval(watch.timer);
      stream.destroy();
    });
    return stream.pipe(out);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const [metadata] = await this.file(key).getMetadata();
      return this.info(metadata);
    } catch (err) {
      const mapped = mapError(err, key, 'stat');
      if (mapped.code === 'not_found') return undefined;
      throw mapped;
    }
  }

  async *list(prefix: string, options: { pageSize?: number } = {}): AsyncIterable<ObjectInfo> {
    for await (const page of this.pages(prefix, undefined, options.pageSize)) {
      for (const metadata of page.items) yield this.info(metadata);
    }
  }

  /** One list request per page: never all names at once. */
  private async *pages(prefix: string, delimiter: string | undefined, pageSize = 1000) {
    let pageToken: string | undefined;
    do {
      let response;
      try {
        response = await this.storage.bucket(this.bucketName).getFiles({
          prefix: `${this.prefix}${prefix}`,
          ...(delimiter ? { delimiter } : {}),
          autoPaginate: false,
          maxResults: pageSize,
          ...(pageToken ? { pageToken } : {}),
        });
      } catch (err) {
        throw mapError(err, prefix, 'list');
      }
      const [files, , api] = response as unknown as [
        File[],
        unknown,
        { nextPageToken?: string; prefixes?: string[]; items?: FileMetadata[] },
      ];
      yield { items: files.map((f) => f.metadata), prefixes: api?.prefixes ?? [] };
      pageToken = api?.nextPageToken;
    } while (pageToken);
  }

  async delete(key: string, options: { ifGeneration?: string } = {}): Promise<void> {
    try {
      await this.file(key).delete(options.ifGeneration ? { ifGenerationMatch: Number(options.ifGeneration) } : {});
    } catch (err) {
      const mapped = mapError(err, key, 'delete');
      if (mapped.code === 'not_found') return;
      throw mapped;
    }
  }

  async readJson(key: string): Promise<JsonDocument | undefined> {
    const file = this.file(key);
    try {
      const [metadata] = await file.getMetadata();
      const generation = String(metadata.generation);
      const [content] = await this.storage.bucket(this.bucketName).file(file.name, { generation }).download();
      return { value: JSON.parse(content.toString('utf8')), generation };
    } catch (err) {
      const mapped = mapError(err, key, 'read');
      if (mapped.code === 'not_found') return undefined;
      throw mapped;
    }
  }

  async writeJson(
    key: string,
    value: unknown,
    options: { ifGeneration: string | null; metadata?: Record<string, string> },
  ): Promise<string> {
    const file = this.file(key);
    try {
      await file.save(JSON.stringify(value), {
        resumable: false,
        preconditionOpts: { ifGenerationMatch: options.ifGeneration === null ? 0 : Number(options.ifGeneration) },
        metadata: { contentType: 'application/json', ...(options.metadata ? { metadata: options.metadata } : {}) },
      });
    } catch (err) {
      const mapped = mapError(err, key, 'write');
      if (mapped.code === 'already_exists')
        throw new StorageError('precondition_failed', `precondition failed for ${key}`);
      throw mapped;
    }
    return String(file.metadata.generation);
  }

  private info(metadata: FileMetadata): ObjectInfo {
    const name = String(metadata.name);
    return {
      key: name.slice(this.prefix.length),
      size: Number(metadata.size ?? 0),
      md5: metadata.md5Hash ?? undefined,
      crc32c: metadata.crc32c ?? undefined,
      generation: String(metadata.generation),
      created: new Date(String(metadata.timeCreated)),
      contentType: metadata.contentType ?? undefined,
      metadata: Object.fromEntries(Object.entries(metadata.metadata ?? {}).map(([k, v]) => [k, String(v)])),
      temporaryHold: Boolean(metadata.temporaryHold),
      eventBasedHold: Boolean(metadata.eventBasedHold),
      ...(metadata.retentionExpirationTime
        ? { retentionExpires: new Date(String(metadata.retentionExpirationTime)) }
        : {}),
    };
  }
}

/**
 * The HTTP status of a client error: JSON API errors carry it in `code`, resumable-upload (gaxios) errors in
 * `status` or `response.status`.
 */
function httpStatus(err: unknown): number | undefined {
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown } } | undefined;
  for (const candidate of [e?.code, e?.status, e?.response?.status]) {
    const n = Number(candidate);
    if (Number.isInteger(n) && n >= 100 && n < 600) return n;
  }
  return undefined;
}

/** 408, 429 and 5xx answers and dropped connections are worth another try. */
function isTransient(err: unknown): boolean {
  const status = httpStatus(err);
  if (status === 408 || status === 429 || (status !== undefined && status >= 500)) return true;
  return ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE'].includes(String((err as { code?: unknown }).code));
}

function mapError(err: unknown, key: string, action: string): StorageError {
  if (err instanceof StorageError) return err;
  const status = httpStatus(err);
  const message = (err as Error)?.message ?? String(err);
  if (status === 404) return new StorageError('not_found', `object ${key} not found`, { cause: err });
  if (status === 412) {
    return action === 'upload'
      ? new StorageError('already_exists', `object ${key} already exists`, { cause: err })
      : new StorageError('precondition_failed', `precondition failed for ${key}`, { cause: err });
  }
  if (status === 403 && /hold|retention/i.test(message))
    return new StorageError('held', `object ${key} is held: ${message}`, { cause: err });
  return new StorageError('io', `storage ${action} of ${key} failed: ${message}`, { cause: err });
}
