/**
 * The state cache (shared/probes/state-cache.ts): a run plans each probe from the state this process wrote last, and
 * the compare-and-swap write finds out when anything else wrote the document since. Its rules (bounded, idle entries
 * make room), that a kept state steps exactly as the document read back would, and real runs on the file store and
 * on the GCS fake where another instance, an operator's reset or edit, or a failed write came in between.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTargets, type Targets } from '../support/probe-targets';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { tempDir } from '../support/temp';
import { ProbeSchema, type ProbeInput } from '../../shared/probes/config';
import { readState } from '../../shared/probes/plan';
import { runProbes } from '../../shared/probes/run';
import { addLate, needsHistory } from '../../shared/probes/history';
import {
  emptyState,
  parseState,
  probeKeys,
  stateDocument,
  stepSample,
  type ProbeState,
} from '../../shared/probes/state';
import { STATE_CACHE_ENTRIES, STATE_CACHE_IDLE_MS, StateCache, stateCacheOf } from '../../shared/probes/state-cache';
import { MINUTE, type Bucket } from '../../shared/probes/slo';
import type { ProbeResult } from '../../shared/probes/rules';
import { openStore } from '../../shared/storage/open';
import { operatorFileEnv } from '../support/cli';
import { testRuntime } from '../support/runtime';
import { probeEventHandler } from '../../functions/probe/handlers';
import { StorageError, type ObjectStore } from '../../shared/storage/types';

let targets: Targets;
let gcs: FakeGcs;
beforeAll(async () => {
  [targets, gcs] = await Promise.all([startTargets(), startFakeGcs()]);
});
afterAll(async () => {
  await Promise.all([targets.close(), gcs.close()]);
});

const probes = (inputs: ProbeInput[]) => inputs.map((i) => ProbeSchema.parse(i));
const minute = (i: number) => () => new Date(Date.parse('2026-11-29T10:00:00Z') + i * MINUTE);
const at = (i: number) => minute(i)().toISOString();

/** The store, with its state reads counted (its own object: its own cache, as a process's store has). */
function counted(store: ObjectStore) {
  const reads: string[] = [];
  const watched: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
    readJson: (key: string) => {
      if (key.includes('/.state/probes/')) reads.push(key);
      return store.readJson(key);
    },
  });
  return { store: watched, reads };
}

describe('the cache (pure rules)', () => {
  const state = emptyState('x', '2026-11-29T10:00:00Z');

  it('gives back what was set, forgets on request, replaces an entry set again', () => {
    const cache = new StateCache(4, () => 0);
    expect(cache.get('a')).toBeUndefined();
    cache.set('a', state, 'g1');
    expect(cache.get('a')).toMatchObject({ state, generation: 'g1' });
    cache.set('a', state, 'g2');
    expect(cache.get('a')?.generation).toBe('g2');
    expect(cache.size).toBe(1);
    cache.forget('a');
    expect(cache.get('a')).toBeUndefined();
  });

  it.each([
    // [what, ms since the least recently used entry was used, kept: the new entry, the old one]
    ['full, its oldest entry in use: the new one is not kept', STATE_CACHE_IDLE_MS - 1, false],
    ['full, its oldest entry idle: it makes room', STATE_CACHE_IDLE_MS, true],
  ])('%s', (_, idle, replaced) => {
    let now = 0;
    const cache = new StateCache(3, () => now);
    for (const key of ['a', 'b', 'c']) cache.set(key, state, key);
    now = 5;
    cache.get('a'); // the least recently used is b now
    now = idle;
    cache.set('d', state, 'd');
    expect(cache.size).toBe(3);
    expect(cache.get('d') !== undefined).toBe(replaced);
    expect(cache.get('b') === undefined).toBe(replaced);
    expect(cache.get('a')).toBeDefined();
  });

  it('probes touched in the same order each minute, more of them than entries: the first ones keep theirs', () => {
    let now = 0;
    const cache = new StateCache(4, () => now);
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    const hits: number[] = [];
    for (let run = 0; run < 4; run++, now += MINUTE) {
      let hit = 0;
      for (const key of keys) {
        if (cache.get(key)) hit++;
        cache.set(key, state, `${key}-${run}`);
      }
      hits.push(hit);
    }
    // evicting the least recently used at each miss would have given 0 hits in every run
    expect(hits).toEqual([0, 4, 4, 4]);
  });
});

