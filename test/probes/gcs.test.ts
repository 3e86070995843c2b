/**
 * The probe job against GCS (the protocol-level fake of the JSON API): state documents written with
 * `ifGenerationMatch`, and the precondition conflicts (412) a concurrent run causes, retried by re-reading and
 * re-applying the sample, so no sample and no transition is ever lost or doubled.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTargets, type Targets } from '../support/probe-targets';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { configuredProbes, probeJob } from '../../shared/probes/job';
import { planProbes, readState } from '../../shared/probes/plan';
import { runPlanned, runProbes, WRITE_GRACE_MS } from '../../shared/probes/run';
import { reportProbes } from '../../shared/probes/report';
import { RETIRE_ANSWER_MS } from '../../shared/probes/retired';
import { openStore } from '../../shared/storage/open';
import type { Alert } from '../../shared/bus/events';

let targets: Targets;
let gcs: FakeGcs;
beforeAll(async () => {
  [targets, gcs] = await Promise.all([startTargets(), startFakeGcs()]);
});
afterAll(async () => {
  await Promise.all([targets.close(), gcs.close()]);
});
beforeEach(() => gcs.clearFailures());

let bucketN = 0;
/** A runtime whose bucket is a fresh bucket of the fake GCS. */
function runtimeWith(file: object) {
  const dir = tempDir('mt-probe-gcs-');
  const path = join(dir, 'ops.json');
  writeFileSync(path, JSON.stringify(file));
  const rt = testRuntime({ BACKUP_BUCKET: `file://${dir}/unused`, OPS_CONFIG: path, OPS_ENV: 'prod' });
  const bucket = `probe-bucket-${++bucketN}`;
  return {
    ...rt,
    bucket,
    store: openStore(`gs://${bucket}/ops`, {
      gcsApiEndpoint: gcs.url,
      gcsRetry: { maxRetries: 1, maxDelaySeconds: 1 },
    }),
  };
}

const minute = (i: number) => () => new Date(Date.parse('2026-11-29T10:00:00Z') + i * 60_000);
const stateWrites = (bucket: string) =>
  gcs.requests.filter(
    (r) =>
      r.method === 'POST' &&
      r.path.startsWith(`/upload/storage/v1/b/${bucket}/o`) &&
      decodeURIComponent(r.path).includes('.state/probes/'),
  );
const alerts = (rt: { bus: { published: Array<{ event: unknown }> } }) =>
  rt.bus.published.map((m) => m.event as Alert).map((a) => `${a.status} ${a.fingerprint}`);

