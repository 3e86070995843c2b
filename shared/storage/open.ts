import { resolve } from 'node:path';
import { UsageError } from '../errors';
import { FileStore } from './file-store';
import type { ObjectStore } from './types';

export interface OpenStoreOptions {
  /** GCS JSON API endpoint (tests point this at the fake); default from GCS_API_ENDPOINT or STORAGE_EMULATOR_HOST. */
  gcsApiEndpoint?: string;
  /** Retry bounds for the GCS client (tests keep them short). */
  gcsRetry?: { maxRetries?: number; totalTimeoutSeconds?: number; maxDelaySeconds?: number };
}

const USAGE = 'must be file:///abs/path, file://./relative or gs://bucket[/prefix]';

/** Opens the object store a bucket URL names: file:///abs, file://./relative, gs://bucket[/prefix]. */
export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  if (url.startsWith('file://')) {
    const path = url.slice('file://'.length);
    if (path === '' || path.includes('\0')) throw new UsageError(`invalid bucket URL ${JSON.stringify(url)}: ${USAGE}`);
    return new FileStore(resolve(process.cwd(), decodeURIComponent(path)));
  }
  const gs = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (gs) {
    const prefix = (gs[2] ?? '').replace(/\/+$/, '');
    if (prefix.split('/').some((p) => p === '..' || p === '.')) throw new UsageError(`invalid bucket URL ${JSON.stringify(url)}: ${USAGE}`);
    return openGcs(gs[1]!, prefix, options);
  }
  throw new UsageError(`invalid bucket URL ${JSON.stringify(url)}: ${USAGE}`);
}

function openGcs(bucket: string, prefix: string, options: OpenStoreOptions): ObjectStore {
  // Imported lazily so file:// users never load the Google client.
  return new LazyStore(async () => {
    const { GcsStore } = await import('./gcs-store');
    return new GcsStore({ bucket, prefix, apiEndpoint: options.gcsApiEndpoint, retry: options.gcsRetry });
  }, `gs://${bucket}${prefix ? `/${prefix}` : ''}`);
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
  async *listPrefixes(...a: Parameters<ObjectStore['listPrefixes']>) {
    yield* (await this.store).listPrefixes(...a);
  }
}
