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
  const write = (ifGeneration: string | null) => {
    const at = now();
    const expiresAt = new Date(at.getTime() + options.ttlMs);
    return store
      .writeJson(key, { holder: options.holder, acquiredAt: at.toISOString(), expiresAt: expiresAt.toISOString() }, { ifGeneration })
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
 * Runs `fn` under a lease, renewing it every ttl/3. If a renewal finds the lease lost, the run is failed
 * (rejects with LeaseLostError) so two holders never believe they both own it.
 */
export async function withLease<T>(store: ObjectStore, key: string, options: LeaseOptions, fn: (lease: Lease) => Promise<T>): Promise<T> {
  const lease = await acquireLease(store, key, options);
  let lost: unknown;
  let rejectLost: (err: unknown) => void = () => {};
  const lostPromise = new Promise<never>((_, reject) => (rejectLost = reject));
  lostPromise.catch(() => {});
  const timer = setInterval(() => {
    lease.renew().catch((err) => {
      lost = err;
      clearInterval(timer);
      rejectLost(err);
    });
  }, Math.max(50, Math.floor(options.ttlMs / 3)));
  try {
    return await Promise.race([fn(lease), lostPromise]);
  } finally {
    clearInterval(timer);
    if (!lost) await lease.release().catch(() => {});
  }
}
