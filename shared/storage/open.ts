/** Opens the object store a bucket URL names. */
import { resolve } from 'node:path';
import { UsageError } from '../errors';
import { FileStore } from './file-store';
import type { ObjectStore } from './types';

export interface OpenStoreOptions {
  /** GCS JSON API endpoint (tests point this at the fake); default from GCS_API_ENDPOINT or STORAGE_EMULATOR_HOST. */
  gcsApiEndpoint?: string;
  /** Retry bounds for the GCS client (tests keep them short). */
  gcsRetry?: { maxRetries?: number; totalTimeoutSeconds?: number; maxDelaySeconds?: number };
  /** GCS: a request that makes no progress for this long fails (default 60). */
  progressTimeoutSeconds?: number;
}

const USAGE = 'must be file:///abs/path, file://./relative or gs://bucket[/prefix]';

function invalid(url: string, reason?: string): UsageError {
  return new UsageError(`invalid bucket URL ${JSON.stringify(url)}: ${reason ? `${reason}; ` : ''}${USAGE}`);
}

/** Opens the object store a bucket URL names: file:///abs, file://./relative, gs://bucket[/prefix]. */
export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  if (url.startsWith('file://')) {
    const path = url.slice('file://'.length);
    if (path === '') throw invalid(url, 'no path');
    if (path.includes('\0')) throw invalid(url, 'the path has a NUL character');
    // Anything not absolute (file://./x, and leniently file://x) is relative to the working directory.
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      throw invalid(url, 'the path has a malformed %-escape');
    }
    return new FileStore(resolve(process.cwd(), decoded));
  }
  if (url.startsWith('gs://')) {
    const [bucket = '', ...rest] = url.slice('gs://'.length).split('/');
    if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) {
      throw invalid(url, 'a bucket name is 3-222 characters: lowercase letters, digits, dashes, underscores and dots');
    }
    const prefix = rest.join('/').replace(/\/+$/, '');
    if (prefix !== '' && prefix.split('/').some((p) => p === '' || p === '.' || p === '..'))
      throw invalid(url, 'the prefix has an empty, . or .. segment');
    if (/[?#\0]/.test(prefix)) throw invalid(url, 'the prefix has a ?, # or NUL');
    return openGcs(bucket, prefix, options);
  }
  throw invalid(url);
}

function openGcs(bucket: string, prefix: string, options: OpenStoreOptions): ObjectStore {
  // Imported lazily so file:// users never load the Google client.
  return new LazyStore(
    async () => {
      const { GcsStore } = await import('./gcs-store');
      return new GcsStore({
        bucket,
        prefix,
        apiEndpoint: options.gcsApiEndpoint,
        retry: options.gcsRetry,
        progressTimeoutSeconds: options.progressTimeoutSeconds,
      });
    },
    `gs://${bucket}${prefix ? `/${prefix}` : ''}`,
  );
}

/** Defers creating a store until first use (keeps startup cheap). */
class LazyStore implements ObjectStore {
  private inner?: Promise<ObjectStore>;
  constructor(
    private readonly make: () => Promise<ObjectStore>,
    readonly url: string,
  ) {}
  private get store(): Promise<ObjectStore> {
    this.inner ??= this.make();
    return this.inner;
  }
  put: ObjectStore['put'] = async (...a) => (await this.store).put(...a);
  get: ObjectStore['get'] = async (...a) => (await this.store).get(...a);
  stat: ObjectStore['stat'] = async (...a) => (await this.store).stat(...a);
  delete: ObjectStore['delete'] = async (...a) => (await this.store).delete(...a);
  readJson: ObjectStore['readJson'] = async (...a) => (await this.store).readJson(...a);
  writeJson: ObjectStore['writeJson'] = async (...a) => (await this.store).writeJson(...a);
  async *list(...a: Parameters<ObjectStore['list']>) {
    yield* (await this.store).list(...a);
  }
}
