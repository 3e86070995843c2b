/** Leases (locks with a time-to-live) in the bucket, on compare-and-swap. */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { z } from 'zod';
import { StorageError, type ObjectStore } from './types';

/**
 * A lease (lock with a time-to-live) kept as a small JSON document in the store, built on compare-and-swap:
 * a second acquirer fails while the lease is live and takes it over once it has expired, or at once when its
 * holder is a process of this machine that is gone (killed, crashed).
 */
export class LeaseHeldError extends Error {
  override readonly name = 'LeaseHeldError';
  constructor(
    readonly key: string,
    readonly holder: string,
    readonly expiresAt: Date,
  ) {
    super(`lease ${key} is held by ${holder} until ${expiresAt.toISOString()}`);
  }
}

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

const LeaseDoc = z.object({
  holder: z.string(),
  expiresAt: z.iso.datetime(),
  acquiredAt: z.iso.datetime(),
  /** Where the holder's pid means something: this kernel's boot and PID namespace (see processScope). */
  scope: z.string().optional(),
});

export interface LeaseOptions {
  ttlMs: number;
  /** `host:pid:random` (newLeaseHolder()); the host and pid let a dead holder on this machine be recognised. */
  holder: string;
  now?: () => Date;
}

export interface Lease {
  readonly key: string;
  readonly holder: string;
  readonly expiresAt: Date;
  /** Set when the lease was taken over from a dead process of this machine before it expired. */
  readonly takenOverFrom?: string;
  renew(): Promise<void>;
  /** Reads the lease back: throws LeaseLostError unless it is still ours and live (a check before a final write). */
  assertHeld(): Promise<void>;
  release(): Promise<void>;
}

export interface LeaseState {
  holder: string;
  expiresAt: Date;
  live: boolean;
  /** Its holder is a process of this machine that no longer exists (killed): nobody is working under it. */
  holderDead: boolean;
}

/** A holder name for this process: `host:pid:random`. */
export function newLeaseHolder(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

let cachedScope: string | undefined;
/**
 * Where a pid is meaningful: this kernel's boot id and this process's PID namespace (Linux). Two containers may share
 * a host name (Cloud Run's is "localhost") but never both, so a holder is judged dead only by a process that can see it.
 * Elsewhere (no /proc): the host name alone.
 */
export function processScope(): string {
  if (cachedScope === undefined) {
    try {
      cachedScope = `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${readlinkSync('/proc/self/ns/pid')}`;
    } catch {
      cachedScope = `${process.platform}:${hostname()}`;
    }
  }
  return cachedScope;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: it exists, someone else's
  }
}

/** The holder is a process of this machine (same host, boot and PID namespace) that no longer exists. */
export function holderIsDeadLocalProcess(doc: { holder: string; scope?: string }): boolean {
  return localHolder(doc) === 'dead';
}

/** Whether the holder is a process of this machine, alive or dead; 'unknown' when it is not (or not provably) one. */
export function localHolder(doc: { holder: string; scope?: string }): 'alive' | 'dead' | 'unknown' {
  const m = /^(.+):(\d+):[0-9a-f]+$/.exec(doc.holder);
  if (!m || m[1] !== hostname() || doc.scope === undefined || doc.scope !== processScope()) return 'unknown';
  const pid = Number(m[2]);
  if (pid <= 0) return 'unknown';
  return pid === process.pid || pidAlive(pid) ? 'alive' : 'dead';
}

export async function readLease(
  store: ObjectStore,
  key: string,
  now: Date = new Date(),
): Promise<LeaseState | undefined> {
  const doc = await store.readJson(key);
  if (!doc) return undefined;
  const parsed = LeaseDoc.safeParse(doc.value);
  if (!parsed.success) return undefined;
  const expiresAt = new Date(parsed.data.expiresAt);
  return {
    holder: parsed.data.holder,
    expiresAt,
    live: expiresAt > now,
    holderDead: holderIsDeadLocalProcess(parsed.data),
  };
}