describe('the probe job on GCS', () => {
  it('creates the state document with ifGenerationMatch=0, then swaps it generation by generation; fires once at the threshold', async () => {
    const rt = runtimeWith({ probes: [{ name: 'api', url: `${targets.url}/unhealthy` }] });
    for (const i of [0, 1, 2, 3]) await probeJob(rt, { all: true, now: minute(i) });
    expect(alerts(rt)).toEqual(['firing probe/prod/api']);
    const writes = stateWrites(rt.bucket).map((r) => new URL(r.path, 'http://x').searchParams.get('ifGenerationMatch'));
    expect(writes).toHaveLength(4);
    expect(writes[0]).toBe('0');
    expect(writes.slice(1).every((g) => g !== null && g !== '0')).toBe(true);
    const { state } = await readState(rt.store, 'prod', 'api', minute(4)().toISOString());
    expect(state).toMatchObject({
      status: 'down',
      samples: 4,
      consecutiveFailures: 4,
      incident: { fingerprint: 'probe/prod/api', startsAt: '2026-11-29T10:00:00.000Z' },
    });
  });

  it("a bucket that stops answering mid-run: the run still ends by its time limit (and the grace for its writes), each probe's answer said not recorded, no alert", async () => {
    const rt = runtimeWith({
      probes: [
        { name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 },
        { name: 'web', url: `${targets.url}/health` },
      ],
    });
    gcs.stallUploads({ single: true }); // the state writes are taken and never answered
    try {
      const started = performance.now();
      const run = await runProbes(rt.store, 'prod', configuredProbes(rt.config), {
        all: true,
        deadlineMs: 1_000,
        now: minute(0),
      });
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(1_000 + WRITE_GRACE_MS - 50);
      expect(took).toBeLessThan(1_000 + WRITE_GRACE_MS + 2_000); // not the store's own 60 s progress timeout
      // the targets answered before their writes stalled: their answers, passed and failed as they were, not recorded
      expect(run).toMatchObject({ passed: 1, failed: 1, skipped: 0, notRecorded: 2 });
      expect(run.outcomes.map((o) => [o.name, o.result.status])).toEqual([
        ['api', 503],
        ['web', 200],
      ]);
      for (const o of run.outcomes) {
        expect(o.skipped).toBeUndefined();
        expect(o.transition).toBeUndefined();
        expect(o.writeError).toMatch(/^not finished within the run's time limit \(1 s, and 3 s more for its state\)/);
      }
      await reportProbes(rt.bus, rt.logger, run, configuredProbes(rt.config));
      expect(alerts(rt)).toEqual([]);
    } finally {
      gcs.stallUploads(false);
    }
  }, 15_000);

  it(
    "the retire pass's listing of the states that does not answer (the scheduled run's first) holds back none of the run's alerts, and gives up in its bound",
    async () => {
      const rt = runtimeWith({ probes: [{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 }] });
      // the listing of the states (only the retire pass lists them) is taken and never answered; reads and writes answer
      gcs.stallAll({ pathIncludes: `prefix=ops/prod/.state/probes/` });
      try {
        const started = performance.now();
        let done = false;
        const job = probeJob(rt, { retire: true, now: minute(0) }).finally(() => (done = true));
        // the run's alert goes out as soon as its sample is recorded, not after the retire pass
        while (alerts(rt).length === 0 && performance.now() - started < 5_000)
          await new Promise((r) => setTimeout(r, 50));
        expect(alerts(rt)).toEqual(['firing probe/prod/api']);
        expect(done).toBe(false); // the retire pass is still waiting for its listing
        await job;
        const took = performance.now() - started;
        expect(took).toBeLessThan(RETIRE_ANSWER_MS + 3_000); // not the store's own 60 s progress timeout, and its retry
        expect(rt.logs.join('\n')).toContain(
          `listing the probes' states: the bucket gs://${rt.bucket}/ops did not answer within ${RETIRE_ANSWER_MS / 1000} s`,
        );
      } finally {
        gcs.stallAll(false);
      }
    },
    RETIRE_ANSWER_MS + 10_000,
  );

  it('a run whose state write meets 412 (another run wrote first) re-reads and re-applies its sample: the threshold it crosses on top still fires', async () => {
    const rt = runtimeWith({ probes: [{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 3 }] });
    const probes = configuredProbes(rt.config);
    await probeJob(rt, { all: true, now: minute(0) }); // 1 failure
    // run A reads the state (1 failure) ...
    const planA = await planProbes(rt.store, 'prod', probes, { all: true, now: minute(1)() });
    // ... run B probes and writes first (2 failures: below the threshold, nothing published) ...
    await probeJob(rt, { all: true, now: minute(1) });
    expect(alerts(rt)).toEqual([]);
    const before = stateWrites(rt.bucket).length;
    // ... then A's write is refused (412): from its stale read it saw 2 failures and nothing to publish, but on top
    // of B's document its sample is the third: the firing alert must come from A's retried write.
    const runA = await runPlanned(rt.store, 'prod', planA, { now: minute(1) });
    expect(stateWrites(rt.bucket).length - before).toBe(2); // refused once, then landed
    expect(runA.outcomes[0]!.writeError).toBeUndefined();
    expect(runA.outcomes[0]!.transition?.kind).toBe('fire');
    await reportProbes(rt.bus, rt.logger, runA, probes);
    expect(alerts(rt)).toEqual(['firing probe/prod/api']);
    const { state } = await readState(rt.store, 'prod', 'api', minute(2)().toISOString());
    expect(state).toMatchObject({ samples: 3, consecutiveFailures: 3, status: 'down' });
    expect(state.recent).toHaveLength(3);
  });

  it('two runs resolving at once: the one whose write lands publishes the resolved alert, the other (412, re-applied) does not', async () => {
    const rt = runtimeWith({
      probes: [{ name: 'api', url: `${targets.url}/toggle`, failureThreshold: 1, successThreshold: 2 }],
    });
    const probes = configuredProbes(rt.config);
    targets.toggle = 'unhealthy';
    await probeJob(rt, { all: true, now: minute(0) });
    targets.toggle = 'healthy';
    await probeJob(rt, { all: true, now: minute(1) });
    expect(alerts(rt)).toEqual(['firing probe/prod/api']);
    const planA = await planProbes(rt.store, 'prod', probes, { all: true, now: minute(2)() });
    await probeJob(rt, { all: true, now: minute(2) }); // B: the second good sample resolves
    const runA = await runPlanned(rt.store, 'prod', planA, { now: minute(2) });
    expect(runA.outcomes[0]!.writeError).toBeUndefined();
    expect(runA.outcomes[0]!.transition).toBeUndefined();
    await reportProbes(rt.bus, rt.logger, runA, probes);
    expect(alerts(rt)).toEqual(['firing probe/prod/api', 'resolved probe/prod/api']);
    const { state } = await readState(rt.store, 'prod', 'api', minute(3)().toISOString());
    expect(state).toMatchObject({ samples: 4, consecutiveSuccesses: 3, status: 'up' });
    expect(state.incident).toBeUndefined();
  });

  it('a 412 with nobody else writing (the store refused once): the retry lands the sample exactly once and the transition with it', async () => {
    const rt = runtimeWith({ probes: [{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 }] });
    gcs.failNext({ method: 'POST', pathIncludes: '.state/probes/api.json', status: 412 });
    const { run } = await probeJob(rt, { all: true, now: minute(0) });
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    expect(stateWrites(rt.bucket)).toHaveLength(2);
    expect(alerts(rt)).toEqual(['firing probe/prod/api']);
    const { state } = await readState(rt.store, 'prod', 'api', minute(1)().toISOString());
    expect(state).toMatchObject({ samples: 1, consecutiveFailures: 1 });
  });

  it('a 412, then the re-read fails (503 past the retries): that sample is not recorded and says why; the run goes on and the other probes are recorded', async () => {
    const rt = runtimeWith({
      probes: [
        { name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 },
        { name: 'web', url: `${targets.url}/unhealthy`, failureThreshold: 1 },
      ],
    });
    gcs.failNext({ method: 'POST', pathIncludes: '.state/probes/api.json', status: 412 });
    // the plan's read goes through; the re-read after the conflict meets a server that stopped answering
    gcs.failNext({ method: 'GET', pathIncludes: '.state/probes/api.json', status: 503, afterN: 1, count: 10 });
    const { run } = await probeJob(rt, { all: true, now: minute(0) });
    const api = run.outcomes.find((o) => o.name === 'api')!;
    expect(api.writeError).toMatch(
      /^writing the state of api: another run wrote it first, and reading it again failed: /,
    );
    expect(api.transition).toBeUndefined();
    expect(run.outcomes.find((o) => o.name === 'web')!.writeError).toBeUndefined();
    expect(alerts(rt)).toEqual(['firing probe/prod/web']);
    gcs.clearFailures();
    // nothing of api was written: the next run starts from no document and crosses the threshold then
    await probeJob(rt, { all: true, now: minute(1) });
    expect(alerts(rt)).toEqual(['firing probe/prod/web', 'firing probe/prod/api']);
  });

  it('a state write that keeps failing (503 past the retries): the sample is lost and said so in one line, nothing is published', async () => {
    const rt = runtimeWith({ probes: [{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 }] });
    gcs.failNext({ method: 'POST', pathIncludes: '.state/probes/api.json', status: 503, count: 10 });
    const { run } = await probeJob(rt, { all: true, now: minute(0) });
    expect(run.outcomes[0]!.writeError).toMatch(/^writing the state of api: /);
    expect(alerts(rt)).toEqual([]);
    expect(rt.logs.filter((l) => l.includes('writing the state of api'))).toHaveLength(1);
    gcs.clearFailures();
    // the next run starts from the last document that landed (none): the threshold is crossed then
    await probeJob(rt, { all: true, now: minute(1) });
    expect(alerts(rt)).toEqual(['firing probe/prod/api']);
  });

  it("a state document that cannot be read (503 past the retries): that probe's answer is its result, not recorded and said so in one line; the others are run and recorded", async () => {
    const rt = runtimeWith({
      probes: [
        { name: 'api', url: `${targets.url}/health` },
        { name: 'web', url: `${targets.url}/health` },
      ],
    });
    gcs.failNext({ method: 'GET', pathIncludes: '.state/probes/api.json', status: 503, count: 10 });
    const { run } = await probeJob(rt, { all: true, now: minute(0) });
    const api = run.outcomes.find((o) => o.name === 'api')!;
    expect([api.result.ok, api.result.status, api.status]).toEqual([true, 200, undefined]);
    expect(api.writeError).toMatch(/^reading the state of api: .+; this sample is not recorded$/);
    expect(run.outcomes.find((o) => o.name === 'web')).toMatchObject({ status: 'up' });
    expect([run.passed, run.failed]).toEqual([2, 0]);
    expect(rt.logs.filter((l) => l.includes('reading the state of api'))).toHaveLength(1);
    expect(
      stateWrites(rt.bucket)
        .map((r) => decodeURIComponent(r.path))
        .filter((p) => p.includes('api.json')),
    ).toEqual([]);
  });
});
