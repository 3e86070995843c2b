/**
 * The probe function as the cloud runs it: the minute tick as a Pub/Sub CloudEvent, through the real
 * functions-framework on 127.0.0.1, each instance with its own runtime (its own store object and state cache) on one
 * bucket. What Pub/Sub does to it: the same tick delivered twice at once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { startTargets, type Targets } from '../support/probe-targets';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';
import { capturedLogger } from '../support/logs';
import { operatorFileEnv } from '../support/cli';
import { testRuntime } from '../support/runtime';
import { probeEventHandler } from '../../functions/probe/handlers';
import { readState } from '../../shared/probes/plan';
import { postPubsubEvent } from '../support/cloudevents';
import { loadConfig } from '../../shared/config/load';
import { functionRuntime } from '../../shared/functions/runtime';
import { bindEntryPoint, FLUSH_WAIT_MS } from '../../shared/functions/entry-points';
import { entryPoints } from '../../functions/probe/handlers';

let targets: Targets;
let gcs: FakeGcs;
const servers: Server[] = [];
beforeAll(async () => {
  [targets, gcs] = await Promise.all([startTargets(), startFakeGcs()]);
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  await Promise.all([targets.close(), gcs.close()]);
});

type Rt = ReturnType<typeof testRuntime>;

/** One instance of the function: its own runtime, served by the functions-framework under its own name. */
async function instance(name: string, env: Record<string, string>): Promise<{ url: string; rt: Rt }> {
  const rt = testRuntime({ BACKUP_BUCKET: env.BACKUP_BUCKET!, OPS_CONFIG: env.OPS_CONFIG!, OPS_ENV: 'prod' });
  ff.cloudEvent(name, probeEventHandler(() => rt) as never);
  return { url: await serve(name), rt };
}

async function serve(name: string): Promise<string> {
  const server = getTestServer(name);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** The Scheduler's tick as a push subscription delivers it (binary mode): the job's payload, `{}` (infra apply). */
const tick = (url: string, id: string, message: object = { data: Buffer.from('{}').toString('base64') }) =>
  postPubsubEvent(
    url,
    { message: { ...message, messageId: id }, subscription: 'projects/p/subscriptions/mt-ops-probe' },
    { id, topic: 'mt-ops-probe-trigger' },
  );

const alerts = (...rts: Rt[]) =>
  rts.flatMap((rt) => rt.bus.published.map((m) => m.event)).filter((e) => e.type === 'alert');

describe('the same tick delivered twice at once (Pub/Sub redelivers)', () => {
  it('on two instances: one sample counted, not two; the threshold is not crossed by one tick', async () => {
    // the target answers after 300 ms, failing its condition: both deliveries read the state (no document yet)
    // before either writes, so the second write meets the first one's document
    const env = operatorFileEnv({
      probes: [
        { name: 'api', url: `${targets.url}/slow?ms=300`, conditions: ['[STATUS] == 503'], failureThreshold: 2 },
      ],
    });
    const [a, b] = [await instance('probeEventDupA', env), await instance('probeEventDupB', env)];
    const answers = await Promise.all([tick(a.url, '41'), tick(b.url, '41')]);
    expect(answers.map((r) => r.ok)).toEqual([true, true]); // acknowledged
    const { state } = await readState(a.rt.store, 'prod', 'api', new Date().toISOString());
    expect(state).toMatchObject({ samples: 1, consecutiveFailures: 1 });
    expect(state.minutes.buckets().reduce((n, m) => n + m.n, 0)).toBe(1);
    expect(state.recent).toHaveLength(1);
    expect(alerts(a.rt, b.rt)).toEqual([]);
    // the one whose sample was not counted says the probe was not due, as a delivery seconds later does
    const lines = [...a.rt.logs, ...b.rt.logs].filter((l) => l.includes('"message":"probes: '));
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message).sort()).toEqual([
      'probes: 0 passed, 0 failed, 1 not due',
      'probes: 0 passed, 1 failed',
    ]);
  });
});