export async function acquireLease(store: ObjectStore, key: string, options: LeaseOptions): Promise<Lease> {
  const now = options.now ?? (() => new Date());
  const existing = await store.readJson(key);
  let takenOverFrom: string | undefined;
  if (existing) {
    const parsed = LeaseDoc.safeParse(existing.value);
    if (parsed.success && new Date(parsed.data.expiresAt) > now()) {
      // A live lease whose holder died on this machine (SIGKILL, OOM): nobody will renew or release it.
      if (!holderIsDeadLocalProcess(parsed.data))
        throw new LeaseHeldError(key, parsed.data.holder, new Date(parsed.data.expiresAt));
      takenOverFrom = parsed.data.holder;
    }
  }
  const acquiredAt = now().toISOString();
  const write = (ifGeneration: string | null) => {
    const expiresAt = new Date(now().getTime() + options.ttlMs);
    return store
      .writeJson(
        key,
        { holder: options.holder, acquiredAt, expiresAt: expiresAt.toISOString(), scope: processScope() },
        { ifGeneration },
      )
      .then((generation) => ({ generation, expiresAt }));
  };
  let state: { generation: string; expiresAt: Date };
  try {
    state = await write(existing?.generation ?? null);
  } catch (err) {
    if (err instanceof StorageError && err.code === 'precondition_failed') {
      // Someone else took it between our read and our write.
      const current = await readLease(store, key, now());
      throw new LeaseHeldError(key, current?.holder ?? 'another process', current?.expiresAt ?? now());
    }
    throw err;
  }
  let released = false;
  return {
    key,
    holder: options.holder,
    ...(takenOverFrom ? { takenOverFrom } : {}),
    get expiresAt() {
      return state.expiresAt;
    },
    async renew() {
      if (released) throw new LeaseLostError(`lease ${key} was released`);
      try {
        state = await write(state.generation);
      } catch (err) {
        if (err instanceof StorageError && err.code === 'precondition_failed')
          throw new LeaseLostError(`lease ${key} was lost to another holder`);
        throw err;
      }
    },
    async assertHeld() {
      const current = await readLease(store, key, now());
      if (current?.holder !== options.holder)
        throw new LeaseLostError(`lease ${key} was lost to ${current ? current.holder : 'nobody (it is gone)'}`);
      if (!current.live)
        throw new LeaseLostError(
          `lease ${key} expired at ${current.expiresAt.toISOString()}: it was not renewed in time`,
        );
    },
    async release() {
      if (released) return;
      released = true;
      try {
        await store.delete(key, { ifGeneration: state.generation });
      } catch (err) {
        // taken over by someone else after expiry: theirs now, leave it
        if (!(err instanceof StorageError && err.code === 'precondition_failed')) throw err;
      }
    },
  };
}

/**
 * Runs `fn` under a lease, renewing it every ttl/3 (a failed renewal is retried sooner).
 *
 * The lease is lost when a renewal finds it taken over, or when it could not be renewed (the store failing or stalling)
 * and has less than ttl/4 left: others may take it over once it expires, so the holder must have stopped by then.
 * On a loss, `signal` is aborted with the LeaseLostError, `fn` is awaited (it must stop at once on the signal and undo
 * its work), and withLease throws that LeaseLostError, even if `fn` went on to finish. The lease is released at the end (a compare-and-swap delete:
 * one taken over by another holder is left to them).
 */
export async function withLease<T>(
  store: ObjectStore,
  key: string,
  options: LeaseOptions,
  fn: (lease: Lease, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const now = options.now ?? (() => new Date());
  const lease = await acquireLease(store, key, options);
  const lost = new AbortController();
  const interval = Math.max(50, Math.floor(options.ttlMs / 3));
  const margin = Math.floor(options.ttlMs / 4);
  let timer: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let stopped = false;
  let renewing: Promise<void> | undefined;
  let lastError: unknown;
  const fail = (err: LeaseLostError) => {
    if (stopped || lost.signal.aborted) return;
    clearTimeout(timer);
    clearTimeout(watchdog);
    lost.abort(err);
  };
  // Fires ttl/4 before expiry unless a renewal re-arms it first.
  const arm = () => {
    clearTimeout(watchdog);
    const expiresAt = lease.expiresAt;
    const left = expiresAt.getTime() - now().getTime() - margin;
    watchdog = setTimeout(
      () => {
        const why = lastError === undefined ? 'no renewal answered in time' : errorText(lastError);
        fail(
          new LeaseLostError(`lease ${key} expires at ${expiresAt.toISOString()} and could not be renewed (${why})`),
        );
      },
      Math.max(0, left),
    );
  };
  const schedule = (delay: number) => {
    if (stopped || lost.signal.aborted) return;
    timer = setTimeout(() => {
      renewing = renewOnce();
    }, delay);
  };
  // One renewal at a time: the next is scheduled only after the previous one settled.
  const renewOnce = async () => {
    try {
      await lease.renew();
      lastError = undefined;
      if (stopped || lost.signal.aborted) return;
      arm();
      schedule(interval);
    } catch (err) {
      if (err instanceof LeaseLostError) return fail(err);
      lastError = err;
      schedule(Math.max(50, Math.floor(interval / 3)));
    }
  };
  arm();
  schedule(interval);
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await fn(lease, lost.signal) };
  } catch (error) {
    outcome = { ok: false, error };
  }
  stopped = true;
  clearTimeout(timer);
  clearTimeout(watchdog);
  // A renewal landing after the release would leave the lease behind; one hanging on a stalled store is not waited for long.
  await Promise.race([renewing, sleep(interval)]);
  await Promise.race([lease.release().catch(() => {}), sleep(interval)]);
  // Work that finished after the loss is reported lost all the same: another holder may have run beside it.
  if (lost.signal.aborted) throw lost.signal.reason;
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
