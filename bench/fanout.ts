/**
 * npm run bench:fanout — the alert fan-out (issue 12's benchmark):
 *   1. 10,000 alerts through decode, normalise, route, mute and dedupe (the incident state in the bucket, compare-and-
 *      swap), delivery excluded (no channel configured: the outbox records each as off). Target: >= 5,000 alerts/s.
 *      Also the stages alone in memory (the CPU floor), and peak RSS of runs of 2,000 and 10,000 alerts, each in its
 *      own process (memory must not grow with the number of alerts).
 *   2. End to end: the Pub/Sub emulator -> the real functions-framework server running fanoutEvent -> the fake Slack:
 *      latency from publish to the webhook's receipt, p50/p95 (target: p95 < 500 ms), against the strongest reference
 *      in the same run: curl posting the same Slack payload to the same fake server.
 * The bucket is a folder under the OS temp dir (BENCH_TMP to change it). BENCH_FANOUT_RUNS (3) pipeline runs, median;
 * BENCH_FANOUT_SAMPLES (300) end-to-end alerts, about one a second (Slack's pace); BENCH_FANOUT_ONLY=e2e runs that part
 * alone. A step of the end-to-end part that gets no answer (BENCH_FANOUT_STEP_MS, 10 s) ends the run with one line
 * and exit code 1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { openStore } from '../shared/storage/open';
import { createLogger } from '../shared/log/logger';
import { RoutingSchema } from '../shared/alerts/config';
import { MaintenanceSectionSchema } from '../shared/maintenance/window';
import { decodeMessage } from '../shared/alerts/decode';
import { normalise } from '../shared/alerts/normalise';
import { route } from '../shared/alerts/route';
import { decide, type IncidentState } from '../shared/alerts/lifecycle';
import { fanout, muteReason, type FanoutDeps } from '../shared/alerts/pipeline';
import { describeEndToEnd, endToEnd, EndToEndFailure } from './fanout-e2e';
import { percentile as pct } from './support';

const quietLogger = () =>
  createLogger({ destination: new Writable({ write: (_c, _e, done) => done() }), pretty: false, level: 'warn' });
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');

/**
 * N Pub/Sub messages as the fan-out receives them: incidents of 500 fingerprints opening, repeating and closing
 * (suite events, probe alerts, Cloud Monitoring 1.2), info notices, and 1% poison.
 */
function messages(n: number): Array<{ data: string; messageId: string; lane: number }> {
  const t0 = Date.parse('2026-11-29T08:00:00Z');
  return Array.from({ length: n }, (_, i) => {
    const time = new Date(t0 + i * 1000).toISOString();
    const fp = i % 500;
    const round = Math.floor(i / 500);
    const status = round % 3 === 2 ? 'resolved' : 'firing';
    let event: unknown;
    // the incident a message belongs to decides its lane: one incident's messages in order, as an ordering key keeps them
    const lane = i % 4 < 2 ? fp : i % 4 === 2 ? 1000 : 1001;
    if (i % 100 === 99)
      return {
        data: Buffer.from('{"type":"backup.failed","reason":').toString('base64'),
        messageId: String(i + 1),
        lane,
      };
    switch (i % 4) {
      case 0:
        event = {
          type: 'alert',
          severity: fp % 2 ? 'warning' : 'critical',
          env: 'prod',
          time,
          status,
          fingerprint: `probe/prod/t${fp}`,
          title: `Probe t${fp} is down`,
          summary: 'status 503',
          evidence: ['[STATUS] == 200 (saw 503)'],
          labels: { probe: `t${fp}` },
          startsAt: new Date(t0 + round * 1000).toISOString(),
          ...(status === 'resolved' ? { endsAt: time } : {}),
          source: 'probe',
        };
        break;
      case 1:
        event = {
          version: '1.2',
          incident: {
            incident_id: `0.inc${fp}`,
            state: status === 'resolved' ? 'closed' : 'open',
            started_at: Math.floor(t0 / 1000) + round,
            ended_at: status === 'resolved' ? Math.floor(Date.parse(time) / 1000) : null,
            policy_name: `policy ${fp}`,
            condition_name: 'CPU',
            summary: 'CPU above 90%',
            url: 'https://console.cloud.google.com/monitoring/alerting/incidents/x',
            severity: fp % 3 ? 'Warning' : 'Critical',
            documentation: { content: 'Runbook: scale up', subject: `CPU high ${fp}` },
          },
        };
        break;
      case 2:
        event = {
          type: 'backup.succeeded',
          severity: 'info',
          env: 'prod',
          time,
          backupId: `b${i}`,
          trigger: 'scheduled',
          bytes: 1,
          rows: 1,
          tables: 1,
          durationMs: 10,
        };
        break;
      default:
        event =
          status === 'resolved'
            ? {
                type: 'retention.completed',
                severity: 'info',
                env: 'prod',
                time,
                kept: 3,
                removed: 0,
                orphansRemoved: 0,
                bytesFreed: 0,
                skipped: 0,
              }
            : { type: 'retention.failed', severity: 'warning', env: 'prod', time, reason: 'held' };
    }
    return { data: b64(event), messageId: String(i + 1), lane };
  });
}

