/**
 * npm run bench:probe — 200 local targets in one run (answering after 0-100 ms; concurrency 200, as the operator file
 * allows up to 500), state recorded in the file store, against the targets' own slowest latency (target: wall time
 * <= 1.5x), both the first run in a new bucket (which creates the 200 state documents) and the runs after it in the
 * same bucket (what the minute schedule does all day), the latter also in a warm process (after a dozen runs, once V8
 * has compiled the run's code), beside the same 200 requests made with bare node:http and no
 * state (what the machine allows right now) and beside the same runs without the state cache (each document read);
 * for information, the warm process with the targets spread to 200 ms (the
 * app's API p95 objective);
 * our total time against `curl -w '%{time_total}'` on the same endpoint (target: median difference <= 2 ms; each
 * pair after a discarded warm-up request, the order alternating, since whichever runs right after the previous
 * curl process pays for it); peak RSS of a run of 200 and of 2,000 targets at concurrency 200, each in its own
 * process started as the probe function is deployed (with the heap's ceiling for its memory: shared/infra/heap.ts),
 * first in warm processes (each child runs 200 targets five times first: the schedule's process; target: flat), then
 * in new ones, each beside bare node:http making the same requests the same way (the runtime's own growth), with the
 * heap's young and old spaces; 10,000 targets at the same concurrency (bounded memory shows as a plateau from 2,000
 * to 10,000); and 2,000 and 10,000 without the ceiling (V8's default from this machine's memory). The targets are
 * served by a separate process, so they do not share the prober's event loop. Also, for information: the 200 targets with 90 days
 * of state each (the steady state of the schedule), the state's size per probe, and the CPU and bytes allocated per
 * sample by the state work alone in that steady state (in a child whose young generation holds it all).
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
import { getHeapSpaceStatistics } from 'node:v8';
import { existsSync, statSync } from 'node:fs';
import { lastResult, parseState, probeKeys, stateDocument, stepSample, type ProbeState } from '../shared/probes/state';
import { historyKey } from '../shared/probes/history';
import { latencyBucket, MINUTE } from '../shared/probes/slo';
import { PackedMinutes } from '../shared/probes/packed-minutes';
import { asVersion1, probeHistory } from '../test/support/status-history';
import { SPARE_MIN_AGE_MS } from '../shared/storage/file-json';
import { pool } from '../shared/pool';
import { loadTopology } from '../shared/infra/topology';
import { heapCeilingMiB } from '../shared/infra/heap';

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

/** `count` probes of the targets, answering after 0 to `slowestMs` ms (the slowest last). */
const targetProbes = (url: string, count: number, slowestMs: number) =>
  Array.from({ length: count }, (_, i) =>
    ProbeSchema.parse({
      name: `t${i}`,
      url: `${url}/t/${i}?ms=${Math.round((i / Math.max(1, count - 1)) * slowestMs)}`,
      timeoutMs: 10_000,
    }),
  );

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Longer than SPARE_MIN_AGE_MS: runs spaced as the schedule spaces them (a minute), as far as the refill goes. */
const pause = () => new Promise((r) => setTimeout(r, SPARE_MIN_AGE_MS + 100));