describe('a kept state steps as the document read back would (seeded random samples)', () => {
  it('the same documents, transitions and history at every sample', () => {
    let seed = 5;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const ctx = { env: 'prod', objective: 99.9, intervalSeconds: 60, failureThreshold: 3, successThreshold: 2 };
    for (let round = 0; round < 8; round++) {
      let t = Date.parse('2026-11-29T06:00:00Z') + Math.floor(random() * 60) * 1000;
      let kept: ProbeState = emptyState('api', new Date(t).toISOString());
      let readBack: ProbeState = kept;
      let historyKept: Bucket[] = [];
      let historyRead: Bucket[] = [];
      for (let i = 0; i < 400; i++) {
        // mostly a minute apart; now and then a gap of hours (hours close), or a sample an hour and more late
        const r = random();
        const sampleAt = r < 0.02 ? t - (61 + Math.floor(random() * 60)) * MINUTE : t;
        t += r < 0.97 ? MINUTE : Math.floor(1 + random() * 5) * 60 * MINUTE;
        const ok = random() < 0.8;
        const result: ProbeResult = {
          probe: 'api',
          kind: 'http',
          at: new Date(sampleAt).toISOString(),
          ok,
          availabilityFailure: !ok && random() < 0.8,
          status: ok ? 200 : 503,
          failed: ok ? [] : [{ condition: '[STATUS] == 200', severity: 'critical', message: 'got 503' }],
          ...(random() < 0.9 ? { latencyMs: Math.round(random() * 900 * 100) / 100 } : {}),
        };
        const window = random() < 0.05 ? 'sunday' : undefined;
        const step = (s: ProbeState, history: Bucket[]) =>
          stepSample(s, result, { ...ctx, maintenance: window }, needsHistory(s, sampleAt) ? history : undefined);
        const fromKept = step(kept, historyKept);
        const fromRead = step(readBack, historyRead);
        // the same document (its keys may come in another order: the decoder's, not the step's)
        expect(JSON.parse(JSON.stringify(stateDocument(fromKept.state)))).toEqual(
          JSON.parse(JSON.stringify(stateDocument(fromRead.state))),
        );
        expect(fromKept.transition).toEqual(fromRead.transition);
        expect(fromKept.slo).toEqual(fromRead.slo);
        expect(fromKept.history).toEqual(fromRead.history);
        expect(fromKept.late).toEqual(fromRead.late);
        historyKept = addLate(fromKept.history ?? historyKept, fromKept.late ? [fromKept.late] : []);
        historyRead = JSON.parse(
          JSON.stringify(addLate(fromRead.history ?? historyRead, fromRead.late ? [fromRead.late] : [])),
        ) as Bucket[];
        // the cache keeps the stepped state itself; a read gives it back through JSON and the decoder
        kept = fromKept.state;
        const decoded = parseState('api', JSON.parse(JSON.stringify(stateDocument(fromRead.state))), result.at);
        expect(decoded.problem).toBeUndefined();
        readBack = decoded.state;
      }
      expect(kept.samples).toBe(400);
    }
  });
});

