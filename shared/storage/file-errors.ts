/** The file store's errors: a filesystem refusal said in plain words (which folder, and why), anything else as a StorageError. */
import { StorageError } from './types';

/** A write that failed: a refusal of the filesystem in plain words, anything else as a StorageError. */
export function refusal(root: string, err: unknown, key: string): StorageError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return ['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT'].includes(code)
    ? fsError(root, err as NodeJS.ErrnoException, 'write')
    : asStorageError(err, key);
}

/** A filesystem refusal in plain words: which folder, and why (read-only, full, no permission). */
export function fsError(root: string, err: NodeJS.ErrnoException, what: 'read' | 'write'): StorageError {
  const why: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'the filesystem is read-only',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
  };
  const reason = why[err.code ?? ''] ?? err.message;
  return new StorageError('io', `cannot ${what} the bucket folder ${root}: ${reason}`, { cause: err });
}

export function asStorageError(err: unknown, key: string): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new StorageError('not_found', `object ${key} not found`, { cause: err });
  return new StorageError('io', `storage error on ${key}: ${(err as Error).message}`, { cause: err });
}
