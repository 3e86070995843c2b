/** Probe runs against real parts: local targets, the file store (compare-and-swap), the in-process bus, PostgreSQL. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startTargets, type Targets } from '../support/probe-targets';
import { tempDir } from '../support/temp';
import { writeSyntheticBackup } from '../support/synthetic-backup';
import { testRuntime } from '../support/runtime';
import { createTestDatabase } from '../support/database';
import { freePort } from '../support/postgres-server';
import { ProbeSchema, resolveProbe, type ProbeInput } from '../../shared/probes/config';
import { planProbes, readState } from '../../shared/probes/plan';
import { probeKeys, stateDocument } from '../../shared/probes/state';
import { MINUTE } from '../../shared/probes/slo';
import { PackedMinutes } from '../../shared/probes/packed-minutes';
import { probeHistory } from '../support/status-history';
import { runPlanned, runProbes } from '../../shared/probes/run';
import { runProbe } from '../../shared/probes/probe';
import { probeJob } from '../../shared/probes/job';
import { openStore } from '../../shared/storage/open';
import type { ObjectStore } from '../../shared/storage/types';
import type { Alert } from '../../shared/bus/events';
import type { ProbeResult } from '../../shared/probes/rules';

let targets: Targets;
beforeAll(async () => {
  targets = await startTargets();
});
afterAll(async () => targets.close());

const probes = (inputs: ProbeInput[]) => inputs.map((i) => ProbeSchema.parse(i));
const freshStore = () => openStore(`file://${tempDir('mt-probe-run-')}`);

function runtimeWith(file: object) {
  const dir = tempDir('mt-probe-rt-');
  const path = join(dir, 'ops.json');
  writeFileSync(path, JSON.stringify(file));
  return testRuntime({ BACKUP_BUCKET: `file://${dir}/bucket`, OPS_CONFIG: path, OPS_ENV: 'prod' });
}

describe('thresholds and transitions through real runs', () => {
  it('one firing alert after 3 failed runs (none before, none after), one resolved after 2 good ones; the event is generic and routable', async () => {
    const rt = runtimeWith({
      probes: [
        {
          name: 'api-full',
          url: `${targets.url}/toggle`,
          conditions: ['[STATUS] == 200', '[BODY].status == healthy'],
          labels: { team: 'web' },
        },
      ],
      maintenance: [],
    });
    const minute = (i: number) => () => new Date(Date.parse('2026-11-29T10:00:00Z') + i * 60_000);
    const pattern = [
      'healthy',
      'degraded',
      'degraded',
      'degraded',
      'degraded',
      'healthy',
      'degraded',
      'healthy',
      'healthy',
      'healthy',
    ] as const;
    const alertsAfter: number[] = [];
    for (const [i, answer] of pattern.entries()) {
      targets.toggle = answer;
      await probeJob(rt, { all: true, now: minute(i) });
      alertsAfter.push(rt.bus.published.length);
    }
    expect(alertsAfter).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 2, 2]);
    const [firing, resolved] = rt.bus.published.map((m) => m.event as Alert);
    expect(firing).toMatchObject({
      type: 'alert',
      status: 'firing',
      severity: 'critical',
      env: 'prod',
      fingerprint: 'probe/prod/api-full',
      title: 'api-full is down',
      evidence: ['[BODY].status == healthy: got "degraded"'],
      labels: { team: 'web', probe: 'api-full', kind: 'http', env: 'prod' },
      links: [{ title: 'probe target', url: `${targets.url}/toggle` }],
      startsAt: '2026-11-29T10:01:00.000Z',
      source: 'probe',
    });
    expect(rt.bus.published[0]!.attributes).toMatchObject({
      type: 'alert',
      status: 'firing',
      source: 'probe',
      severity: 'critical',
    });
    expect(resolved).toMatchObject({
      status: 'resolved',
      fingerprint: 'probe/prod/api-full',
      startsAt: '2026-11-29T10:01:00.000Z',
      endsAt: '2026-11-29T10:08:00.000Z',
    });
    const { state } = await readState(rt.store, 'prod', 'api-full', new Date().toISOString());
    expect(state).toMatchObject({ status: 'up', samples: 10, consecutiveSuccesses: 3 });
    expect(state.recent).toHaveLength(10);
  });

  it('samples inside a maintenance window are recorded as maintenance and raise nothing', async () => {
    const rt = runtimeWith({
      probes: [{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 }],
      maintenance: [{ name: 'nightly', cron: '0 2 * * *', durationMinutes: 60, timeZone: 'UTC' }],
    });
    await probeJob(rt, { all: true, now: () => new Date('2026-11-29T02:30:00Z') });
    expect(rt.bus.published).toHaveLength(0);
    const { state } = await readState(rt.store, 'prod', 'api', new Date().toISOString());
    expect(state.status).toBe('maintenance');
    expect((JSON.parse(state.recent[0]!) as ProbeResult).maintenance).toBe('nightly');
    expect(state.minutes.buckets()[0]).toMatchObject({ n: 0, f: 0, m: 1 });
    await probeJob(rt, { all: true, now: () => new Date('2026-11-29T03:30:00Z') });
    expect(rt.bus.published.map((m) => (m.event as Alert).status)).toEqual(['firing']);
  });

  it('the schedule runs only the probes that are due', async () => {
    const rt = runtimeWith({
      probes: [
        { name: 'often', url: `${targets.url}/health`, intervalSeconds: 60 },
        { name: 'rarely', url: `${targets.url}/health`, intervalSeconds: 600 },
      ],
    });
    const at = (m: number) => () => new Date(Date.parse('2026-11-29T10:00:00Z') + m * 60_000);
    const ran: string[][] = [];
    for (const m of [0, 1, 2]) ran.push((await probeJob(rt, { now: at(m) })).run.outcomes.map((o) => o.name));
    expect(ran).toEqual([['often', 'rarely'], ['often'], ['often']]);
  });
});

describe('bounds', () => {
  it('never more than the concurrency bound in flight', async () => {
    const store = freshStore();
    targets.maxInFlight = 0;
    const list = probes(Array.from({ length: 12 }, (_, i) => ({ name: `p${i}`, url: `${targets.url}/wait?ms=150` })));
    const run = await runProbes(store, 'prod', list, { all: true, concurrency: 4 });
    expect(run.passed).toBe(12);
    expect(targets.maxInFlight).toBe(4);
  });

  it('the job probes at most the configured probes.concurrency at once', async () => {
    const rt = runtimeWith({
      probes: {
        concurrency: 3,
        targets: Array.from({ length: 9 }, (_, i) => ({ name: `w${i}`, url: `${targets.url}/wait?ms=150` })),
      },
    });
    targets.maxInFlight = 0;
    const { run } = await probeJob(rt, { all: true });
    expect(run.passed).toBe(9);
    expect(targets.maxInFlight).toBe(3);
  });

  it("each probe's state is read just before it runs and let go once written: never more documents held than the concurrency", async () => {
    const store = freshStore();
    const list = probes(Array.from({ length: 12 }, (_, i) => ({ name: `s${i}`, url: `${targets.url}/wait?ms=20` })));
    await runProbes(store, 'prod', list, { all: true, concurrency: 3 }); // every probe has a state document now
    // the real store, watched: documents read and not yet written back are what the run holds
    let held = 0;
    let most = 0;
    const watched: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      readJson: async (key: string) => {
        const doc = await store.readJson(key);
        if (key.includes('/.state/probes/')) most = Math.max(most, ++held);
        return doc;
      },
      writeJson: async (key: string, value: unknown, options: { ifGeneration: string | null }) => {
        const generation = await store.writeJson(key, value, options);
        if (key.includes('/.state/probes/')) held--;
        return generation;
      },
    });
    const run = await runProbes(watched, 'prod', list, { all: true, concurrency: 3 });
    expect(run.passed).toBe(12);
    expect(run.outcomes.every((o) => o.summary === undefined && o.status === 'up')).toBe(true);
    expect(held).toBe(0);
    expect(most).toBe(3);
  });

  it('a state document whose decoding throws: that sample is not recorded and the document left as it is; the run goes on', async () => {
    const store = freshStore();
    const list = probes([
      { name: 'odd', url: `${targets.url}/health` },
      { name: 'fine', url: `${targets.url}/health` },
    ]);
    await runProbes(store, 'prod', list, { all: true });
    const written: string[] = [];
    // what no document parsed from JSON has, but a decoder bug would do the same: reading a field throws
    const watched: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      readJson: async (key: string) => {
        const doc = await store.readJson(key);
        if (!doc || !key.endsWith('/odd.json')) return doc;
        const value = Object.defineProperty({ ...(doc.value as object) }, 'version', {
          enumerable: true,
          get: () => {
            throw new Error('decoder failure');
          },
        });
        return { ...doc, value };
      },
      writeJson: async (key: string, value: unknown, options: { ifGeneration: string | null }) => {
        written.push(key.split('/').at(-1)!);
        return store.writeJson(key, value, options);
      },
    });
    const run = await runProbes(watched, 'prod', list, { all: true });
    expect(run.outcomes.map((o) => [o.name, o.writeError])).toEqual([
      ['odd', 'reading the state of odd: decoder failure'],
      ['fine', undefined],
    ]);
    expect(written).toEqual(['fine.json']);
    expect((await readState(store, 'prod', 'odd', new Date().toISOString())).state.samples).toBe(1);
  });

  it('while its state is written, a probe holds neither the state it read nor the one it stepped', async () => {
    // what a probe holds across its waits outlives the young generation in a busy run and stays until a full collection
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const store = freshStore();
    const list = probes(Array.from({ length: 4 }, (_, i) => ({ name: `g${i}`, url: `${targets.url}/health` })));
    const hour = Date.parse('2026-11-29T10:00:00Z');
    await runProbes(store, 'prod', list, { all: true, concurrency: 4, now: () => new Date(hour) });
    // an hour later, the real store with its state writes held until every probe waits on one. Watched: the stepped
    // state's hours (the written document's), and the first hour's bucket, which the stepped state shares with the
    // state read (only the bucket a sample falls in is copied)
    const held: Array<WeakRef<object>> = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let writing = 0;
    let allWriting!: () => void;
    const allWaiting = new Promise<void>((resolve) => (allWriting = resolve));
    const watched: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      writeJson: (key: string, value: unknown, options: { ifGeneration: string | null }) => {
        if (!key.includes('/.state/probes/')) return store.writeJson(key, value, options);
        const text = JSON.stringify(value);
        const hours = (value as { hours: Array<{ t: number }> }).hours;
        expect(hours.map((b) => b.t)).toEqual([hour, hour + 3_600_000]);
        held.push(new WeakRef(hours), new WeakRef(hours[0]!));
        if (++writing === list.length) allWriting();
        return gate.then(() => store.writeJson(key, JSON.parse(text), options));
      },
    });
    // without the state cache, which keeps each written state for the next run on purpose (state-cache.test.ts)
    const running = runProbes(watched, 'prod', list, {
      all: true,
      concurrency: 4,
      now: () => new Date(hour + 3_600_000),
      stateCache: false,
    });
    await allWaiting;
    await new Promise((r) => setTimeout(r, 10)); // a WeakRef keeps its target until the job that made it ends
    gc();
    const alive = held.filter((r) => r.deref() !== undefined).length;
    release();
    const run = await running;
    expect(run.passed).toBe(4);
    expect(held).toHaveLength(8);
    expect(alive).toBe(0);
  });

  it('while a probe waits for its answer it holds its state document as read, not the decoded state', async () => {
    // decoded (before the minutes stayed packed), a state of 6 hours of minutes was some 30 KiB of objects (its
    // document a few KiB of strings): held by every probe in flight across its wait, it outlived the young
    // generation's collections and was promoted
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const n = 60;
    const list = probes(Array.from({ length: n }, (_, i) => ({ name: `w${i}`, url: `${targets.url}/wait?ms=1200` })));
    const now = new Date();
    const long = freshStore();
    for (const p of list) {
      const state = probeHistory({ name: p.name, now, days: 1 });
      const minute = Math.floor(now.getTime() / MINUTE) * MINUTE;
      state.minutes = PackedMinutes.from(
        Array.from({ length: 360 }, (_, k) => ({ t: minute - (360 - k) * MINUTE, n: 1, f: 0, m: 0, h: [0, 0, 0, 1] })),
      );
      await long.writeJson(probeKeys.state('prod', p.name), stateDocument(state), { ifGeneration: null });
    }
    const heapWhileWaiting = async (store: ObjectStore) => {
      const running = runProbes(store, 'prod', list, { all: true, concurrency: n });
      while (targets.inFlight < n) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 300)); // every state read by now; every answer 900 ms away
      gc();
      gc();
      const used = process.memoryUsage().heapUsed;
      const run = await running;
      expect(run.passed).toBe(n);
      return used;
    };
    const empty1 = await heapWhileWaiting(freshStore()); // no state: what a probe holds anyway (its request...)
    const held = await heapWhileWaiting(long);
    const empty2 = await heapWhileWaiting(freshStore());
    const perProbeKiB = (held - Math.max(empty1, empty2)) / n / 1024;
    expect(perProbeKiB).toBeLessThan(12);
  });

  it("the request goes out while the probe's state is read, not after; a probe with a longer interval waits for its state", async () => {
    const store = freshStore();
    // the real store, with a state read that answers only once the target has the request in hand (or after 1 s)
    const reads: Array<'with the request' | 'alone'> = [];
    const watched: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      readJson: async (key: string) => {
        const deadline = Date.now() + 1_000;
        while (targets.inFlight === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        reads.push(targets.inFlight > 0 ? 'with the request' : 'alone');
        return store.readJson(key);
      },
    });
    const list = probes([
      { name: 'every-minute', url: `${targets.url}/wait?ms=400` },
      { name: 'hourly', url: `${targets.url}/wait?ms=400`, intervalSeconds: 3600 },
    ]);
    const run = await runProbes(watched, 'prod', list, { concurrency: 1 });
    expect(run.outcomes.map((o) => [o.name, o.result.ok, o.writeError])).toEqual([
      ['every-minute', true, undefined],
      ['hourly', true, undefined],
    ]);
    expect(reads).toEqual(['with the request', 'alone']);
  });

  it('a run where every target hangs still ends by its deadline: late probes are skipped, running ones cut short (and not a sample)', async () => {
    const store = freshStore();
    const list = probes(
      Array.from({ length: 20 }, (_, i) => ({ name: `h${i}`, url: `${targets.url}/hang`, timeoutMs: 10_000 })),
    );
    const run = await runProbes(store, 'prod', list, { all: true, concurrency: 10, deadlineMs: 1_000 });
    expect(run.durationMs).toBeLessThan(5_000); // not 20 x 10 s / 10 = 20 s
    expect(run.outcomes.every((o) => o.skipped)).toBe(true);
    const said = run.outcomes.map((o) => o.result.error);
    expect(said.filter((e) => e === 'skipped: the run ran out of time')).toHaveLength(10);
    expect(
      said.filter((e) => e === "the run's time limit (1 s) came before the probe's timeout (10000 ms)"),
    ).toHaveLength(10);
    expect([run.passed, run.failed]).toEqual([0, 0]);
  });
});

describe("the run's time limit", () => {
  it("a probe whose timeout the run's deadline cut short, and that then timed out, is no sample of the target: not recorded, not failed, no alert", async () => {
    const rt = runtimeWith({
      probes: [
        { name: 'hang', url: `${targets.url}/hang` },
        { name: 'slow', url: `${targets.url}/slow?ms=1500` },
        { name: 'quick', url: `${targets.url}/slow?ms=200` },
        { name: 'healthy', url: `${targets.url}/health` },
      ],
    });
    for (let i = 0; i < 3; i++) {
      const { run } = await probeJob(rt, { all: true, deadlineMs: 1_000 });
      expect(run.outcomes.map((o) => [o.name, o.skipped ?? false, o.result.ok, o.status])).toEqual([
        ['hang', true, false, undefined],
        ['slow', true, false, undefined],
        ['quick', false, true, 'up'],
        ['healthy', false, true, 'up'],
      ]);
      for (const o of run.outcomes.slice(0, 2)) {
        expect(o.result.error).toBe("the run's time limit (1 s) came before the probe's timeout (10000 ms)");
        expect(o.result.failed).toEqual([]);
      }
      expect([run.passed, run.failed]).toEqual([2, 0]);
    }
    expect(rt.bus.published).toHaveLength(0);
    for (const name of ['hang', 'slow']) {
      const { state } = await readState(rt.store, 'prod', name, new Date().toISOString());
      expect([state.samples, state.status, state.incident]).toEqual([0, 'unknown', undefined]);
    }
    expect((await readState(rt.store, 'prod', 'quick', new Date().toISOString())).state.samples).toBe(3);
  });

  it('a probe that times out within its own timeout is a failure of the target, whatever the time limit', async () => {
    const store = freshStore();
    const list = probes([{ name: 'hang', url: `${targets.url}/hang`, timeoutMs: 300, failureThreshold: 1 }]);
    const run = await runProbes(store, 'prod', list, { all: true, deadlineMs: 2_000 });
    expect([run.outcomes[0]!.skipped, run.outcomes[0]!.status]).toEqual([undefined, 'down']);
    expect(run.outcomes[0]!.result.error).toMatch(/^timed out after 300 ms/);
    expect([run.passed, run.failed]).toEqual([0, 1]);
  });
});

describe('a state that cannot be read', () => {
  /** A folder where the state document should be: reading it fails (EISDIR) whoever runs the test. */
  function unreadable(dir: string, name: string) {
    mkdirSync(join(dir, 'prod/.state/probes', `${name}.json`), { recursive: true });
  }

  it("a probe due every minute keeps the target's real result (its request went out beside the read), not recorded", async () => {
    const dir = tempDir('mt-probe-unreadable-');
    const store = openStore(`file://${dir}`);
    unreadable(dir, 'healthy');
    unreadable(dir, 'broken');
    const list = probes([
      { name: 'healthy', url: `${targets.url}/health` },
      { name: 'broken', url: `${targets.url}/unhealthy` },
      { name: 'fine', url: `${targets.url}/health` },
    ]);
    // the schedule's run (not `all`): the every-minute probes start before their state is read
    const run = await runProbes(store, 'prod', list, {});
    const [healthy, broken, fine] = run.outcomes;
    expect(healthy).toMatchObject({ name: 'healthy', result: { ok: true, status: 200 } });
    expect(healthy!.result.latencyMs).toBeGreaterThan(0);
    expect(healthy!.result.error).toBeUndefined();
    expect(healthy!.status).toBeUndefined();
    expect(healthy!.skipped).toBeUndefined();
    expect(healthy!.writeError).toMatch(/^reading the state of healthy: .+; this sample is not recorded$/);
    expect(broken).toMatchObject({ name: 'broken', result: { ok: false, status: 503 } });
    expect(broken!.result.failed.map((f) => f.message)).toContain('[STATUS] == 200: got 503');
    expect(broken!.writeError).toMatch(/^reading the state of broken: .+; this sample is not recorded$/);
    expect([fine!.name, fine!.status, fine!.writeError]).toEqual(['fine', 'up', undefined]);
    expect([run.passed, run.failed]).toEqual([2, 1]);
    // the same through `all` (the CLI)
    const all = await runProbes(store, 'prod', list, { all: true });
    expect(all.outcomes.map((o) => [o.name, o.result.ok, o.writeError !== undefined])).toEqual([
      ['healthy', true, true],
      ['broken', false, true],
      ['fine', true, false],
    ]);
  });

  it('a CA file removed since the configuration loaded (or named as a folder): a configuration error, no sample, no alert, not a failure that pages', async () => {
    const dir = tempDir('mt-probe-cafile-');
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, 'not read: the probe is refused first');
    const list = probes([
      { name: 'gone', url: `${targets.url}/health`, failureThreshold: 1, tls: { caFile } },
      { name: 'folder', url: `${targets.url}/health`, failureThreshold: 1, tls: { caFile: dir } },
    ]);
    rmSync(caFile);
    const run = await runProbes(freshStore(), 'prod', list, { all: true });
    expect(run.outcomes.map((o) => o.configError)).toEqual([
      `configuration error in probe gone: tls.caFile: no such file: ${caFile}`,
      `configuration error in probe folder: tls.caFile: a folder, not a file: ${dir}`,
    ]);
    expect(run.outcomes.every((o) => o.transition === undefined)).toBe(true);
  });

  it("with its state unreadable, a configuration error and the run's time limit are still said as such: no sample of either", async () => {
    const dir = tempDir('mt-probe-unreadable-');
    const store = openStore(`file://${dir}`);
    for (const name of ['slow', 'api']) unreadable(dir, name);
    const list = probes([
      { name: 'slow', url: `${targets.url}/slow?ms=1500` },
      { name: 'api', url: `${targets.url}/\${MT_TEST_UNSET_PATH}` },
    ]);
    const run = await runProbes(store, 'prod', list, { all: true, deadlineMs: 1_000, environment: {} });
    const [slow, api] = run.outcomes;
    expect([slow!.skipped, slow!.result.error]).toEqual([
      true,
      "the run's time limit (1 s) came before the probe's timeout (10000 ms)",
    ]);
    expect(api!.configError).toBe(
      'configuration error in probe api: url names ${MT_TEST_UNSET_PATH}, which is not set',
    );
    expect([run.passed, run.failed]).toEqual([0, 1]); // a configuration error fails the run, as it does with a state
  });

  it('a probe with a longer interval (not started before its state said it was due) is not probed: skipped, saying why, neither passed nor failed', async () => {
    let requests = 0;
    const server = createServer((_req, res) => {
      requests++;
      res.end('{"status":"healthy"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
      const dir = tempDir('mt-probe-unreadable-');
      const store = openStore(`file://${dir}`);
      unreadable(dir, 'hourly');
      const list = probes([
        { name: 'hourly', url, intervalSeconds: 3600 },
        { name: 'minutely', url },
      ]);
      const run = await runProbes(store, 'prod', list, {});
      const [hourly, minutely] = run.outcomes;
      expect(hourly).toMatchObject({ name: 'hourly', skipped: true, result: { ok: false, failed: [] } });
      expect(hourly!.writeError).toMatch(
        /^reading the state of hourly: .+; not probed \(its interval is longer than the schedule's 60 s: only its state says whether it is due\)$/,
      );
      expect(hourly!.result.error).toBe(hourly!.writeError);
      expect(minutely).toMatchObject({ name: 'minutely', status: 'up' });
      expect(requests).toBe(1); // the minutely probe's only
      expect([run.passed, run.failed]).toEqual([1, 0]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('compare-and-swap', () => {
  it('two concurrent runs of the same probe both land their sample; only one publishes the transition', async () => {
    const store = freshStore();
    const list = probes([{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 }]);
    const plan1 = await planProbes(store, 'prod', list, { all: true });
    const plan2 = await planProbes(store, 'prod', list, { all: true });
    expect(plan1[0]!.generation).toBeNull();
    const [a, b] = await Promise.all([runPlanned(store, 'prod', plan1), runPlanned(store, 'prod', plan2)]);
    expect([a, b].map((r) => r.outcomes[0]!.writeError)).toEqual([undefined, undefined]);
    const { state } = await readState(store, 'prod', 'api', new Date().toISOString());
    expect(state.samples).toBe(2);
    expect(state.recent).toHaveLength(2);
    expect(state.minutes.buckets().reduce((s, m) => s + m.n, 0)).toBe(2);
    expect([a, b].filter((r) => r.outcomes[0]!.transition?.kind === 'fire')).toHaveLength(1);
  });

  it('ten concurrent runs: ten samples', async () => {
    const store = freshStore();
    const list = probes([{ name: 'api', url: `${targets.url}/health` }]);
    const plans = await Promise.all(Array.from({ length: 10 }, () => planProbes(store, 'prod', list, { all: true })));
    await Promise.all(plans.map((p) => runPlanned(store, 'prod', p, { casAttempts: 20 })));
    expect((await readState(store, 'prod', 'api', new Date().toISOString())).state.samples).toBe(10);
  });
});

/** A complete backup (data object + manifest) laid out as the backup code does. */
function fakeBackup(
  store: ObjectStore,
  env: string,
  iso: string,
  verify?: { ok: boolean; at: string },
): Promise<string> {
  return writeSyntheticBackup(store, env, iso, { suffix: 'ab12', ...(verify ? { verify } : {}) });
}

describe('backup freshness (the watchdog of the backup job) on the file store', () => {
  const NOW = new Date('2026-11-29T12:00:00Z');
  const check = async (store: ObjectStore) =>
    runProbe(resolveProbe(ProbeSchema.parse({ name: 'backups', kind: 'backup-freshness' })), {
      store,
      env: 'prod',
      now: () => NOW,
    });

  it.each<[string, (s: ObjectStore) => Promise<unknown>, boolean, string | undefined, string[]]>([
    [
      'no backup at all: critical',
      async () => {},
      false,
      'critical',
      [
        '[BODY].newestAgeHours < 26: got null (no complete backup in the bucket)',
        '[BODY].verify.ok == true: got false',
        '[BODY].verify.ageDays < 8: got null (no verify recorded)',
      ],
    ],
    [
      'a fresh, verified backup: passes',
      (s) => fakeBackup(s, 'prod', '2026-11-29T03:00:00.000Z', { ok: true, at: '2026-11-29T05:00:00.000Z' }),
      true,
      undefined,
      [],
    ],
    [
      'the schedule stopped 30 hours ago: critical',
      (s) => fakeBackup(s, 'prod', '2026-11-28T06:00:00.000Z', { ok: true, at: '2026-11-28T07:00:00.000Z' }),
      false,
      'critical',
      ['[BODY].newestAgeHours < 26: got 30'],
    ],
    [
      'fresh, but the newest verify failed: warning',
      (s) => fakeBackup(s, 'prod', '2026-11-29T03:00:00.000Z', { ok: false, at: '2026-11-29T05:00:00.000Z' }),
      false,
      'warning',
      ['[BODY].verify.ok == true: got false'],
    ],
    [
      'fresh, but verified 10 days ago: warning',
      async (s) => {
        await fakeBackup(s, 'prod', '2026-11-19T03:00:00.000Z', { ok: true, at: '2026-11-19T12:00:00.000Z' });
        await fakeBackup(s, 'prod', '2026-11-29T03:00:00.000Z');
      },
      false,
      'warning',
      ['[BODY].verify.ageDays < 8: got 10'],
    ],
    [
      "the schedule stopped 30 hours ago, and a restore took a safety backup an hour ago: still critical (a safety backup is not the schedule's work)",
      async (s) => {
        await fakeBackup(s, 'prod', '2026-11-28T06:00:00.000Z', { ok: true, at: '2026-11-28T07:00:00.000Z' });
        await writeSyntheticBackup(s, 'prod', '2026-11-29T11:00:00.000Z', {
          suffix: 'cd34',
          label: 'pre-restore',
          purpose: 'safety',
          verify: { ok: false, at: '2026-11-29T11:30:00.000Z' },
        });
      },
      false,
      'critical',
      ['[BODY].newestAgeHours < 26: got 30'],
    ],
  ])('%s', async (_name, seed, ok, severity, messages) => {
    const store = freshStore();
    await seed(store);
    const r = await check(store);
    expect(r.ok).toBe(ok);
    expect(r.severity).toBe(severity);
    expect(r.failed.map((f) => f.message)).toEqual(messages);
  });
});

describe('postgres probe', () => {
  it('against the real server: connected, SELECT 1 timed, connections and size reported', async () => {
    const db = await createTestDatabase('mt_probe');
    const r = await runProbe(resolveProbe(ProbeSchema.parse({ name: 'db', kind: 'postgres', url: db.url })), {
      store: freshStore(),
      env: 'prod',
    });
    expect(r.ok).toBe(true);
    expect(r.details).toMatchObject({
      connections: expect.any(Number),
      maxConnections: expect.any(Number),
      databaseSizeBytes: expect.any(Number),
    });
    expect((r.details as { connectionsUsedPercent: number }).connectionsUsedPercent).toBeLessThanOrEqual(100);
    expect(r.latencyMs!).toBeGreaterThan(0);
  });

  it('against a port that refuses connections: fails with one clear line, no password', async () => {
    const port = await freePort();
    const r = await runProbe(
      resolveProbe(
        ProbeSchema.parse({ name: 'db', kind: 'postgres', url: `postgres://u:hunter2secret@127.0.0.1:${port}/x` }),
      ),
      { store: freshStore(), env: 'prod' },
    );
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^cannot connect to the probed database: .*ECONNREFUSED/);
    expect(r.failed.map((f) => f.condition)).toEqual([
      'probe',
      '[CONNECTED] == true',
      '[BODY].connectionsUsedPercent <= 80',
    ]);
    expect(JSON.stringify(r)).not.toContain('hunter2secret');
  });
});
