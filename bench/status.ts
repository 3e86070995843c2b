/**
 * npm run bench:status — the status page for 50 probes with 90 days of history: the model (statusOf) and the HTML
 * (renderPage) per page, median of 30 after 5 warm-ups, against the cheapest way to put the same data on the wire in
 * the same run (JSON.stringify of the model: the reference), with peak RSS; then, for information, one read of the 50
 * state documents from a file bucket (readStatus). Target: under 50 ms per page.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { statusOf, type StatusState } from '../shared/status/model';
import { renderPage } from '../shared/status/render';
import { readStatus } from '../shared/status/plan';
import { loadConfig } from '../shared/config/load';
import { openStore } from '../shared/storage/open';
import { probeKeys, stateDocument } from '../shared/probes/state';
import { HOUR } from '../shared/probes/slo';
import { probeHistory } from '../test/support/status-history';

const PROBES = Number(process.env.BENCH_STATUS_PROBES ?? 50);
const RUNS = 30;
const now = new Date();
const T = now.getTime();

// 50 probes, 90 days each: a bad hour here and there, a few slow days, one probe down now
const states = Array.from({ length: PROBES }, (_, i) =>
  probeHistory({
    name: `probe-${String(i).padStart(2, '0')}`,
    now,
    status: i === 7 ? 'down' : 'up',
    hour: (t) => {
      const h = Math.floor((T - t) / HOUR);
      return { n: 60, f: (h * 7 + i) % 211 === 0 ? 5 : 0, latencyMs: 20 + ((h + i * 13) % 9) * 30 };
    },
  }),
);
const state: StatusState = {
  env: 'bench',
  title: 'Missing Table status',
  refreshSeconds: 60,
  internalHosts: ['*.internal', 'localhost'],
  hiddenHosts: [],
  probes: states.map((s) => ({
    name: s.probe,
    kind: 'http',
    intervalSeconds: 60,
    objective: 99.9,
    latencyObjectiveMs: 200,
    state: s,
  })),
  backups: Array.from({ length: 40 }, (_, d) => ({
    id: `b${d}`,
    kind: 'complete' as const,
    time: new Date(T - d * 24 * HOUR).toISOString(),
    safety: false,
    bytes: 2e8 + d * 1e6,
    tables: 40,
    rows: 1e6,
  })),
  backupMaxAgeHours: 26,
  verifyMaxAgeDays: 8,
  retention: { policy: 'within 30 days, monthly 12', minKeep: 3 },
  incidents: [],
  silences: [],
  maintenance: [{ name: 'monthly', cron: '0 2 * * 0#1', durationMinutes: 120, timeZone: 'America/New_York' }],
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const model: number[] = [];
const render: number[] = [];
const reference: number[] = [];
const cpu: number[] = [];
let html = '';
let json = '';
for (let run = 0; run < RUNS + 5; run++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const m = statusOf(state, now);
  const t1 = performance.now();
  html = renderPage(m);
  const t2 = performance.now();
  const c1 = process.cpuUsage(c0);
  json = JSON.stringify(m);
  const t3 = performance.now();
  if (run >= 5) {
    model.push(t1 - t0);
    render.push(t2 - t1);
    reference.push(t3 - t2);
    cpu.push((c1.user + c1.system) / 1000);
  }
}
const page = model.map((m, i) => m + render[i]!);
const perPage = median(page);
console.log(
  `status page, ${PROBES} probes x 90 days: ${perPage.toFixed(1)} ms per page, CPU ${median(cpu).toFixed(1)} ms (model ${median(model).toFixed(1)} ms + HTML ${median(render).toFixed(1)} ms; target < 50 ms); load average ${loadavg()[0]!.toFixed(1)}; ` +
    `reference JSON.stringify of the model ${median(reference).toFixed(1)} ms (page = ${(perPage / median(reference)).toFixed(1)}x); ` +
    `HTML ${(html.length / 1024).toFixed(0)} KiB, JSON ${(json.length / 1024).toFixed(0)} KiB; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
);

// for information: reading the 50 state documents (and an empty catalog) from a file bucket
const dir = mkdtempSync(join(tmpdir(), 'mt-bench-status-'));
try {
  const store = openStore(`file://${dir}`);
  for (const s of states)
    await store.writeJson(probeKeys.state('bench', s.probe), stateDocument(s), { ifGeneration: null });
  writeFileSync(
    join(dir, 'ops.json'),
    JSON.stringify({ probes: states.map((s) => ({ name: s.probe, url: 'http://127.0.0.1:9/' })) }),
  );
  const config = loadConfig({ BACKUP_BUCKET: `file://${dir}`, OPS_ENV: 'bench', OPS_CONFIG: join(dir, 'ops.json') });
  const reads: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await readStatus({ config, store, env: 'bench' }, now);
    reads.push(performance.now() - t0);
  }
  const bytes = JSON.stringify(states[0]).length;
  console.log(
    `reading the ${PROBES} state documents (${(bytes / 1024).toFixed(0)} KiB each) from a file bucket: ${median(reads).toFixed(0)} ms (median of 5)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (perPage >= 50) process.exitCode = 1;
