/**
 * The hot state documents this process wrote last, each with the generation its write returned: one cache per store
 * object, so it lives as long as the store does (the probe function's and `npm start`'s, built once per process:
 * shared/functions/runtime.ts). The schedule's next run plans each probe from its entry instead of reading the
 * document: no read, no parse, no decode (on GCS, one request fewer per probe and minute).
 *
 * An entry can only be stale, never wrong: every state write is a compare-and-swap on the generation. When anything
 * else wrote the document since (another instance's run, a second delivery of the same tick, an operator's reset or
 * edit), the write fails, the document is read again and the sample applied to it (record.ts), exactly as when two
 * runs meet; a document removed since fails the same way and starts afresh.
 *
 * Bounded: at most STATE_CACHE_ENTRIES entries (each a probe's hot state, a few KiB), whatever the number of probes.
 * When it is full, a new entry takes the place of the least recently used one only if that one has not been used for
 * STATE_CACHE_IDLE_MS (a probe no longer configured); otherwise it is not kept. A run touches its probes in the same
 * order every minute, so evicting the oldest at each miss would evict every entry before its next use once there
 * are more probes than entries: this way the first STATE_CACHE_ENTRIES of them keep theirs, the rest are read.
 */
import { performance } from 'node:perf_hooks';
import type { ObjectStore } from '../storage/types';
import type { ProbeState } from './state';

export const STATE_CACHE_ENTRIES = 256;
export const STATE_CACHE_IDLE_MS = 10 * 60_000;

export interface CachedState {
  state: ProbeState;
  /** The generation its write returned. */
  generation: string;
}

interface Entry extends CachedState {
  usedAt: number;
}

export class StateCache {
  /** In order of last use, the least recently used first. */
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly capacity = STATE_CACHE_ENTRIES,
    /** Milliseconds, monotonic (tests pass their own). */
    private readonly clock: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): CachedState | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    entry.usedAt = this.clock();
    this.entries.set(key, entry);
    return entry;
  }

  set(key: string, state: ProbeState, generation: string): void {
    const usedAt = this.clock();
    if (!this.entries.delete(key) && this.entries.size >= this.capacity) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      if (usedAt - oldest.usedAt < STATE_CACHE_IDLE_MS) return;
      this.entries.delete(oldestKey);
    }
    this.entries.set(key, { state, generation, usedAt });
  }

  /** A document this process no longer knows the generation of (its write failed). */
  forget(key: string): void {
    this.entries.delete(key);
  }
}

const caches = new WeakMap<ObjectStore, StateCache>();

/** The store's cache (made on first use, gone with the store). */
export function stateCacheOf(store: ObjectStore): StateCache {
  let cache = caches.get(store);
  if (!cache) {
    cache = new StateCache();
    caches.set(store, cache);
  }
  return cache;
}
