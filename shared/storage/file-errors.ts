/** The file store's errors: a filesystem refusal said in plain words (which folder, and why), anything else as a StorageError. */
import { StorageError } from './types';

/** A write that failed: a refusal of the filesystem in plain words, anything else as a StorageError. */
export function refusal(root: string, err: unknown, key: string): StorageError {
  return refusalWords((err as NodeJS.ErrnoException).code) !== undefined
    ? fsError(root, err as NodeJS.ErrnoException, 'write')
    : asStorageError(err, key);
}

const REFUSALS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the filesystem is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/** A filesystem refusal's code (EACCES, EROFS, ...) in plain words; undefined for any other code. */
export function refusalWords(code: string | undefined): string | undefined {
  return code !== undefined && Object.hasOwn(REFUSALS, code) ? REFUSALS[code] : undefined;
}

/** A filesystem refusal in plain words: which folder, and why (read-only, full, no permission). */
export function fsError(root: string, err: NodeJS.ErrnoException, what: 'read' | 'write'): StorageError {
  const reason = refusalWords(err.code) ?? err.message;
  return new StorageError('io', `cannot ${what} the bucket folder ${root}: ${reason}`, { cause: err });
}

export function asStorageError(err: unknown, key: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new StorageError('not_found', `object ${key} not found`, { cause: err });
  return new StorageError('io', `storage error on ${key}: ${(err as Error).message}`, { cause: err });
}