async function oneRun(
  url: string,
  count: number,
  slowestMs: number,
  concurrency: number,
  parent = tmpdir(),
): Promise<{ wallMs: number; passed: number }> {
  const dir = mkdtempSync(join(parent, 'mt-bench-probe-'));
  try {
    const store = openStore(`file://${dir}`);
    const probes = targetProbes(url, count, slowestMs);
    const t0 = performance.now();
    const run = await runProbes(store, 'bench', probes, { all: true, concurrency });
    return { wallMs: performance.now() - t0, passed: run.passed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs in one bucket, as the schedule makes them: the first creates each probe's state document, the second keeps its
 * first spare; the five after are timed (each state write then fills a spare: no file made).
 */
async function repeatedRuns(url: string, count: number, slowestMs: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'mt-bench-probe-again-'));
  try {
    const store = openStore(`file://${dir}`);
    const probes = targetProbes(url, count, slowestMs);
    const walls: number[] = [];
    for (let i = 0; i < 7; i++) {
      await pause();
      const t0 = performance.now();
      const run = await runProbes(store, 'bench', probes, { all: true, concurrency: 200 });
      if (run.passed !== count) throw new Error(`run ${i + 1}: ${run.passed} of ${count} passed`);
      if (i >= 2) walls.push(performance.now() - t0);
    }
    return walls;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The schedule's steady state in a process that has run for a while: the probe function's instance (or `npm start`)
 * runs every minute, and V8 keeps compiling the run's functions on background threads for its first ten runs or so
 * (on 2 cores shared with the targets' server, that CPU is taken from the run). `warmups` runs in one bucket first
 * (close together: they only warm the code), then `timed` runs spaced as the schedule spaces them, each followed by
 * the bare node:http run of the same targets in the same process (the machine's floor at that moment).
 */
async function warmRuns(
  url: string,
  count: number,
  slowestMs: number,
  warmups: number,
  timed: number,
): Promise<{ ours: number[]; uncached: number[]; bare: number[]; fresh: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'mt-bench-probe-warm-'));
  const other = mkdtempSync(join(tmpdir(), 'mt-bench-probe-warm-'));
  try {
    const store = openStore(`file://${dir}`);
    const uncachedStore = openStore(`file://${other}`);
    const probes = targetProbes(url, count, slowestMs);
    const ours: number[] = [];
    const uncached: number[] = [];
    const bare: number[] = [];
    // each step: ours, then ours reading every state document (no state cache, in a bucket of its own), then bare
    const timedRun = async (i: number, s: typeof store, stateCache: boolean) => {
      const t0 = performance.now();
      const run = await runProbes(s, 'bench', probes, { all: true, concurrency: 200, stateCache });
      const wall = performance.now() - t0;
      if (run.passed !== count) throw new Error(`warm run ${i + 1}: ${run.passed} of ${count} passed`);
      return wall;
    };
    for (let i = 0; i < warmups + timed; i++) {
      if (i >= warmups) await pause();
      const wall = await timedRun(i, store, true);
      const withoutCache = await timedRun(i, uncachedStore, false);
      if (i >= warmups) {
        ours.push(wall);
        uncached.push(withoutCache);
        bare.push(await bareRun(url, count, slowestMs));
      }
    }
    // and, in the same warm process, the first run in a new bucket (what creating the 200 documents costs once the
    // code is compiled)
    const fresh = [];
    for (let i = 0; i < 3; i++) fresh.push((await oneRun(url, count, slowestMs, 200)).wallMs);
    return { ours, uncached, bare, fresh };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(other, { recursive: true, force: true });
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

/** The same as bareRun, at most `concurrency` requests at once (as the probe run bounds them). */
async function boundedBareRun(url: string, count: number, slowestMs: number, concurrency: number): Promise<number> {
  const t0 = performance.now();
  await pool(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    (i) =>
      new Promise<void>((resolve, reject) => {
        const ms = Math.round((i / Math.max(1, count - 1)) * slowestMs);
        const req = http.request(`${url}/t/${i}?ms=${ms}`, { agent: false }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      }),
  );
  return performance.now() - t0;
}

/**
 * 200 targets whose state already holds a long life (90 days of hours, 6 hours of minutes, 20 results), written as
 * the one-document layout of before the split: the first run moves each probe's closed hours into its history (once),
 * the next ones are the steady state of the per-minute schedule (only the small hot documents read and written).
 */
async function steadyRuns(
  url: string,
  count: number,
  slowestMs: number,
): Promise<{ first: number; steady: number[]; oldBytes: number; hotBytes: number; historyBytes: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mt-bench-probe-steady-'));
  try {
    const store = openStore(`file://${dir}`);
    const now = new Date();
    const probes = targetProbes(url, count, slowestMs);
    for (const p of probes) {
      const old = steadyState(p.name, now);
      // as version 1 wrote it (the minutes as bucket objects): the first run also rewrites it as version 2
      await store.writeJson(probeKeys.state('bench', p.name), asVersion1(old), { ifGeneration: null });
    }
    const size = (key: string) => statSync(join(dir, key)).size;
    const oldBytes = size(probeKeys.state('bench', 't0'));
    const timed = async () => {
      await pause(); // the schedule's runs are a minute apart: each state document's spare is refilled (file-json.ts)
      const t0 = performance.now();
      const run = await runProbes(store, 'bench', probes, { all: true, concurrency: 200 });
      if (run.passed !== count) throw new Error(`steady run: ${run.passed} of ${count} passed`);
      return performance.now() - t0;
    };
    const first = await timed();
    await timed(); // the write that keeps each document's first spare
    const steady = [await timed(), await timed(), await timed()];
    return {
      first,
      steady,
      oldBytes,
      hotBytes: size(probeKeys.state('bench', 't0')),
      historyBytes: size(historyKey('bench', 't0')),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A probe's state after 90 days of the per-minute schedule: 90 days of hours, 6 hours of minutes, 20 results. */
function steadyState(name: string, now: Date): ProbeState {
  const old: ProbeState = probeHistory({
    name,
    now,
    hour: (t) => ({ n: 60, f: t % 86_400_000 === 0 ? 2 : 0, latencyMs: 30 + (t % 7) * 10 }),
  });
  const h = latencyBucket(40);
  old.minutes = PackedMinutes.from(
    Array.from({ length: 360 }, (_, k) => ({
      t: Math.floor(now.getTime() / MINUTE) * MINUTE - (360 - k) * MINUTE,
      n: 1,
      f: 0,
      m: 0,
      h: Array.from({ length: h + 1 }, (_, j) => (j === h ? 1 : 0)),
    })),
  );
  old.recent = Array.from({ length: 20 }, () => old.recent[0]!);
  return old;
}

const load = () => loadavg()[0]!.toFixed(1);

/**
 * A child: the state work of one probe's sample in the steady state (90 days of life: the hot document parsed,
 * decoded, stepped, encoded and serialised, as a run does between its read and its write, without the store), its CPU
 * per sample and the bytes it allocates (the young generation is made large enough that no collection runs during
 * the count, so the heap's growth is the allocation).
 */
function stateStepChild(): void {
  const now = new Date();
  const old = steadyState('t0', now);
  const ctx = { env: 'bench', objective: 99.9, intervalSeconds: 60, failureThreshold: 3, successThreshold: 2 };
  const at = now.getTime();
  const result = { ...lastResult(old)!, at: new Date(at).toISOString(), latencyMs: 40 };
  let text = JSON.stringify(stateDocument(stepSample(old, result, ctx, []).state));
  const one = () => {
    const { state } = parseState('t0', JSON.parse(text), result.at);
    text = JSON.stringify(stateDocument(stepSample(state, result, ctx, undefined).state));
  };
  for (let i = 0; i < 2000; i++) one(); // optimised code, as in a long-running process
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage().heapUsed;
  const counted = 100;
  for (let i = 0; i < counted; i++) one();
  const allocated = (process.memoryUsage().heapUsed - before) / counted;
  const timed = 2000;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < timed; i++) one();
  const cpu = process.cpuUsage(cpu0);
  console.log(
    JSON.stringify({ hotBytes: text.length, allocatedKiB: allocated / 1024, cpuUs: (cpu.user + cpu.system) / timed }),
  );
}

const child = process.env.BENCH_PROBE_CHILD;
if (process.env.BENCH_PROBE_STEP) stateStepChild();
else if (child) {
  // a child: one run of N targets, then its peak RSS
  const { child: server, url } = await startServer();
  const peak = { young: 0, old: 0 };
  const space = (name: string) =>
    (getHeapSpaceStatistics().find((s) => s.space_name === name)?.space_size ?? 0) / 2 ** 20;
  const sampler = setInterval(() => {
    peak.young = Math.max(peak.young, space('new_space'));
    peak.old = Math.max(peak.old, space('old_space'));
  }, 10);
  // a warm process (BENCH_PROBE_WARMUPS runs of 200 targets first, each in a new bucket): the peak then covers the
  // warm-up too, the same in every child, so what a larger run adds shows as the difference
  const bare = process.env.BENCH_PROBE_BARE === '1';
  for (let i = 0; i < Number(process.env.BENCH_PROBE_WARMUPS ?? 0); i++)
    await (bare ? boundedBareRun(url, 200, 100, 200) : oneRun(url, 200, 100, 200));
  const r = bare
    ? { wallMs: await boundedBareRun(url, Number(child), 100, 200), passed: Number(child) }
    : await oneRun(url, Number(child), 100, 200);
  clearInterval(sampler);
  server.kill();
  (globalThis as { gc?: () => void }).gc?.();
  // the live set once the run is over (outcomes included) beside the peak, which follows the garbage collector's pace
  console.log(
    JSON.stringify({
      ...r,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      liveHeapMb: process.memoryUsage().heapUsed / 2 ** 20,
      // the heap's young and old spaces at their largest during the run: where the growth went
      newSpaceMb: peak.young,
      oldSpaceMb: peak.old,
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
    const again = await repeatedRuns(url, 200, 100);
    // the same with the bucket on tmpfs, where creating a file (each JSON write creates its temp file) costs some
    // 20 us instead of the ~1 ms it costs on this machine's disk
    const shm: number[] | undefined = existsSync('/dev/shm') ? [] : undefined;
    if (shm) for (let i = 0; i < 3; i++) shm.push((await oneRun(url, 200, 100, 200, '/dev/shm')).wallMs);
    console.log(
      `200 targets (0-100 ms each), concurrency 200, the first run in a new bucket (creates 200 state documents): wall ${wall.toFixed(0)} ms = ${(wall / 100).toFixed(2)}x the slowest target (target <= 1.5x); ` +
        `bare node:http, no state: ${floor.toFixed(0)} ms = ${(floor / 100).toFixed(2)}x; ours / bare ${(wall / floor).toFixed(2)}x; ${runs[0]!.passed} passed; load average ${load()}`,
    );
    console.log(
      `the same 200, every run after the first in one bucket (runs ${SPARE_MIN_AGE_MS + 100} ms apart, as the minute schedule spaces them): wall ${median(again).toFixed(0)} ms = ${(median(again) / 100).toFixed(2)}x (target <= 1.5x; runs ${again.map((w) => w.toFixed(0)).join(', ')}); ours / bare ${(median(again) / floor).toFixed(2)}x; load average ${load()}`,
    );
    if (shm)
      console.log(
        `the same with the bucket on tmpfs (/dev/shm): wall ${median(shm).toFixed(0)} ms = ${(median(shm) / 100).toFixed(2)}x; ours / bare ${(median(shm) / floor).toFixed(2)}x; load average ${load()}`,
      );

    const warm = await warmRuns(url, 200, 100, 12, 9);
    const within = warm.ours.filter((w) => w <= 150).length;
    const ms = (xs: number[]) => xs.map((w) => w.toFixed(0)).join(', ');
    console.log(
      `the same 200 in a warm process (after 12 runs: the schedule's process after its first minutes), runs spaced as the schedule spaces them: wall median ${median(warm.ours).toFixed(0)} ms = ${(median(warm.ours) / 100).toFixed(2)}x, ${within} of ${warm.ours.length} runs <= 1.5x (runs ${ms(warm.ours)}); ` +
        `bare node:http right after each: median ${median(warm.bare).toFixed(0)} ms = ${(median(warm.bare) / 100).toFixed(2)}x (${ms(warm.bare)}); load average ${load()}`,
    );
    console.log(
      `for comparison, the same warm runs without the state cache (each state document read, as a run in a new process does): wall median ${median(warm.uncached).toFixed(0)} ms = ${(median(warm.uncached) / 100).toFixed(2)}x, ${warm.uncached.filter((w) => w <= 150).length} of ${warm.uncached.length} runs <= 1.5x (runs ${ms(warm.uncached)})`,
    );
    console.log(
      `the first run in a new bucket in that warm process (creates the 200 state documents): wall median ${median(warm.fresh).toFixed(0)} ms = ${(median(warm.fresh) / 100).toFixed(2)}x (runs ${ms(warm.fresh)}); load average ${load()}`,
    );
    // for information: the same in targets spread to 200 ms, Missing Table's API p95 objective (the 1.5x target is
    // judged on the 0-100 ms spread above, where the run's own work weighs most)
    const wide = await warmRuns(url, 200, 200, 3, 9);
    console.log(
      `for information, the same warm process with the targets answering in 0-200 ms (the app's API p95 objective): wall median ${median(wide.ours).toFixed(0)} ms = ${(median(wide.ours) / 200).toFixed(2)}x the slowest (runs ${ms(wide.ours)}); bare node:http ${(median(wide.bare) / 200).toFixed(2)}x; load average ${load()}`,
    );

    const st = await steadyRuns(url, 200, 100);
    const steadyMs = median(st.steady);
    console.log(
      `the same 200 with 90 days of state each (steady state, after the one run that moved the old documents' closed hours to their history: ${st.first.toFixed(0)} ms): wall ${steadyMs.toFixed(0)} ms = ${(steadyMs / 100).toFixed(2)}x; ` +
        `state per probe: one document ${(st.oldBytes / 1024).toFixed(0)} KiB before, now hot ${(st.hotBytes / 1024).toFixed(0)} KiB (every sample) + history ${(st.historyBytes / 1024).toFixed(0)} KiB (when an hour closes); load average ${load()}`,
    );
    const stepRun = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '--min-semi-space-size=128',
        '--max-semi-space-size=128',
        fileURLToPath(new URL('../bin/run-ts.js', import.meta.url)),
        fileURLToPath(import.meta.url),
      ],
      { env: { ...process.env, BENCH_PROBE_STEP: '1' }, encoding: 'utf8' },
    );
    const stepFigures = JSON.parse(stepRun.stdout.trim().split('\n').at(-1)!) as {
      hotBytes: number;
      allocatedKiB: number;
      cpuUs: number;
    };
    console.log(
      `state work per sample in that steady state (parse, read, step, write, serialise the hot document of ${(stepFigures.hotBytes / 1024).toFixed(1)} KiB; no store): ` +
        `CPU ${stepFigures.cpuUs.toFixed(0)} us, allocated ${stepFigures.allocatedKiB.toFixed(0)} KiB; load average ${load()}`,
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
    const runChild = (n: number, flags: string[] = [], warmups = 0, bare = false) => {
      const r = spawnSync(
        process.execPath,
        [...flags, '--expose-gc', fileURLToPath(new URL('../bin/run-ts.js', import.meta.url)), self],
        {
          env: {
            ...process.env,
            BENCH_PROBE_CHILD: String(n),
            BENCH_PROBE_WARMUPS: String(warmups),
            BENCH_PROBE_BARE: bare ? '1' : '0',
          },
          encoding: 'utf8',
        },
      );
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
        wallMs: number;
        passed: number;
        maxRssMb: number;
        liveHeapMb: number;
        newSpaceMb: number;
        oldSpaceMb: number;
      };
    };
    const pct = (a: number, b: number) => (((b - a) / a) * 100).toFixed(1);
    // each child runs as the probe function is deployed: with the heap's ceiling for its memory (infra/, heap.ts)
    const memory = loadTopology().functions.find((f) => f.name === 'probe')!.memory;
    const deployed = [`--max-old-space-size=${heapCeilingMiB(memory)}`];
    const as = `as deployed (${memory}: ${deployed[0]})`;
    // warm processes: each child runs 200 targets five times first (the schedule's process after its first minutes)
    const warmSmall = runChild(200, deployed, 5);
    const warmLarge = runChild(2000, deployed, 5);
    const warmBareSmall = runChild(200, deployed, 5, true);
    const warmBareLarge = runChild(2000, deployed, 5, true);
    console.log(
      `peak RSS at concurrency 200, ${as}, in warm processes (five runs of 200 targets first, in each child; target: flat): ` +
        `${warmSmall.maxRssMb.toFixed(0)} MB at 200 targets, ${warmLarge.maxRssMb.toFixed(0)} MB at 2,000 (${pct(warmSmall.maxRssMb, warmLarge.maxRssMb)}%); ` +
        `old space ${warmSmall.oldSpaceMb.toFixed(0)} -> ${warmLarge.oldSpaceMb.toFixed(0)} MB; ` +
        `bare node:http the same way: ${warmBareSmall.maxRssMb.toFixed(0)} -> ${warmBareLarge.maxRssMb.toFixed(0)} MB (${pct(warmBareSmall.maxRssMb, warmBareLarge.maxRssMb)}%); load average ${load()}`,
    );
    const small = runChild(200, deployed);
    const large = runChild(2000, deployed);
    const bareSmall = runChild(200, deployed, 0, true);
    const bareLarge = runChild(2000, deployed, 0, true);
    console.log(
      `the same in new processes: ${small.maxRssMb.toFixed(0)} MB -> ${large.maxRssMb.toFixed(0)} MB (${pct(small.maxRssMb, large.maxRssMb)}%); ` +
        `live heap after the run ${small.liveHeapMb.toFixed(1)} -> ${large.liveHeapMb.toFixed(1)} MB; heap spaces: young ${small.newSpaceMb.toFixed(0)} -> ${large.newSpaceMb.toFixed(0)} MB, old ${small.oldSpaceMb.toFixed(0)} -> ${large.oldSpaceMb.toFixed(0)} MB; ` +
        `bare node:http in new processes (the runtime's own warm-up: its young generation grows during the longer run only): ${bareSmall.maxRssMb.toFixed(0)} -> ${bareLarge.maxRssMb.toFixed(0)} MB (${pct(bareSmall.maxRssMb, bareLarge.maxRssMb)}%); ` +
        `2,000 took ${large.wallMs.toFixed(0)} ms (${large.passed} passed); load average ${load()}`,
    );
    // the plateau: 10,000 targets at the same concurrency, five times the 2,000 (beyond what the run must hold at
    // once, what grows is what it keeps per probe: its configuration and its outcome)
    const huge = runChild(10_000, deployed);
    console.log(
      `plateau, ${as}: peak RSS at 10,000 targets ${huge.maxRssMb.toFixed(0)} MB against ${large.maxRssMb.toFixed(0)} MB at 2,000 (${pct(large.maxRssMb, huge.maxRssMb)}%); ` +
        `old space ${large.oldSpaceMb.toFixed(0)} -> ${huge.oldSpaceMb.toFixed(0)} MB; live heap after the run ${huge.liveHeapMb.toFixed(1)} MB; ` +
        `10,000 took ${huge.wallMs.toFixed(0)} ms (${huge.passed} passed); load average ${load()}`,
    );
    // without the ceiling, V8 sizes its heap from this machine's memory and lets the garbage the run promotes pile up
    // in the old generation: why every deployment sets one
    const unset2k = runChild(2000);
    const unset10k = runChild(10_000);
    console.log(
      `without the ceiling (V8's default from this machine's memory): 2,000 targets ${unset2k.maxRssMb.toFixed(0)} MB, 10,000 ${unset10k.maxRssMb.toFixed(0)} MB (${pct(unset2k.maxRssMb, unset10k.maxRssMb)}%); ` +
        `old space ${unset2k.oldSpaceMb.toFixed(0)} -> ${unset10k.oldSpaceMb.toFixed(0)} MB; live heap after the run ${unset10k.liveHeapMb.toFixed(1)} MB; load average ${load()}`,
    );
  } finally {
    server.kill();
  }
}