describe('runs on the file store', () => {
  const freshStore = () => openStore(`file://${tempDir('mt-probe-cache-')}`);

  it('the next run in the process plans from the states it wrote: no state read, every sample recorded', async () => {
    const { store, reads } = counted(freshStore());
    const list = probes([
      { name: 'a', url: `${targets.url}/health` },
      { name: 'b', url: `${targets.url}/unhealthy` },
    ]);
    for (const i of [0, 1, 2]) {
      const run = await runProbes(store, 'prod', list, { all: true, now: minute(i) });
      expect(run.notRecorded).toBe(0);
    }
    expect(reads).toHaveLength(2); // the first run's, of documents not there yet
    const { state } = await readState(store, 'prod', 'b', at(3));
    expect(state).toMatchObject({ samples: 3, status: 'down', consecutiveFailures: 3 });
    expect(stateCacheOf(store).size).toBe(2);
  });

  it('with the cache off, every run reads', async () => {
    const { store, reads } = counted(freshStore());
    const list = probes([{ name: 'a', url: `${targets.url}/health` }]);
    for (const i of [0, 1, 2]) await runProbes(store, 'prod', list, { all: true, now: minute(i), stateCache: false });
    expect(reads).toHaveLength(3);
    expect(stateCacheOf(store).size).toBe(0);
  });

  it('another instance wrote since: the write fails on the generation, re-reads, and the sample lands on top (the threshold fires once, from the run that crosses it)', async () => {
    const dir = tempDir('mt-probe-cache-');
    const one = counted(openStore(`file://${dir}`));
    const other = openStore(`file://${dir}`); // another instance of the function, on the same bucket
    const list = probes([{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 3 }]);
    const first = await runProbes(one.store, 'prod', list, { all: true, now: minute(0) });
    const second = await runProbes(other, 'prod', list, { all: true, now: minute(1) });
    const third = await runProbes(one.store, 'prod', list, { all: true, now: minute(2) });
    expect([first, second, third].map((r) => r.outcomes[0]!.transition?.kind)).toEqual([undefined, undefined, 'fire']);
    expect(third.outcomes[0]!.writeError).toBeUndefined();
    expect(third.outcomes[0]!.stateProblem).toBeUndefined();
    expect(one.reads).toHaveLength(2); // the first run's, and the re-read after the refused write
    const { state } = await readState(other, 'prod', 'api', at(3));
    expect(state).toMatchObject({ samples: 3, consecutiveFailures: 3, status: 'down' });
  });

  it('an operator removed the state document: the probe starts afresh, nothing said wrong', async () => {
    const dir = tempDir('mt-probe-cache-');
    const store = openStore(`file://${dir}`);
    const list = probes([{ name: 'api', url: `${targets.url}/health` }]);
    await runProbes(store, 'prod', list, { all: true, now: minute(0) });
    await runProbes(store, 'prod', list, { all: true, now: minute(1) });
    rmSync(join(dir, probeKeys.state('prod', 'api')));
    const run = await runProbes(store, 'prod', list, { all: true, now: minute(2) });
    expect(run.outcomes[0]).toMatchObject({ status: 'up' });
    expect(run.outcomes[0]!.writeError).toBeUndefined();
    expect((await readState(store, 'prod', 'api', at(3))).state.samples).toBe(1);
  });

  it('an operator damaged the state document: the probe starts afresh and the run says so, exactly as a read would have', async () => {
    const outcomes = [];
    for (const stateCache of [true, false]) {
      const dir = tempDir('mt-probe-cache-');
      const store = openStore(`file://${dir}`);
      const list = probes([{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 }]);
      await runProbes(store, 'prod', list, { all: true, now: minute(0), stateCache });
      writeFileSync(join(dir, probeKeys.state('prod', 'api')), '{"version": 3, "probe": "api"');
      list[0]!.url = `${targets.url}/health`;
      const run = await runProbes(store, 'prod', list, { all: true, now: minute(1), stateCache });
      const { state } = await readState(store, 'prod', 'api', at(2));
      expect(state.samples).toBe(1);
      outcomes.push(run.outcomes[0]);
    }
    const [cached, read] = outcomes;
    expect(cached!.writeError).toBeUndefined();
    expect(cached!.stateProblem).toMatch(/^state of probe api unreadable \(not JSON\), starting afresh/);
    // the incident open before the damage is resolved once the probe is up, as after a read of the damaged document
    expect(cached!.transition).toMatchObject({ kind: 'resolve', incident: { fingerprint: 'probe/prod/api' } });
    const said = (o: typeof cached) => ({
      status: o!.status,
      stateProblem: o!.stateProblem,
      writeError: o!.writeError,
      transition: o!.transition && { kind: o!.transition.kind, incident: o!.transition.incident },
      slo: o!.slo && { change: o!.slo.change, incident: o!.slo.incident },
    });
    expect(said(cached)).toEqual(said(read));
  });

  it('a write that failed: its entry is forgotten, and the next run reads the document again', async () => {
    const store = freshStore();
    let failNext = false;
    const reads: string[] = [];
    const flaky: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      readJson: (key: string) => {
        if (key.includes('/.state/probes/')) reads.push(key);
        return store.readJson(key);
      },
      writeJson: (key: string, value: unknown, options: { ifGeneration: string | null }) => {
        if (failNext && key.includes('/.state/probes/')) {
          failNext = false;
          return Promise.reject(new StorageError('io', 'the disk said no'));
        }
        return store.writeJson(key, value, options);
      },
    });
    const list = probes([{ name: 'api', url: `${targets.url}/health` }]);
    await runProbes(flaky, 'prod', list, { all: true, now: minute(0) });
    failNext = true;
    const failed = await runProbes(flaky, 'prod', list, { all: true, now: minute(1) });
    expect(failed.outcomes[0]!.writeError).toMatch(/the disk said no/);
    expect(stateCacheOf(flaky).size).toBe(0);
    await runProbes(flaky, 'prod', list, { all: true, now: minute(2) });
    expect(reads).toHaveLength(2); // the first run's and the third's
    expect((await readState(store, 'prod', 'api', at(3))).state.samples).toBe(2);
  });

  it('a probe with a longer interval is due by the kept state, as by the document', async () => {
    const { store, reads } = counted(freshStore());
    const list = probes([{ name: 'slow', url: `${targets.url}/health`, intervalSeconds: 300 }]);
    const ran = [];
    for (const i of [0, 1, 2, 5, 6]) {
      const run = await runProbes(store, 'prod', list, { now: minute(i) });
      ran.push(run.outcomes.length);
    }
    expect(ran).toEqual([1, 0, 0, 1, 0]);
    expect(reads).toHaveLength(1);
  });

  it(`bounded: ${STATE_CACHE_ENTRIES} entries at most, however many probes`, async () => {
    const store = freshStore();
    const list = probes(
      Array.from({ length: STATE_CACHE_ENTRIES + 40 }, (_, i) => ({ name: `p${i}`, url: `${targets.url}/health` })),
    );
    for (const i of [0, 1]) {
      const run = await runProbes(store, 'prod', list, { all: true, now: minute(i) });
      expect(run.passed).toBe(list.length);
    }
    expect(stateCacheOf(store).size).toBe(STATE_CACHE_ENTRIES);
  });
});

