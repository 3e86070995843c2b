import { z } from 'zod';
import { StorageError, type ObjectStore } from './types';

/**
 * A lease (lock with a time-to-live) kept as a small JSON document in the store, built on compare-and-swap:
 * a second acquirer fails while the lease is live and takes it over once it has expired.
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

const LeaseDoc = z.object({ holder: z.string(), expiresAt: z.iso.datetime(), acquiredAt: z.iso.datetime() });

export interface LeaseOptions {
  ttlMs: number;
  holder: string;
  now?: () => Date;
}

export interface Lease {
  readonly key: string;
  readonly holder: string;
  readonly expiresAt: Date;
  renew(): Promise<void>;
  release(): Promise<void>;
}

export interface LeaseState {
  holder: string;
  expiresAt: Date;
  live: boolean;
}

export async function readLease(store: ObjectStore, key: string, now: Date = new Date()): Promise<LeaseState | undefined> {
  const doc = await store.readJson(key);
  if (!doc) return undefined;
  const parsed = LeaseDoc.safeParse(doc.value);
  if (!parsed.success) return undefined;
  const expiresAt = new Date(parsed.data.expiresAt);
  return { holder: parsed.data.holder, expiresAt, live: expiresAt > now };
}

export async function acquireLease(store: ObjectStore, key: string, options: LeaseOptions): Promise<Lease> {
  const now = options.now ?? (() => new Date());
  const existing = await store.readJson(key);
  if (existing) {
    const parsed = LeaseDoc.safeParse(existing.value);
    if (parsed.success && new Date(parsed.data.expiresAt) > now()) {
      throw new LeaseHeldError(key, parsed.data.holder, new Date(parsed.data.expiresAt));
    }
  }
  const acquiredAt = now().toISOString();
  const write = (ifGeneration: string | null) => {
    const expiresAt = new Date(now().getTime() + options.ttlMs);
    return store
      .writeJson(key, { holder: options.holder, acquiredAt, expiresAt: expiresAt.toISOString() }, { ifGeneration })
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
    get expiresAt() {
      return state.expiresAt;
    },
    async renew() {
      if (released) throw new LeaseLostError(`lease ${key} was released`);
      try {
        state = await write(state.generation);
      } catch (err) {
        if (err instanceof StorageError && err.code === 'precondition_failed') throw new LeaseLostError(`lease ${key} was lost to another holder`);
        throw err;
      }
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
 * Runs `fn` under a lease, renewing it every ttl/3. If a renewal finds the lease lost (taken over, or not
 * renewed before it expired because the store kept failing), the run is failed with LeaseLostError so two
 * holders never both believe they own it; `signal` is aborted then, for work that can stop early.
 * A transient renewal failure is retried at the next tick while the lease is still live.
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
  let rejectLost: (err: unknown) => void = () => {};
  const lostPromise = new Promise<never>((_, reject) => (rejectLost = reject));
  lostPromise.catch(() => {});
  const fail = (err: unknown) => {
    lost.abort(err);
    rejectLost(err);
  };
  const interval = Math.max(50, Math.floor(options.ttlMs / 3));
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let renewing: Promise<void> | undefined;
  const renewOnce = async () => {
    try {
      await lease.renew();
    } catch (err) {
      if (stopped) return;
      if (err instanceof LeaseLostError) return fail(err);
      if (now() >= lease.expiresAt) return fail(new LeaseLostError(`lease ${key} expired: could not renew it (${errorText(err)})`));
    }
    if (!stopped) schedule();
  };
  // One renewal at a time: the next is scheduled only after the previous one settled.
  const schedule = () => {
    timer = setTimeout(() => {
      renewing = renewOnce();
    }, interval);
  };
  schedule();
  try {
    return await Promise.race([fn(lease, lost.signal), lostPromise]);
  } finally {
    stopped = true;
    clearTimeout(timer);
    await renewing; // a renewal landing after the release would leave the lease behind
    if (!lost.signal.aborted) await lease.release().catch(() => {});
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
