/**
 * npm run bench:functions — per deployed function (each entry point of infra/, from its bundle under dist/): the
 * bundle's size (our JavaScript; npm packages are installed on deploy) and its cold start under the real
 * functions-framework: process start to ready (listening) and to the first answered request, median of 5, beside
 * `node -e 0` in the same run. Targets: bundle < 5 MB, first answer < 500 ms.
 *
 * Each function runs as deployed (deploy-commands' environment): its bucket is a gs:// bucket, served by the
 * protocol-level fake GCS (test/support/fake-gcs.ts) through the real @google-cloud/storage client, and its events go
 * to Pub/Sub (EVENTS_TOPIC) as deployed (over its REST API, shared/bus/pubsub-rest.ts), on the Pub/Sub emulator. The first request is
 * what the cloud sends it: the scheduled job's own payload for a trigger (the Scheduler's message as a Pub/Sub
 * CloudEvent), a real event for the fan-out, GET /status for the status page, and a GET (answered 405, after the
 * outbox flush every entry point does first) for the manual backup. The backup's database refuses connections (so
 * its first answer is the failure, with backup.failed published), as does the probes' target; no verify database.
 * Without the emulator (no jar or no java) it stops: measuring without the bus would be the flattering figure.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtCli, median, runMeasured } from './support';
import { loadTopology, type DeployedFunction } from '../shared/infra/topology';
import { startFakeGcs } from '../test/support/fake-gcs';
import { emulatorSkipReason, startPubSubEmulator } from '../test/support/pubsub-emulator';
import { freePort } from '../test/support/postgres-server';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
process.env.METADATA_SERVER_DETECTION = 'none'; // the emulator needs no credentials
const root = fileURLToPath(new URL('..', import.meta.url));
const skip = emulatorSkipReason();
if (skip) {
  console.error(`bench:functions needs the Pub/Sub emulator: ${skip}`);
  process.exit(1);
}
builtCli(); // builds dist/ (every function bundle, and the CLI)
const framework = join(root, 'node_modules', '@google-cloud', 'functions-framework', 'build', 'src', 'main.js');
const topology = loadTopology();
const PROJECT = 'mt-bench';
const [gcs, emulator] = await Promise.all([startFakeGcs(), startPubSubEmulator()]);
const env = {
  // what deploy-commands sets (shared/infra/deploy.ts runSettings), pointed at the fakes
  OPS_ENV: topology.project.env,
  BACKUP_BUCKET: 'gs://mt-bench-backups',
  EVENTS_TOPIC: topology.eventsTopic,
  GOOGLE_CLOUD_PROJECT: PROJECT,
  GCS_API_ENDPOINT: gcs.url,
  PUBSUB_EMULATOR_HOST: emulator.host,
  DATABASE_URL: 'postgres://mt@127.0.0.1:9/refused', // refuses connections at once
  APP_BASE_URL: 'http://127.0.0.1:9',
  OPS_CONFIG: '',
  LOG_LEVEL: 'warn',
  NODE_ENV: 'development', // the framework prints "Serving function" (our ready mark) only outside production
  METADATA_SERVER_DETECTION: 'none',
};

// Every topic exists, as `infra apply` makes it; a pull subscription counts what the functions publish.
const { PubSub } = await import('@google-cloud/pubsub');
const pubsub = new PubSub({ projectId: PROJECT, apiEndpoint: emulator.host, emulatorMode: true });
for (const t of topology.topics) await pubsub.createTopic(t.name);
const [published] = await pubsub.topic(topology.eventsTopic).createSubscription('bench-published');
const publishedTypes: string[] = [];
published.on('message', (m: { attributes: Record<string, string>; ack(): void }) => {
  publishedTypes.push(m.attributes.type ?? '?');
  m.ack();
});

function bundleBytes(dir: string): number {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** The first request the cloud sends a deployed function (see the header). */
interface FirstRequest {
  what: string;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
}

function pubsubCloudEvent(topic: string, data: unknown): Omit<FirstRequest, 'what'> {
  return {
    method: 'POST',
    path: '/',
    headers: {
      'content-type': 'application/json',
      'ce-id': '1',
      'ce-specversion': '1.0',
      'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
      'ce-source': `//pubsub.googleapis.com/projects/${PROJECT}/topics/${topic}`,
    },
    body: JSON.stringify({
      message: { data: Buffer.from(JSON.stringify(data)).toString('base64'), messageId: '1', attributes: {} },
      subscription: `projects/${PROJECT}/subscriptions/bench`,
    }),
  };
}

