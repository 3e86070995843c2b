/**
 * What the local runtime is doing right now (requests, scheduled runs, event deliveries), and its graceful stop: once
 * `stop()` is called no new work is taken, the runtime's signal aborts long work (a backup removes what it wrote and
 * releases its lease), and `stop()` resolves when everything in flight has finished or been abandoned.
 */
import { InterruptedError } from '../../shared/errors';

export class Work {
  private readonly controller = new AbortController();
  private readonly running = new Map<number, string>();
  private next = 0;
  private idle: Array<() => void> = [];

  /** Aborted by stop(), with an InterruptedError naming the signal. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopping(): boolean {
    return this.controller.signal.aborted;
  }

  /** What is in flight, oldest first. */
  inFlight(): string[] {
    return [...this.running.values()];
  }

  /** Marks `what` as started; call the returned function once it is over (twice is harmless). */
  begin(what: string): () => void {
    const id = this.next++;
    this.running.set(id, what);
    return () => {
      if (!this.running.delete(id) || this.running.size > 0) return;
      const waiting = this.idle;
      this.idle = [];
      for (const resolve of waiting) resolve();
    };
  }

  /** Runs `fn` as tracked work. */
  async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const end = this.begin(what);
    try {
      return await fn();
    } finally {
      end();
    }
  }

  /** Takes no new work, aborts the signal, and resolves once nothing is in flight. */
  async stop(signal: 'SIGINT' | 'SIGTERM'): Promise<void> {
    if (!this.stopping)
      this.controller.abort(new InterruptedError(signal, `interrupted by ${signal} (the server is stopping)`));
    await this.drained();
  }

  /** Resolves once nothing is in flight. */
  drained(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}
