/**
 * Runs separate processes, each incrementing `counter.json` in the bucket `times` times with compare-and-swap
 * (cas-increment.ts); resolves when all exit 0. `processes` is how many, all at once; or, with a schedule, the
 * offset (ms into each round) of each process: they write in rounds `roundMs` apart starting at `t0` (epoch ms).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./cas-increment.ts', import.meta.url));
const runner = fileURLToPath(new URL('../../bin/run-ts.js', import.meta.url));

export async function incrementInProcesses(
  url: string,
  processes: number | { t0: number; roundMs: number; offsetsMs: readonly number[] },
  times: number,
): Promise<void> {
  const schedules =
    typeof processes === 'number'
      ? Array.from({ length: processes }, () => [])
      : processes.offsetsMs.map((offset) => [processes.t0, processes.roundMs, offset].map(String));
  await Promise.all(
    schedules.map(
      (schedule) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, [runner, script, url, String(times), ...schedule], {
            stdio: 'inherit',
          });
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`incrementer exited ${code}`))));
        }),
    ),
  );
}
