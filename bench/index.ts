/** npm run bench — every benchmark in turn, each against its reference tool in the same run. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const runner = fileURLToPath(new URL('../bin/run-ts.js', import.meta.url));
let failed = false;
for (const name of ['retention', 'backup', 'restore']) {
  console.log(`\n== bench:${name} ==`);
  const r = spawnSync(process.execPath, [runner, fileURLToPath(new URL(`./${name}.ts`, import.meta.url))], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
