/**
 * The file store's per-key lock, named by its holder: each store makes one holder file once
 * (`.locks/holders/<random>`, holding `{"holder":"host:pid:random","scope":...}` as a lease does), and a key's lock
 * `.locks/<sha256(key)>.lock` is a hard link to it, made with link() (atomic, fails when the name exists) and removed
 * with unlink(). A link is a new name for an existing file: no file is created per lock. Creating a file is by far
 * the dearest filesystem call a write makes (here about 0.8 ms against 0.02 ms for a link, and creations do not run
 * in parallel), and the lock file written with `wx` per write was one of the two a JSON write made.
 */
import { open, readFile, readdir, lstat, rename, link, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { localHolder, newLeaseHolder, processScope } from './lease';
import { StorageError } from './types';
import { refusalWords } from './file-errors';
import { makeFolder, type DocIo } from './file-io';
import { rmSync } from 'node:fs';

export const LOCK_STALE_MS = 30_000;

/** A key as a short, unique, flat file name (its lock's, and its JSON document's spare's: file-json.ts). */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
/** A lock released this soon after it was taken cannot have been broken (a margin for clocks of other machines). */
const SURELY_OURS_MS = 5_000;

interface Holder {
  path: string;
  ino: bigint;
}

export class KeyLocks {
  private holder?: Promise<Holder>;
  /** The lock paths this store holds now, each with the call that holds it (a release removes only its own). */
  private readonly held = new Map<string, symbol>();

  constructor(
    private readonly root: string,
    /** A refusal of the filesystem in plain words (the store's own). */
    private readonly refusal: (err: unknown, key: string) => StorageError,
    /** How the lock's link and unlink are made (the store's choice: file-io.ts). */
    private readonly io: () => DocIo,
  ) {}

  /** This store's holder file, made on the first lock (again if something removed it). */
  private holderFile(key: string, again = false): Promise<Holder> {
    if (again) this.holder = undefined;
    this.holder ??= (async () => {
      const dir = join(this.root, '.locks', 'holders');
      await makeFolder(dir);
      const path = join(dir, randomBytes(8).toString('hex'));
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(JSON.stringify({ holder: newLeaseHolder(), scope: processScope() }));
        const ino = (await handle.stat({ bigint: true })).ino;
        removedAtExit(path);
        return { path, ino };
      } finally {
        await handle.close();
      }
    })().catch((err: unknown) => {
      this.holder = undefined;
      // the folder's problem, not one key's (the first caller's key would be named to every waiting writer)
      if (err instanceof StorageError || refusalWords((err as NodeJS.ErrnoException).code))
        throw this.refusal(err, key);
      throw new StorageError(
        'io',
        `cannot make the lock holder file in ${join(this.root, '.locks', 'holders')}: ${(err as Error).message}`,
        { cause: err },
      );
    });
    return this.holder;
  }

  /**
   * Runs `fn` holding a cross-process lock for one key. Locks are held for milliseconds. One whose holder is a
   * process of this machine that no longer exists (a writer killed with SIGKILL while publishing) is broken at once,
   * one held by a live process of this machine never; another one (a holder on another machine sharing the folder,
   * or a lock file an older version wrote) is taken as stale once older than 30 s.
   */
  async with<T>(key: string, fn: () => Promise<T>, hashed = keyHash(key)): Promise<T> {
    // hashed: any key gives a short, unique, flat file name
    const path = join(this.root, '.locks', `${hashed}.lock`);
    let holder = await this.holderFile(key);
    const deadline = Date.now() + LOCK_STALE_MS + 10_000;
    for (let remade = false; ;) {
      try {
        await this.io().link(holder.path, path);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && !remade) {
          remade = true; // the holder file or the folder went away (a bucket emptied by hand): make them again, once
          holder = await this.holderFile(key, true);
          continue;
        }
        if (code !== 'EEXIST') throw this.refusal(err, key);
        if (await breakStaleLock(path)) continue;
        if (Date.now() > deadline) throw new StorageError('io', `could not lock ${key}: ${path} stays locked`);
        await new Promise((r) => setTimeout(r, 2 + Math.random() * 10));
      }
    }
    const me = Symbol(key);
    this.held.set(path, me);
    const taken = performance.now();
    try {
      return await fn();
    } finally {
      // only our own lock: never one another writer took after ours was (wrongly) judged stale and broken. Nobody
      // breaks a lock younger than LOCK_STALE_MS whose holder is alive, so one held briefly (nearly always) is ours
      // without looking; one held longer is checked first
      if (this.held.get(path) === me) {
        this.held.delete(path);
        const ours =
          performance.now() - taken < SURELY_OURS_MS ||
          (await lstat(path, { bigint: true }).catch(() => undefined))?.ino === holder.ino;
        if (ours)
          await this.io()
            .unlink(path)
            .catch(() => {});
      }
    }
  }

  /**
   * Removes the holder files of processes that are gone: those of this machine at once, others once unused (no lock
   * taken or released) since `olderThan`. A live process whose file went finds it missing and makes another. Also
   * removes broken locks moved aside (`<lock>.<random>.stale`, see breakStaleLock) older than `olderThan`: a process
   * killed between moving one aside and removing it leaves it behind, and nothing else ever looks at it.
   */
  async removeDeadHolders(olderThan: Date): Promise<number> {
    const locks = join(this.root, '.locks');
    for (const name of await readdir(locks).catch(() => [] as string[])) {
      if (!name.endsWith('.stale')) continue;
      const path = join(locks, name);
      const st = await lstat(path).catch(() => undefined);
      if (st && st.ctime < olderThan) await rm(path, { force: true });
    }
    const dir = join(this.root, '.locks', 'holders');
    const names = await readdir(dir).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const path = join(dir, name);
      const [st, content] = await Promise.all([lstat(path), readFile(path, 'utf8')]).catch(() => []);
      if (!st || content === undefined) continue;
      if (holderOf(content) === 'alive') continue;
      if (holderOf(content) === 'unknown' && st.ctime >= olderThan) continue;
      await rm(path, { force: true });
      removed++;
    }
    return removed;
  }
}