function firstRequest(d: DeployedFunction): FirstRequest {
  if (d.kind === 'http')
    return d.function === 'status'
      ? { what: 'GET /status', method: 'GET', path: '/status', headers: {}, body: '' }
      : { what: 'GET (405)', method: 'GET', path: '/', headers: {}, body: '' };
  const job = topology.jobs.find((j) => j.entryPoint === d.entryPoint);
  if (job) return { what: `${job.name} payload`, ...pubsubCloudEvent(job.topic, job.payload) };
  const time = new Date().toISOString();
  const event = {
    type: 'backup.succeeded',
    severity: 'info',
    env: topology.project.env,
    time,
    backupId: '20260101T030000Z',
    trigger: 'scheduled',
    bytes: 1,
    rows: 1,
    tables: 1,
    durationMs: 1,
  };
  return { what: 'a backup.succeeded event', ...pubsubCloudEvent(topology.eventsTopic, event) };
}

function send(p: number, r: FirstRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: p, method: r.method, path: r.path, headers: r.headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/** One cold start on port `p`: ms to ready, ms to the first answer, the answer's status. */
function coldStart(
  d: DeployedFunction,
  p: number,
  log = false,
): Promise<{ ready: number; answered: number; status: number }> {
  const { function: fn, entryPoint, kind } = d;
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
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (!out.includes('Serving function')) return;
      out = '';
      const ready = ms();
      send(p, firstRequest(d))
        .then(({ status, body }) => {
          const answered = ms();
          child.kill('SIGKILL');
          if (log) process.stderr.write(`${d.name}: ${status} ${body.slice(0, 200)}\n${err}`);
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

const node: number[] = [];
const results = new Map<string, { ready: number[]; answered: number[]; status: number }>();
try {
  for (let i = 0; i < RUNS; i++) {
    node.push((await runMeasured(process.execPath, ['-e', '0'])).ms);
    for (const d of topology.deployed) {
      process.stderr.write(`run ${i + 1}/${RUNS}: ${d.name}\n`);
      const r = await coldStart(d, await freePort(), i === 0 && process.env.BENCH_VERBOSE === '1');
      const entry = results.get(d.name) ?? { ready: [], answered: [], status: r.status };
      entry.ready.push(r.ready);
      entry.answered.push(r.answered);
      results.set(d.name, entry);
    }
  }
} finally {
  await new Promise((r) => setTimeout(r, 1000)); // the last published events reach the subscription
  await published.close();
  await pubsub.close();
  await Promise.all([gcs.close(), emulator.stop()]);
}
const base = median(node);
console.log(
  `functions: bundle size and cold start under the functions-framework, median of ${RUNS} (node -e 0: ${base.toFixed(0)} ms in the same run)`,
);
console.log(
  `  ${'function'.padEnd(24)} ${'bundle'.padStart(9)}  ${'ready'.padStart(7)}  ${'1st answer'.padStart(10)}  status  met (< 5 MB, < 500 ms)  first request`,
);
let failed = false;
const what = new Map(topology.deployed.map((d) => [d.name, firstRequest(d).what]));
for (const d of topology.deployed) {
  const r = results.get(d.name)!;
  const bytes = bundleBytes(join(root, 'dist', d.function));
  const answered = median(r.answered);
  const met = bytes < 5 * 1024 * 1024 && answered < 500;
  if (!met) failed = true;
  console.log(
    `  ${d.name.padEnd(24)} ${(bytes / 1024).toFixed(0).padStart(6)} KiB  ${median(r.ready).toFixed(0).padStart(4)} ms  ${answered.toFixed(0).padStart(7)} ms (${(answered / base).toFixed(1)}x node -e 0)  ${String(r.status).padStart(6)}  ${met ? 'yes' : 'NO'}  ${what.get(d.name)}`,
  );
}
console.log(
  `  in all, the functions sent ${gcs.requests.length} requests to the fake GCS and published ${publishedTypes.length} events to Pub/Sub (${[...new Set(publishedTypes)].join(', ')})`,
);
process.exitCode = failed ? 1 : 0;
