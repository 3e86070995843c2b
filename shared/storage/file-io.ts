/**
 * The filesystem calls a JSON document's read and write make (file-json.ts) and its key's lock (file-lock.ts), made
 * one of two ways, chosen once per store from the filesystem its folder is on:
 *
 * - `direct` on a local disk filesystem (ext4, xfs, btrfs, tmpfs...): each call made at once on the calling thread,
 *   except the creation of a file (still the pool's). There a call takes microseconds (a stat 5 us, a link 8 us, a
 *   rename 10-30 us on this project's CI disk), while
 *   handing it to libuv's thread pool and back costs the event loop tens of microseconds each, and more on 2 cores
 *   where the woken pool thread takes the loop's core. A probe run makes some fifteen of these calls per probe: made
 *   directly, its event loop spends a quarter less time per run (bench/probe.ts), time it otherwise took from
 *   timing the other probes' answers.
 * - `pool` (the thread pool) on anything else: a network or FUSE filesystem (NFS, SMB, a mounted bucket), where one
 *   call can take milliseconds or stall for as long as the server does, and must not stop the event loop (a run's
 *   deadline, the other probes' timings, the status page); and a filesystem this list does not know.
 *
 * Either way the calls and their order are the same, so the cross-process rules (the lock, the spare, the
 * generations) do not depend on the choice.
 */
import {
  close,
  closeSync,
  fstat,
  fstatSync,
  ftruncate,
  ftruncateSync,
  link,
  linkSync,
  open,
  openSync,
  read,
  readSync,
  rename,
  renameSync,
  stat,
  statSync,
  statfs,
  unlink,
  unlinkSync,
  write,
  writeSync,
  type BigIntStats,
} from 'node:fs';
import { mkdir as mkdirAsync, stat as statAsync } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StorageError } from './types';

export type IoMode = 'direct' | 'pool';

export interface DocIo {
  readonly mode: IoMode;
  /** An existing file, to read (`r`) or to fill in place (`r+`). */
  open(path: string, flags: 'r' | 'r+'): Promise<number>;
  /** A new file (fails when the name exists), to write. */
  create(path: string): Promise<number>;
  fstat(fd: number): Promise<BigIntStats>;
  close(fd: number): Promise<void>;
  stat(path: string): Promise<BigIntStats>;
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  write(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  ftruncate(fd: number, length: number): Promise<void>;
  link(existing: string, name: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

type Callback<T> = (err: NodeJS.ErrnoException | null, value: T) => void;
const call = <T>(fn: (done: Callback<T>) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
const done = (fn: (cb: (err: NodeJS.ErrnoException | null) => void) => void): Promise<void> =>
  new Promise<void>((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));

/** The callback API on plain descriptors: per call a fraction of what a FileHandle promise costs the event loop. */
export const poolIo: DocIo = {
  mode: 'pool',
  open: (path, flags) => call<number>((cb) => open(path, flags, cb)),
  create: (path) => call<number>((cb) => open(path, 'wx', cb)),
  fstat: (fd) => call<BigIntStats>((cb) => fstat(fd, { bigint: true }, cb)),
  close: (fd) => done((cb) => close(fd, cb)),
  stat: (path) => call<BigIntStats>((cb) => stat(path, { bigint: true }, cb)),
  read: (fd, buffer, offset, length, position) => call<number>((cb) => read(fd, buffer, offset, length, position, cb)),
  write: (fd, buffer, offset, length, position) =>
    call<number>((cb) => write(fd, buffer, offset, length, position, cb)),
  ftruncate: (fd, length) => done((cb) => ftruncate(fd, length, cb)),
  link: (existing, name) => done((cb) => link(existing, name, cb)),
  rename: (from, to) => done((cb) => rename(from, to, cb)),
  unlink: (path) => done((cb) => unlink(path, cb)),
};

/** The call made now; its outcome as a settled promise (a refusal rejects, as the pool's would). */
function now<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

export const directIo: DocIo = {
  mode: 'direct',
  open: (path, flags) => now(() => openSync(path, flags)),
  // creating a file is the one dear call even on a local disk (0.15 to 0.9 ms on this project's CI disk, and
  // creations in one folder do not run in parallel): the thread pool makes it while the loop goes on
  create: poolIo.create,
  fstat: (fd) => now(() => fstatSync(fd, { bigint: true })),
  close: (fd) => now(() => closeSync(fd)),
  stat: (path) => now(() => statSync(path, { bigint: true })),
  read: (fd, buffer, offset, length, position) => now(() => readSync(fd, buffer, offset, length, position)),
  write: (fd, buffer, offset, length, position) => now(() => writeSync(fd, buffer, offset, length, position)),
  ftruncate: (fd, length) => now(() => ftruncateSync(fd, length)),
  link: (existing, name) => now(() => linkSync(existing, name)),
  rename: (from, to) => now(() => renameSync(from, to)),
  unlink: (path) => now(() => unlinkSync(path)),
};

/**
 * Local disk filesystems by their statfs type (Linux's magic numbers): the ones whose calls are made directly. Any
 * other type (NFS 0x6969, SMB 0x517b, CIFS 0xff534d42, FUSE 0x65735546, 9p 0x01021997, Ceph, or one not listed)
 * goes through the pool.
 */
const LOCAL_FILESYSTEMS = new Map<number, string>([
  [0xef53, 'ext2/3/4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0x858458f6, 'ramfs'],
  [0x794c7630, 'overlayfs'],
  [0xf2f52010, 'f2fs'],
  [0x2fc12fc1, 'zfs'],
]);

/** How a store on a filesystem of this statfs type makes its calls (pure). */
export function ioModeFor(filesystemType: number): IoMode {
  return LOCAL_FILESYSTEMS.has(filesystemType) ? 'direct' : 'pool';
}

/**
 * The calls for a store whose folder is `path` (or will be: the nearest folder above it that exists is asked). A
 * filesystem that cannot be asked gets the pool.
 */
export async function ioFor(path: string): Promise<DocIo> {
  for (let at = path; ; at = dirname(at)) {
    const type = await call<{ type: number }>((cb) => statfs(at, cb)).then(
      (st) => st.type,
      (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' && dirname(at) !== at ? undefined : null),
    );
    if (type === null) return poolIo;
    if (type !== undefined) return ioModeFor(type) === 'direct' ? directIo : poolIo;
  }
}

/**
 * A folder and the folders above it that are missing (`mkdir -p`), or the refusal of the first that cannot be made.
 * Not Node's own `mkdir(..., { recursive: true })`: where mkdir answers ENOENT under a parent that exists (any path
 * under /proc), that one retries for ever at full CPU, so a bucket URL naming such a place hung every command and the
 * probe run past its deadline. Here each folder is tried at most twice: once, and again after its parent is made.
 */
export async function makeFolder(path: string): Promise<void> {
  // there already: a folder is what was asked for; a file in its place is the caller's to say (as mkdir -p does)
  const already = async (err: NodeJS.ErrnoException) =>
    err.code === 'EEXIST' && (await statAsync(path).catch(() => undefined))?.isDirectory() === true;
  try {
    await mkdirAsync(path);
    return;
  } catch (err) {
    if (await already(err as NodeJS.ErrnoException)) return;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(path) === path) throw err;
  }
  await makeFolder(dirname(path));
  await mkdirAsync(path).catch(async (err: NodeJS.ErrnoException) => {
    if (await already(err)) return;
    if (err.code === 'ENOENT')
      throw new StorageError(
        'io',
        `cannot make the folder ${path}: ${dirname(path)} is there but takes no new folders (not a place for a bucket)`,
        { cause: err },
      );
    throw err;
  });
}