/**
 * The holder files of this process's stores, removed when it exits: a CLI run made one each time (a probe run from cron
 * every minute left 1,440 a day for the cleanup). A lock still held then (the process ended mid-write) names a process
 * that is gone and is broken at once, as after a SIGKILL, which leaves its holder file to the cleanup.
 */
const ownHolders = new Set<string>();
function removedAtExit(path: string): void {
  if (ownHolders.size === 0)
    process.once('exit', () => {
      for (const p of ownHolders) rmSync(p, { force: true });
    });
  ownHolders.add(path);
}

function holderOf(content: string): 'alive' | 'dead' | 'unknown' {
  try {
    const doc = JSON.parse(content) as { holder?: unknown; scope?: unknown };
    if (typeof doc.holder === 'string')
      return localHolder({ holder: doc.holder, scope: typeof doc.scope === 'string' ? doc.scope : undefined });
  } catch {
    // empty (an older lock file being written right now) or an older format: the age rule alone
  }
  return 'unknown';
}

/**
 * Breaks the lock at `path` if its holder is dead (a process of this machine that is gone) or it is older than 30 s;
 * true when the caller should try to take it again now. Its age: a link's is its file's last change of links (the
 * holder links and unlinks it for every lock it takes, so a held lock never looks older than it is); a lock file of an
 * older version (one name) is as old as its content. The lock is moved aside first (atomic), and only a lock that is
 * still the stale one is removed: one taken meanwhile by a live writer is put back.
 */
async function breakStaleLock(path: string): Promise<boolean> {
  const [st, content] = await Promise.all([lstat(path), readFile(path, 'utf8')]).catch(
    () => [undefined, undefined] as const,
  );
  if (!st || content === undefined) return true; // released meanwhile
  const holder = holderOf(content);
  const since = st.nlink > 1 ? st.ctimeMs : st.mtimeMs;
  // a live process of this machine holds it (however long): not stale; a dead one: stale at once; else by age
  if (holder === 'alive' || (holder === 'unknown' && Date.now() - since <= LOCK_STALE_MS)) return false;
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch {
    return true; // someone else broke or released it
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== content) await link(aside, path).catch(() => {}); // a live writer's lock: back where it was
  await rm(aside, { force: true });
  return moved === content;
}
