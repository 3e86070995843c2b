/**
 * Publishing over Pub/Sub's REST API (shared/bus/pubsub-rest.ts): through the real emulator, pulled back with the
 * official client; and against the real service's protocol (a fake Pub/Sub REST server and a fake metadata server
 * handing google-auth-library a token): the bearer token reaches Pub/Sub, 429 and 503 are retried, 403 is not, and
 * a publish that hangs ends at the deadline in one line.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { emulatorJar, startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator';
import { FAKE_TOKEN, googleError, startFakeMetadata, startFakePubSubRest } from '../support/fake-pubsub-rest';
import type { FakeHttp } from '../support/fake-http';
import { tempDir } from '../support/temp';
import { PubSubBus } from '../../shared/bus/pubsub-bus';
import { pubsubEndpoint } from '../../shared/bus/pubsub-rest';
import { openBus } from '../../shared/bus/open';
import type { OpsEvent, OpsEventInput } from '../../shared/bus/events';
import { loadConfig } from '../../shared/config/load';

const alert: OpsEventInput = {
  type: 'alert',
  severity: 'critical',
  env: 'prod',
  time: '2026-11-29T03:00:00.000Z',
  status: 'firing',
  fingerprint: 'probe/prod/api',
  title: 'API down',
  summary: 'unicode: é ✓',
  evidence: [],
  labels: {},
  links: [],
  startsAt: '2026-11-29T02:58:00.000Z',
  source: 'probe',
};
const attributes = { type: 'alert', severity: 'critical', env: 'prod', status: 'firing', source: 'probe' };

/** Sets process.env for one block; restores it after. */
function withEnv(vars: Record<string, string | undefined>) {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const [k, v] of Object.entries(vars)) {
      saved[k] = process.env[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

describe('the endpoint, resolved as the official client resolves it', () => {
  it.each<[string, Parameters<typeof pubsubEndpoint>[0], Record<string, string>, { url: string; emulator: boolean }]>([
    ['nothing set', {}, {}, { url: 'https://pubsub.googleapis.com', emulator: false }],
    [
      'PUBSUB_EMULATOR_HOST',
      {},
      { PUBSUB_EMULATOR_HOST: 'localhost:8085' },
      { url: 'http://localhost:8085', emulator: true },
    ],
    [
      'an explicit host over PUBSUB_EMULATOR_HOST',
      { apiEndpoint: '127.0.0.1:9' },
      { PUBSUB_EMULATOR_HOST: 'localhost:8085' },
      { url: 'http://127.0.0.1:9', emulator: true },
    ],
    ['a URL with slashes', { apiEndpoint: 'http://127.0.0.1:9//' }, {}, { url: 'http://127.0.0.1:9', emulator: true }],
    [
      'a googleapis.com host is the real service',
      {},
      { PUBSUB_EMULATOR_HOST: 'us-east1-pubsub.googleapis.com:443' },
      { url: 'https://us-east1-pubsub.googleapis.com:443', emulator: false },
    ],
    [
      'emulatorMode false: credentials, http as the URL says',
      { apiEndpoint: 'http://127.0.0.1:9', emulatorMode: false },
      {},
      { url: 'http://127.0.0.1:9', emulator: false },
    ],
    [
      'CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB',
      {},
      { CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB: 'https://pubsub.googleapis.com/' },
      { url: 'https://pubsub.googleapis.com', emulator: false },
    ],
  ])('%s', (_name, options, env, expected) => {
    expect(pubsubEndpoint(options, env)).toEqual(expected);
  });
});

describe.skipIf(!emulatorJar())('REST publish on the emulator', () => {
  let emulator: PubSubEmulator;
  let client: PubSub;
  const projectId = 'mt-ops-rest';

  beforeAll(async () => {
    emulator = await startPubSubEmulator();
    client = new PubSub({ projectId, apiEndpoint: emulator.host, emulatorMode: true });
    await client.createTopic('mt-ops-events');
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await emulator?.stop();
  });

  it('honours PUBSUB_EMULATOR_HOST from process.env; the official client receives the same data and attributes', async () => {
    const [subscription] = await client.topic('mt-ops-events').createSubscription('rest-check');
    const received: Message[] = [];
    subscription.on('message', (m: Message) => {
      received.push(m);
      m.ack();
    });
    process.env.PUBSUB_EMULATOR_HOST = emulator.host;
    try {
      const bus = new PubSubBus({ projectId });
      expect(bus.endpoint).toEqual({ url: `http://${emulator.host}`, emulator: true });
      const id = await bus.publish(alert);
      await bus.close();
      const deadline = Date.now() + 20_000;
      while (received.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(received).toHaveLength(1);
      expect(received[0]!.id).toBe(id);
      expect(received[0]!.attributes).toEqual(attributes);
      expect(received[0]!.data.toString('utf8')).toBe(JSON.stringify(alert));
    } finally {
      delete process.env.PUBSUB_EMULATOR_HOST;
      await subscription.close();
    }
  });
});

describe('REST publish to the real service (fake Pub/Sub REST, fake metadata server)', () => {
  let pubsub: FakeHttp;
  let metadata: Awaited<ReturnType<typeof startFakeMetadata>>;
  const env: Record<string, string | undefined> = {
    METADATA_SERVER_DETECTION: undefined,
    GOOGLE_APPLICATION_CREDENTIALS: undefined,
    CLOUDSDK_CONFIG: tempDir('mt-rest-gcloud-'), // no gcloud application-default credentials file
    HOME: tempDir('mt-rest-home-'),
    PUBSUB_EMULATOR_HOST: undefined,
  };
  withEnv(env);
  beforeAll(async () => {
    [pubsub, metadata] = await Promise.all([startFakePubSubRest(), startFakeMetadata()]);
    process.env.GCE_METADATA_HOST = metadata.host;
  });
  afterAll(async () => {
    delete process.env.GCE_METADATA_HOST;
    await Promise.all([pubsub?.close(), metadata?.close()]);
  });

  const bus = () => new PubSubBus({ projectId: 'mt-ops-fake', apiEndpoint: pubsub.url, emulatorMode: false });
  const from = () => pubsub.received.length;

  it("the metadata server's token reaches Pub/Sub; 429 (Retry-After) and 503 are retried, then the message lands once", async () => {
    const start = from();
    pubsub.script(
      { ...googleError(429, 'RESOURCE_EXHAUSTED', 'slow down'), headers: { 'retry-after': '1' } },
      googleError(503, 'UNAVAILABLE', 'try again'),
    );
    const b = bus();
    const id = await b.publish(alert);
    await b.close();
    const requests = pubsub.received.slice(start);
    expect(requests.map((r) => (r as { status?: number }).status)).toEqual([429, 503, 200]);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(950); // Retry-After: 1 honoured
    for (const r of requests) {
      expect(r.method).toBe('POST');
      expect(r.path).toBe('/v1/projects/mt-ops-fake/topics/mt-ops-events:publish');
      expect(r.headers.authorization).toBe(`Bearer ${FAKE_TOKEN}`);
      expect(r.headers['content-type']).toBe('application/json');
    }
    const [message] = (requests[2]!.json as { messages: Array<{ data: string; attributes: unknown }> }).messages;
    expect(JSON.parse(Buffer.from(message!.data, 'base64').toString('utf8'))).toEqual(alert);
    expect(message!.attributes).toEqual(attributes);
    expect(id).toMatch(/^\d+$/);
    // the token came from the metadata server, asked as google-auth-library asks it
    expect(
      metadata.received.some((r) => r.path.startsWith('/computeMetadata/v1/instance/service-accounts/default/token')),
    ).toBe(true);
  });

  it('403 is not retried: one line naming the topic and the status', async () => {
    const start = from();
    pubsub.script(googleError(403, 'PERMISSION_DENIED', 'User not authorized to perform this action.'));
    const b = bus();
    const err = (await b.publish(alert).catch((e: unknown) => e)) as Error;
    await b.close();
    expect(err.message).toBe(
      'Pub/Sub refused publishing to topic mt-ops-events in project mt-ops-fake: HTTP 403 PERMISSION_DENIED: User not authorized to perform this action.',
    );
    expect(pubsub.received.length - start).toBe(1);
  });

  it('404 (no such topic) is not retried either', async () => {
    const start = from();
    pubsub.script(googleError(404, 'NOT_FOUND', 'Resource not found (resource=mt-ops-events).'));
    const err = (await bus()
      .publish(alert)
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /^Pub\/Sub refused publishing to topic mt-ops-events in project mt-ops-fake: HTTP 404 NOT_FOUND: /,
    );
    expect(pubsub.received.length - start).toBe(1);
  });
});

describe('the publish deadline (openBus)', () => {
  let pubsub: FakeHttp;
  withEnv({ PUBSUB_EMULATOR_HOST: undefined });
  beforeAll(async () => {
    pubsub = await startFakePubSubRest();
  });
  afterAll(async () => {
    await pubsub?.close();
  });

  function open(publishTimeoutMs: number) {
    const undelivered: Array<{ event: OpsEvent; message: string }> = [];
    const bus = openBus(
      loadConfig({
        OPS_CONFIG: undefined,
        PUBSUB_EMULATOR_HOST: pubsub.url.replace('http://', ''),
        GOOGLE_CLOUD_PROJECT: 'mt-ops-fake',
      }),
      {
        publishTimeoutMs,
        onUndelivered: (event, err) => void undelivered.push({ event, message: String((err as Error).message) }),
      },
    );
    return { bus, undelivered };
  }

  it('a publish that hangs ends at the deadline, in one line, its connection closed', async () => {
    pubsub.script({ status: 200, hang: true });
    const { bus, undelivered } = open(1_000);
    const start = Date.now();
    await expect(bus.publish(alert)).resolves.toBe('');
    const took = Date.now() - start;
    expect(took).toBeGreaterThanOrEqual(990);
    expect(took).toBeLessThan(3_000);
    expect(undelivered.map((u) => u.message)).toEqual([
      `publishing to mt-ops-events took over 1 s (no answer from ${pubsub.url})`,
    ]);
    await bus.close();
    const deadline = Date.now() + 2_000;
    while (pubsub.openHanging() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(pubsub.openHanging()).toBe(0);
  });

  it('503 on every attempt: retried with backoff until the deadline, which says what the last attempt met', async () => {
    const start = pubsub.received.length;
    pubsub.script(...Array.from({ length: 50 }, () => googleError(503, 'UNAVAILABLE', 'The service is unavailable.')));
    const { bus, undelivered } = open(1_500);
    await bus.publish(alert);
    await bus.close();
    const attempts = pubsub.received.length - start;
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(attempts).toBeLessThan(20); // backoff, not a hot loop
    expect(undelivered.map((u) => u.message)).toEqual([
      'publishing to mt-ops-events took over 1.5 s (last attempt: HTTP 503 UNAVAILABLE: The service is unavailable.)',
    ]);
  });
});