describe('the probe function', () => {
  it("keeps the cache across its ticks (its runtime's store lives as long as the instance): a tick reads no state it wrote", async () => {
    const env = operatorFileEnv({ probes: [{ name: 'api', url: `${targets.url}/health`, intervalSeconds: 60 }] });
    const rt = testRuntime({ BACKUP_BUCKET: env.BACKUP_BUCKET, OPS_CONFIG: env.OPS_CONFIG, OPS_ENV: 'prod' });
    // the store itself, its reads counted (the same object: the cache is the store's)
    const reads: string[] = [];
    const read = rt.store.readJson.bind(rt.store);
    rt.store.readJson = (key: string) => {
      if (key.includes('/.state/probes/')) reads.push(key);
      return read(key);
    };
    const handler = probeEventHandler(() => rt);
    const tick = (id: string) => handler({ id, data: { message: { data: '', messageId: id } } } as never);
    expect(await tick('1')).toMatchObject({ passed: 1, notDue: 0 });
    // seconds later (a second delivery of the tick): not due, by the state the first tick wrote, without reading it
    expect(await tick('2')).toMatchObject({ passed: 0, notDue: 1 });
    expect(reads).toEqual(['prod/.state/probes/api.json']);
  });
});

describe('runs on GCS (the fake)', () => {
  it('another instance wrote since: refused by ifGenerationMatch, re-read, and no sample lost', async () => {
    const bucket = `cache-bucket-${Date.now()}`;
    const open = () =>
      openStore(`gs://${bucket}/ops`, { gcsApiEndpoint: gcs.url, gcsRetry: { maxRetries: 1, maxDelaySeconds: 1 } });
    const one = open();
    const other = open();
    const list = probes([{ name: 'api', url: `${targets.url}/health` }]);
    for (const [store, i] of [
      [one, 0],
      [one, 1],
      [other, 2],
      [one, 3],
    ] as const) {
      const run = await runProbes(store, 'prod', list, { all: true, now: minute(i) });
      expect(run.outcomes[0]!.writeError).toBeUndefined();
    }
    expect((await readState(other, 'prod', 'api', at(4))).state.samples).toBe(4);
  });
});
