/** Progress for long CLI work: a redrawn bar on a TTY, plain lines otherwise (for logs and CI). */
export interface Progress {
  /** Updates the bar (TTY only; throttled). `fraction` in 0..1. */
  update(fraction: number, text: string): void;
  /** A line worth keeping: printed on TTYs and pipes alike. */
  line(text: string): void;
  done(): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, enabled = true): Progress {
  if (!enabled) return { update() {}, line() {}, done() {} };
  const tty = Boolean(stream.isTTY);
  let last = 0;
  let drawn = false;
  const clear = () => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    update(fraction, text) {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100 && fraction < 1) return;
      last = now;
      const width = 24;
      const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
      const columns = stream.columns ?? 100;
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${text}`;
      stream.write(`\r\x1b[2K${bar.slice(0, columns - 1)}`);
      drawn = true;
    },
    line(text) {
      clear();
      stream.write(`${text}\n`);
    },
    done() {
      clear();
    },
  };
}

// The formatting helpers live in shared/format.ts (capabilities use them too); re-exported for the commands.
export { formatBytes, formatDuration, formatAge, table } from '../format';
