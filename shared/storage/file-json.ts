/**
 * The file store's JSON documents: read whole from one inode, and replaced atomically (a new inode renamed over the
 * name, under the key's lock) without creating a file at each write.
 *
 * Creating a file is by far the dearest filesystem call a write makes (0.15 to 0.9 ms on this project's CI disk, and
 * creations do not run in parallel), and renaming a new file over a name also frees the old inode, which costs about
 * as much again. A probe run writes one state document per probe at every sample, so both paid on every write made the
 * run wait on the disk. Here the inode a write replaces is kept as the key's spare (`.spare/<sha256(key)>`) and the
 * next write fills that spare in place and renames it over the name: in the steady state (a key written again after
 * more than a second, as the probe schedule does every minute) a write creates no file and frees none.
 *
 * Filling an inode in place is safe only when nobody can still be reading it. An inode becomes a spare when it stops
 * being the document (the rename that replaces it; the rename that names it the spare sets its ctime), and it is
 * filled again only once it has been a spare for at least SPARE_MIN_AGE_MS by its ctime; a reader that opened it while
 * it was the document finishes within READ_STALL_MS or reads again from the name, so no reader ever meets a refill.
 * (A step of the system clock forward by more than the difference, between a spare's naming and its refill, would
 * void this; clocks are slewed, not stepped, once a machine runs.) The same rule keeps generations unique: a refilled
 * inode's new mtime is a second or more after the one it had as the document, so a generation (inode and mtime) never
 * comes back. A key written again sooner (bursts, concurrent writers) makes a new file, as every write did before.
 *
 * The calls are made on plain descriptors, directly on a local disk and through the thread pool elsewhere (file-io.ts):
 * a probe run makes some fifteen of them per probe.
 */
import type { BigIntStats } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { StorageError } from './types';
import { makeFolder, type DocIo } from './file-io';

/** A spare is filled again only after it has been one for this long. */
export const SPARE_MIN_AGE_MS = 1000;
/** A read that took longer than this (a stalled process) is made again: it might have met a spare being refilled. */
export const READ_STALL_MS = 400;

export const generationOf = (st: BigIntStats) => `${st.ino}-${st.mtimeNs}`;

async function readAll(io: DocIo, fd: number, size: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const n = await io.read(fd, buffer, filled, size - filled, filled);
    if (n === 0) break;
    filled += n;
  }
  return filled === size ? buffer : buffer.subarray(0, filled);
}

async function writeAll(io: DocIo, fd: number, data: Buffer): Promise<void> {
  for (let written = 0; written < data.length;) {
    written += await io.write(fd, data, written, data.length - written, written);
  }
}

/**
 * A whole file and its generation, read from one inode (a rename meanwhile replaces the name, not what was opened),
 * or undefined when there is none. A read that took longer than READ_STALL_MS (the process stalled) is made again
 * from the name: only then could the inode it opened have become a spare and been refilled (see above). Comparing
 * the inode's times before and after the read would not do: a write in progress has already set them.
 * `paused` (tests) runs between the stat and the read of the first attempt.
 */
export async function readDocument(
  io: DocIo,
  path: string,
  key: string,
  paused?: () => Promise<void>,
): Promise<{ bytes: Buffer; generation: string } | undefined> {
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    let fd: number;
    try {
      fd = await io.open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const st = await io.fstat(fd);
      if (attempt === 1) await paused?.();
      const bytes = await readAll(io, fd, Number(st.size));
      if (performance.now() - started <= READ_STALL_MS) return { bytes, generation: generationOf(st) };
      if (attempt >= 5)
        throw new StorageError('io', `could not read ${key}: each read stalled for more than ${READ_STALL_MS} ms`);
    } finally {
      await io.close(fd).catch(() => {});
    }
  }
}

export interface Publish {
  io: DocIo;
  /** The document's name, and its current generation (checked by the caller under the key's lock), or none. */
  final: string;
  current: string | undefined;
  /** The key's spare inode, and where a new file is made when there is no usable spare. */
  spare: string;
  temp: () => string;
  text: string;
}

/**
 * Writes `text` as the new content of `final` under the key's lock: into the key's spare when it is old enough, else
 * into a new file; renamed over the name (atomic replace); the inode it replaced kept as the next spare. Returns the
 * new generation. A failure to keep the spare is not a failure of the write (the next write makes a file).
 */
export async function publishDocument(p: Publish): Promise<string> {
  const { io } = p;
  let fd: number | undefined;
  let source: string | undefined;
  let spareSize = 0;
  try {
    fd = await io.open(p.spare, 'r+');
    const st = await io.fstat(fd);
    if (st.isFile() && st.nlink === 1n && Date.now() - Number(st.ctimeMs) >= SPARE_MIN_AGE_MS) {
      source = p.spare;
      spareSize = Number(st.size);
    } else {
      await io.close(fd);
      fd = undefined;
    }
  } catch (err) {
    if (fd !== undefined) await io.close(fd).catch(() => {});
    fd = undefined;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const data = Buffer.from(p.text);
  let generation: string;
  try {
    if (fd === undefined) {
      source = p.temp();
      fd = await io.create(source);
    }
    await writeAll(io, fd, data);
    // a spare holding more than this content is cut to it (one that held less has grown to it)
    if (source === p.spare && spareSize > data.length) await io.ftruncate(fd, data.length);
    generation = generationOf(await io.fstat(fd));
    await io.close(fd);
    fd = undefined;
  } catch (err) {
    if (fd !== undefined) await io.close(fd).catch(() => {});
    // a new file goes; a spare half filled stays a spare (it is never anything's content)
    if (source && source !== p.spare) await io.unlink(source).catch(() => {});
    throw err;
  }
  // the inode being replaced: kept under a temporary name first (its content is the document until the rename)
  let kept = p.current === undefined ? undefined : p.temp();
  if (
    kept &&
    !(await io.link(p.final, kept).then(
      () => true,
      () => false,
    ))
  )
    kept = undefined;
  try {
    await io.rename(source!, p.final); // atomic replace
  } catch (err) {
    if (kept) await io.unlink(kept).catch(() => {});
    if (source !== p.spare) await io.unlink(source!).catch(() => {});
    throw err;
  }
  if (kept) await keepSpare(io, kept, p.spare);
  return generation;
}

async function keepSpare(io: DocIo, kept: string, spare: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await io.rename(kept, spare);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) break;
      // the spares' folder is not there yet
      await makeFolder(dirname(spare)).catch(() => {});
    }
  }
  await io.unlink(kept).catch(() => {});
}

/** The spare's path for a key (flat: one file per key, named by the key's hash, as its lock is). */
export function sparePath(root: string, hashedKey: string): string {
  return join(root, '.spare', hashedKey);
}
