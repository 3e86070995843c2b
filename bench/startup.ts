/**
 * npm run bench:startup — how long the CLI users run (`npx mt-ops`, which is the bundle dist/cli/mt-ops.js) takes to
 * start: `mt-ops --version` and `mt-ops list` on an empty bucket, as ratios to `node -e 0` on the same machine in the
 * same run (the median of 15 runs each, interleaved so load changes hit all three alike). Target: --version < 0.2 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtCli, median, runMeasured } from './support';

const RUNS = 15;
const cli = builtCli();
const bucket = mkdtempSync(join(tmpdir(), 'mt-bench-startup-'));
const env = { BACKUP_BUCKET: `file://${bucket}`, OPS_CONFIG: '', OPS_ENV: 'bench', LOG_LEVEL: 'warn' };
const cases: Array<[string, string[]]> = [
  ['node -e 0', ['-e', '0']],
  ['mt-ops --version', [cli, '--version']],
  ['mt-ops list (empty bucket)', [cli, 'list']],
];
const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
try {
  for (let i = 0; i < RUNS; i++) {
    for (const [name, args] of cases) {
      const r = await runMeasured(process.execPath, args, env);
      if (r.code !== 0) throw new Error(`${name} exited ${r.code}: ${r.stderr}`);
      times.get(name)!.push(r.ms);
    }
  }
} finally {
  rmSync(bucket, { recursive: true, force: true });
}
const base = median(times.get('node -e 0')!);
console.log(`startup, median of ${RUNS} runs (2-core machine; ratios to node -e 0 in the same run)`);
for (const [name] of cases) {
  const ms = median(times.get(name)!);
  console.log(`  ${name.padEnd(28)} ${(ms / 1000).toFixed(3)} s   ${(ms / base).toFixed(2)}x node -e 0`);
}
