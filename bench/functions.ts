/**
 * npm run bench:functions — per deployed function (each entry point of infra/, from its bundle under dist/): the
 * bundle's size (our JavaScript; npm packages are installed on deploy) and its cold start under the real
 * functions-framework: process start to ready (listening) and to the first answered request (HTTP: a GET, answered
 * 405; event: a poison Pub/Sub message, logged and acknowledged), median of 5, beside `node -e 0` in the same run.
 * Targets: bundle < 5 MB, first answer < 500 ms.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtCli, median, runMeasured } from './support';
import { loadTopology } from '../shared/infra/topology';

const RUNS = 5;
const root = fileURLToPath(new URL('..', import.meta.url));
builtCli(); // builds dist/ (every function bundle, and the CLI)
const framework = join(root, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');
const bucket = mkdtempSync(join(tmpdir(), 'mt-bench-functions-'));
const env = {
  BACKUP_BUCKET: `file://${bucket}`,
  OPS_CONFIG: '',
  OPS_ENV: 'bench',
  LOG_LEVEL: 'warn',
  NODE_ENV: 'development',
  METADATA_SERVER_DETECTION: 'none',
};

function bundleBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

let port = 18_000 + Math.floor(Math.random() * 20_000);

function send(p: number, kind: 'http' | 'event'): Promise<number> {
  return new Promise((resolve, reject) => {
    const body =
      kind === 'event'
        ? JSON.stringify({
            message: { data: Buffer.from('not json').toString('base64'), messageId: '1' },
            subscription: 'projects/bench/subscriptions/s',
          })
        : '';
    const headers: Record<string, string> =
      kind === 'event'
        ? {
            'content-type': 'application/json',
            'ce-id': '1',
            'ce-specversion': '1.0',
            'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
            'ce-source': '//pubsub.googleapis.com/projects/bench/topics/t',
          }
        : {};
    const req = request(
      { host: '127.0.0.1', port: p, method: kind === 'event' ? 'POST' : 'GET', path: '/', headers },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One cold start: ms to ready, ms to the first answer, the answer's status. */
function coldStart(
  fn: string,
  entryPoint: string,
  kind: 'http' | 'event',
): Promise<{ ready: number; answered: number; status: number }> {
  const p = port++;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - started) / 1e6;
    const child = spawn(
      process.execPath,
      [
        framework,
        `--target=${entryPoint}`,
        `--source=${join(root, 'dist', fn)}`,
        `--port=${p}`,
        `--signature-type=${kind === 'http' ? 'http' : 'cloudevent'}`,
      ],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.stdout.on('data', (d) => {
      out += d;
      if (!out.includes('Serving function')) return;
      out = '';
      const ready = ms();
      send(p, kind)
        .then((status) => {
          const answered = ms();
          child.kill('SIGKILL');
          resolve({ ready, answered, status });
        })
        .catch((e: unknown) => {
          child.kill('SIGKILL');
          reject(e);
        });
    });
    child.on('exit', (code) => {
      if (code !== null && code !== 0) reject(new Error(`${entryPoint} exited ${code}: ${err}`));
    });
  });
}

const topology = loadTopology();
const node: number[] = [];
const results = new Map<string, { ready: number[]; answered: number[]; status: number }>();
try {
  for (let i = 0; i < RUNS; i++) {
    node.push((await runMeasured(process.execPath, ['-e', '0'])).ms);
    for (const d of topology.deployed) {
      const r = await coldStart(d.function, d.entryPoint, d.kind);
      const entry = results.get(d.name) ?? { ready: [], answered: [], status: r.status };
      entry.ready.push(r.ready);
      entry.answered.push(r.answered);
      results.set(d.name, entry);
    }
  }
} finally {
  rmSync(bucket, { recursive: true, force: true });
}
const base = median(node);
console.log(
  `functions: bundle size and cold start under the functions-framework, median of ${RUNS} (node -e 0: ${base.toFixed(0)} ms in the same run)`,
);
console.log(
  `  ${'function'.padEnd(24)} ${'bundle'.padStart(9)}  ${'ready'.padStart(7)}  ${'1st answer'.padStart(10)}  status  met (< 5 MB, < 500 ms)`,
);
let failed = false;
for (const d of topology.deployed) {
  const r = results.get(d.name)!;
  const bytes = bundleBytes(join(root, 'dist', d.function));
  const answered = median(r.answered);
  const met = bytes < 5 * 1024 * 1024 && answered < 500;
  if (!met) failed = true;
  console.log(
    `  ${d.name.padEnd(24)} ${(bytes / 1024).toFixed(0).padStart(6)} KiB  ${median(r.ready).toFixed(0).padStart(4)} ms  ${answered.toFixed(0).padStart(7)} ms (${(answered / base).toFixed(1)}x node -e 0)  ${String(r.status).padStart(6)}  ${met ? 'yes' : 'NO'}`,
  );
}
process.exitCode = failed ? 1 : 0;
