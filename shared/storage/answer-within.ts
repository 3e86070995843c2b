/**
 * A store whose every request must be answered within a bound, for what only reads and must fail in a bounded time
 * when the bucket does not answer (the CLI's read-only commands): the GCS client retries a failing request for about
 * 50 s, and waits its progress timeout (60 s) on each attempt a server takes and never answers.
 */
import { StorageError, type ObjectStore } from './types';
import { settleWithin } from '../deadline';

/**
 * `store` with each request (a listing: each page) failing with StorageError('stalled') once it has had no answer for
 * `ms`. The request itself is left to finish or fail on its own (the client offers no way to abort it). Once one has
 * timed out, every later request fails at once with the same reason: a bucket that does not answer is said once, in
 * the bound, not once per request.
 */
export function answerWithin(store: ObjectStore, ms: number): ObjectStore {
  let silent: StorageError | undefined;
  const bound = <T>(what: string, request: () => Promise<T>): Promise<T> => {
    if (silent) return Promise.reject(silent);
    return settleWithin(request(), ms, () => {
      throw (silent ??= new StorageError(
        'stalled',
        `the bucket ${store.url} did not answer within ${ms / 1000} s (${what})`,
      ));
    });
  };
  return {
    url: store.url,
    put: (key, ...a) => bound(`write of ${key}`, () => store.put(key, ...a)),
    get: (key) => bound(`read of ${key}`, () => store.get(key)),
    stat: (key) => bound(`stat of ${key}`, () => store.stat(key)),
    delete: (key, ...a) => bound(`delete of ${key}`, () => store.delete(key, ...a)),
    readJson: (key) => bound(`read of ${key}`, () => store.readJson(key)),
    writeJson: (key, ...a) => bound(`write of ${key}`, () => store.writeJson(key, ...a)),
    async *list(prefix, options) {
      const pages = store.list(prefix, options)[Symbol.asyncIterator]();
      let waiting = false;
      try {
        for (;;) {
          waiting = true;
          const next = await bound(`listing of ${prefix}`, () => pages.next());
          waiting = false;
          if (next.done) return;
          yield next.value;
        }
      } finally {
        // a listing left early is closed, unless its page never came (closing it would wait for that page too)
        if (!waiting) await pages.return?.();
      }
    },
  };
}
