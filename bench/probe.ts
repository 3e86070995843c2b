/**
 * npm run bench:probe — 200 local targets in one run (answering after 0-100 ms; concurrency 200, as the operator file
 * allows up to 500), state recorded in the file store, against the targets' own slowest latency (target: wall time
 * <= 1.5x), beside the same 200 requests made with bare node:http and no state (what the machine allows right now);
 * our total time against `curl -w '%{time_total}'` on the same endpoint (target: median difference <= 2 ms; each
 * pair after a discarded warm-up request, the order alternating, since whichever runs right after the previous
 * curl process pays for it); peak RSS of a run of 200 and of 2,000 targets at concurrency 200, each in its own
 * process (target: flat). The targets are served by a separate process, so they do not share the prober's event loop.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { loadavg } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProbeSchema } from '../shared/probes/config';
import { runProbes } from '../shared/probes/run';
import { probeHttp } from '../shared/probes/http';
import { openStore } from '../shared/storage/open';

const SERVER = `
const http = require('node:http');
const s = http.createServer((req, res) => {
  const ms = Number(new URL(req.url, 'http://x').searchParams.get('ms') || 0);
  setTimeout(() => { res.writeHead(200, {'content-type': 'application/json'}); res.end('{"status":"healthy"}'); }, ms);
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;

async function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve) => child.stdout!.once('data', (d) => resolve(String(d).trim())));
  return { child, url: `http://127.0.0.1:${port}` };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function oneRun(
  url: string,
  count: number,
  slowestMs: number,
  concurrency: number,
): Promise<{ wallMs: number; passed: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mt-bench-probe-'));
  try {
    const store = openStore(`file://${dir}`);
    const probes = Array.from({ length: count }, (_, i) =>
      ProbeSchema.parse({
        name: `t${i}`,
        url: `${url}/t/${i}?ms=${Math.round((i / Math.max(1, count - 1)) * slowestMs)}`,
        timeoutMs: 10_000,
      }),
    );
    const t0 = performance.now();
    const run = await runProbes(store, 'bench', probes, { all: true, concurrency });
    return { wallMs: performance.now() - t0, passed: run.passed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same targets with bare node:http (a fresh connection each, no conditions, no state): the machine's floor. */
async function bareRun(url: string, count: number, slowestMs: number): Promise<number> {
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(
        `${url}/t/${i}?ms=${Math.round((i / Math.max(1, count - 1)) * slowestMs)}`,
        { agent: false },
        (res) => {
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
  const t0 = performance.now();
  await Promise.all(Array.from({ length: count }, (_, i) => one(i)));
  return performance.now() - t0;
}

const load = () => loadavg()[0]!.toFixed(1);

const child = process.env.BENCH_PROBE_CHILD;
if (child) {
  // a child: one run of N targets, then its peak RSS
  const { child: server, url } = await startServer();
  const r = await oneRun(url, Number(child), 100, 200);
  server.kill();
  (globalThis as { gc?: () => void }).gc?.();
  // the live set once the run is over (outcomes included) beside the peak, which follows the garbage collector's pace
  console.log(
    JSON.stringify({
      ...r,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      liveHeapMb: process.memoryUsage().heapUsed / 2 ** 20,
    }),
  );
} else {
  const { child: server, url } = await startServer();
  try {
    await oneRun(url, 20, 0, 20); // warm-up
    await bareRun(url, 20, 0);
    const runs = [];
    const bare = [];
    for (let i = 0; i < 3; i++) {
      runs.push(await oneRun(url, 200, 100, 200));
      bare.push(await bareRun(url, 200, 100));
    }
    const wall = median(runs.map((r) => r.wallMs));
    const floor = median(bare);
    console.log(
      `200 targets (0-100 ms each), concurrency 200: wall ${wall.toFixed(0)} ms = ${(wall / 100).toFixed(2)}x the slowest target (target <= 1.5x); ` +
        `bare node:http, no state: ${floor.toFixed(0)} ms = ${(floor / 100).toFixed(2)}x; ours / bare ${(wall / floor).toFixed(2)}x; ${runs[0]!.passed} passed; load average ${load()}`,
    );

    const ours: number[] = [];
    const curls: number[] = [];
    const probeOnce = async () =>
      (await probeHttp({ url: `${url}/curl`, method: 'GET', headers: {}, timeoutMs: 5000, maxRedirects: 0 })).timings
        .totalMs;
    const curlOnce = () =>
      Number(
        spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{time_total}', `${url}/curl`], { encoding: 'utf8' }).stdout,
      ) * 1000;
    for (let i = 0; i < 21; i++) {
      await probeOnce(); // warm-up: the first request after a curl process pays for it, whoever makes it
      if (i % 2 === 0) {
        ours.push(await probeOnce());
        curls.push(curlOnce());
      } else {
        curls.push(curlOnce());
        await probeOnce();
        ours.push(await probeOnce());
      }
    }
    const diffs = ours.map((o, i) => o - curls[i]!);
    console.log(
      `total time vs curl -w %{time_total} (21 pairs): ours median ${median(ours).toFixed(2)} ms, curl ${median(curls).toFixed(2)} ms, median difference ${median(diffs).toFixed(2)} ms (target <= 2 ms); load average ${load()}`,
    );

    const self = fileURLToPath(import.meta.url);
    const runChild = (n: number) => {
      const r = spawnSync(
        process.execPath,
        ['--expose-gc', fileURLToPath(new URL('../bin/run-ts.js', import.meta.url)), self],
        { env: { ...process.env, BENCH_PROBE_CHILD: String(n) }, encoding: 'utf8' },
      );
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
        wallMs: number;
        passed: number;
        maxRssMb: number;
        liveHeapMb: number;
      };
    };
    const small = runChild(200);
    const large = runChild(2000);
    console.log(
      `peak RSS at concurrency 200: ${small.maxRssMb.toFixed(0)} MB at 200 targets, ${large.maxRssMb.toFixed(0)} MB at 2,000 (${(((large.maxRssMb - small.maxRssMb) / small.maxRssMb) * 100).toFixed(1)}%); ` +
        `live heap after the run ${small.liveHeapMb.toFixed(1)} -> ${large.liveHeapMb.toFixed(1)} MB; 2,000 took ${large.wallMs.toFixed(0)} ms (${large.passed} passed); load average ${load()}`,
    );
  } finally {
    server.kill();
  }
}