describe('a bucket that stops answering', () => {
  it("the outbox's drain before the run is waited for 5 s at most: the run goes on, and one line says so", async () => {
    process.env.GCS_API_ENDPOINT = gcs.url;
    const env = operatorFileEnv({ probes: [{ name: 'api', url: `${targets.url}/health` }] });
    const config = loadConfig({ OPS_CONFIG: env.OPS_CONFIG, BACKUP_BUCKET: 'gs://stalled/p', OPS_ENV: 'prod' });
    const { logger, lines } = capturedLogger();
    // the function as deployed: the runtime of index.ts, every entry point behind the outbox's drain
    const rt = functionRuntime(config, 'probe', { logger });
    ff.cloudEvent('probeEventStalled', bindEntryPoint(entryPoints.probeEvent!, () => rt) as never);
    const url = await serve('probeEventStalled');
    // the listing of the outbox is taken and never answered (the request would wait out its minute's timeout)
    gcs.stallAll({ pathIncludes: 'prefix=p/prod/.outbox/' });
    try {
      const started = Date.now();
      const answer = await tick(url, '51');
      const took = Date.now() - started;
      expect(answer.ok).toBe(true);
      expect(took).toBeGreaterThanOrEqual(FLUSH_WAIT_MS - 50);
      expect(took).toBeLessThan(FLUSH_WAIT_MS + 5_000);
      const messages = lines.map((l) => JSON.parse(l) as { severity: string; message: string });
      expect(messages.filter((m) => m.message.startsWith('outbox: '))).toEqual([
        expect.objectContaining({
          severity: 'WARNING',
          message:
            'outbox: not drained within 5 s (the bucket did not answer in time); going on without it, the next run drains it',
        }),
      ]);
      expect(messages.find((m) => m.message.startsWith('probes: '))?.message).toBe('probes: 1 passed, 0 failed');
      expect(gcs.objectNames('stalled')).toContain('p/prod/.state/probes/api.json');
    } finally {
      gcs.stallAll(false);
    }
  });
});

describe('a tick whose payload names probes that are not configured', () => {
  it.each([
    ['one unknown name', ['nope'], 'data.message.data.only[0]: not a configured probe (configured: api)'],
    [
      '200,000 names (about 2 MB)',
      Array.from({ length: 200_000 }, (_, i) => `n${i}`),
      'data.message.data.only: Too big: expected array to have <=1000 items',
    ],
  ])('%s: acknowledged, one line with the field path, nothing probed, nobody paged', async (_, only, reason) => {
    const env = operatorFileEnv({ probes: [{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 }] });
    const { url, rt } = await instance(`probeEventOnly${only.length}`, env);
    const data = Buffer.from(JSON.stringify({ only })).toString('base64');
    const answer = await tick(url, '61', { data });
    expect(answer.ok).toBe(true);
    expect(rt.logs).toHaveLength(1);
    const line = JSON.parse(rt.logs[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ severity: 'ERROR', messageId: '61' });
    expect(line.message).toContain(`probe trigger rejected (acknowledged, not retried): ${reason}`);
    expect(line.err).toBeUndefined(); // no error object, no stack
    expect(rt.logs[0]!.length).toBeLessThan(8_000);
    expect(alerts(rt)).toEqual([]);
    expect((await readState(rt.store, 'prod', 'api', new Date().toISOString())).generation).toBeNull();
  });
});

describe('a tick with no data at all (a message of attributes only, as `gcloud pubsub topics publish --attribute`)', () => {
  it('is the empty request: the probes run', async () => {
    const env = operatorFileEnv({ probes: [{ name: 'api', url: `${targets.url}/health` }] });
    const { url, rt } = await instance('probeEventNoData', env);
    expect((await tick(url, '71', { attributes: { by: 'hand' } })).ok).toBe(true);
    expect(rt.logs.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(['probes: 1 passed, 0 failed']);
  });
});