/** The stages alone, in memory: decode, normalise, route, mute, decide. */
function stagesInMemory(msgs: ReturnType<typeof messages>): { ms: number; cpuMs: number } {
  const routing = RoutingSchema.parse({});
  const maintenance = MaintenanceSectionSchema.parse(undefined);
  const states = new Map<string, IncidentState>();
  const t = performance.now();
  const cpu = process.cpuUsage();
  for (const m of msgs) {
    const input = decodeMessage(m);
    if (input.kind === 'poison') continue;
    const now = new Date();
    for (const alert of normalise(input, 'prod').alerts) {
      const receivers = route(routing, alert);
      const mutedBy = alert.status === 'firing' ? muteReason({ routing, maintenance }, alert, now, []) : undefined;
      const d = decide(states.get(alert.fingerprint), alert, {
        now,
        messageId: m.messageId,
        repeatIntervalMs: 4 * 3_600_000,
        receivers,
        ...(mutedBy ? { mutedBy } : {}),
      });
      states.set(alert.fingerprint, d.state);
    }
  }
  return { ms: performance.now() - t, cpuMs: cpuMsSince(cpu) };
}

/** CPU time (user + system) this process used since `start`, in ms: on a shared machine, wall time is mostly waiting. */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** The real pipeline (fanout()), no channel configured, the state in a folder bucket; `concurrency` messages at once. */
async function pipeline(
  msgs: ReturnType<typeof messages>,
  concurrency: number,
): Promise<{ ms: number; cpuMs: number; transitions: number }> {
  const dir = mkdtempSync(join(process.env.BENCH_TMP ?? tmpdir(), 'mt-bench-fanout-'));
  try {
    const deps: FanoutDeps = {
      store: openStore(`file://${dir}`),
      env: 'prod',
      logger: quietLogger(),
      routing: RoutingSchema.parse({}),
      maintenance: MaintenanceSectionSchema.parse(undefined),
      channels: {},
      deadLetter: { publish: async () => {}, close: async () => {} },
    };
    // one lane per group of incidents, so messages of one incident keep their order (as an ordering key would)
    const lanes = Array.from({ length: concurrency }, (_, k) => msgs.filter((m) => m.lane % concurrency === k));
    let transitions = 0;
    const t = performance.now();
    const cpu = process.cpuUsage();
    await Promise.all(
      lanes.map(async (lane) => {
        for (const m of lane) {
          const r = await fanout(deps, decodeMessage(m));
          transitions += r.alerts.filter((a) => a.transition).length;
        }
      }),
    );
    return { ms: performance.now() - t, cpuMs: cpuMsSince(cpu), transitions };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The end-to-end part, printed; a step that got no answer is one line on stderr and exit code 1, never a hang. */
async function endToEndPart(): Promise<void> {
  try {
    const r = await endToEnd(Number(process.env.BENCH_FANOUT_SAMPLES ?? 300));
    if (r) for (const line of describeEndToEnd(r)) console.log(line);
  } catch (err) {
    if (!(err instanceof EndToEndFailure)) throw err;
    console.error(`end to end: FAILED: ${err.message}`);
    process.exitCode = 1;
  }
}

const loadAverage = async () =>
  `load average during the run: ${(await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`;

const CHILD = process.env.BENCH_FANOUT_CHILD;
if (process.env.BENCH_FANOUT_ONLY === 'e2e') {
  await endToEndPart();
  console.log(await loadAverage());
} else if (CHILD) {
  // a child: one pipeline run of N alerts, then its peak RSS
  const r = await pipeline(messages(Number(CHILD)), 8);
  console.log(JSON.stringify({ ...r, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
} else {
  const N = 10_000;
  const msgs = messages(N);
  stagesInMemory(messages(1000)); // warm-up
  const mem = [0, 1, 2].map(() => stagesInMemory(msgs));
  const memMs = pct(
    mem.map((r) => r.ms),
    50,
  );
  const memCpu = pct(
    mem.map((r) => r.cpuMs),
    50,
  );
  const rates = (ms: number, cpuMs: number) =>
    `${Math.round(N / (ms / 1000))} alerts/s wall, ${Math.round(N / (cpuMs / 1000))} alerts per CPU second`;
  console.log(
    `stages in memory (decode, normalise, route, mute, decide), ${N} alerts: ${memMs.toFixed(0)} ms wall, ${memCpu.toFixed(0)} ms CPU = ${rates(memMs, memCpu)} (median of 3)`,
  );
  await pipeline(messages(500), 8); // warm-up
  const runs = [];
  for (let i = 0; i < Number(process.env.BENCH_FANOUT_RUNS ?? 3); i++) runs.push(await pipeline(msgs, 8));
  const ms = pct(
    runs.map((r) => r.ms),
    50,
  );
  const cpuMs = pct(
    runs.map((r) => r.cpuMs),
    50,
  );
  const met = (rate: number) => (rate >= 5000 ? 'met' : 'NOT met');
  console.log(
    `pipeline with the state in a folder bucket, delivery excluded, ${N} alerts (${runs[0]!.transitions} transitions), 8 incidents at once: ${ms.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU = ${rates(ms, cpuMs)} (target >= 5,000/s: wall ${met(N / (ms / 1000))}, per CPU second ${met(N / (cpuMs / 1000))}); ${(cpuMs / memCpu).toFixed(1)}x the CPU of the stages in memory`,
  );
  const runner = fileURLToPath(new URL('../bin/run-ts.js', import.meta.url));
  const self = fileURLToPath(import.meta.url);
  const rss: Record<number, number> = {};
  for (const n of [2_000, 10_000]) {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [runner, self], {
        env: { ...process.env, BENCH_FANOUT_CHILD: String(n) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.on('error', reject);
      child.on('close', () => resolve(text));
    });
    rss[n] = (JSON.parse(out.trim().split('\n').at(-1)!) as { maxRssMb: number }).maxRssMb;
  }
  console.log(
    `peak RSS, pipeline run in its own process: 2,000 alerts ${rss[2000]!.toFixed(0)} MB, 10,000 alerts ${rss[10000]!.toFixed(0)} MB (${(((rss[10000]! - rss[2000]!) / rss[2000]!) * 100).toFixed(1)}%)`,
  );
  await endToEndPart();
  console.log(await loadAverage());
}
