/** Runs `processes` separate processes, each incrementing `counter.json` in the bucket `times` times with
 * compare-and-swap (cas-increment.ts), optionally about `pauseMs` apart; resolves when all exit 0. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./cas-increment.ts', import.meta.url));
const runner = fileURLToPath(new URL('../../bin/run-ts.js', import.meta.url));

export async function incrementInProcesses(
  url: string,
  processes: number,
  times: number,
  pauseMs?: number,
): Promise<void> {
  const args = [runner, script, url, String(times), ...(pauseMs === undefined ? [] : [String(pauseMs)])];
  await Promise.all(
    Array.from(
      { length: processes },
      () =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, args, { stdio: 'inherit' });
          child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`incrementer exited ${code}`))));
        }),
    ),
  );
}
