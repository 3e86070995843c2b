/**
 * Event publishing is chosen explicitly and never crashes the work: the CLI prints one warning line and exits by
 * the work's result; a function saves the event to the bucket's outbox and the next run of any function publishes it.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { PubSub, type Message } from '@google-cloud/pubsub';
import { createServer } from 'node:net';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';
import { freePort } from '../support/postgres-server';
import { emulatorJar, startPubSubEmulator, type PubSubEmulator } from '../support/pubsub-emulator';
import { chooseBus } from '../../shared/bus/open';
import { encodeCloudEvent } from '../../shared/bus/decode';
import { outboxKeys } from '../../shared/bus/outbox';
import { loadConfig } from '../../shared/config/load';
import { functionRuntime } from '../../shared/functions/runtime';
import { bindEntryPoint, type EventHandler } from '../../shared/functions/entry-points';
import { entryPoints as backupEntryPoints } from '../../functions/backup/handlers';
import { entryPoints as retentionEntryPoints } from '../../functions/retention/handlers';
import { listBackups } from '../../shared/backup/catalog';
import type { ObjectStore } from '../../shared/storage/types';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('mt_publish');
  await loadAwkwardSchema(db);
});

describe('which bus', () => {
  it.each([
    ['nothing set', {}, 'memory', undefined],
    ['GOOGLE_CLOUD_PROJECT alone (gcloud configured on a laptop)', { GOOGLE_CLOUD_PROJECT: 'p' }, 'memory', undefined],
    ['PUBSUB_EMULATOR_HOST', { PUBSUB_EMULATOR_HOST: '127.0.0.1:8085' }, 'pubsub', 'mt-ops-events'],
    ['EVENTS_TOPIC', { EVENTS_TOPIC: 'mt-ops-events-prod', GOOGLE_CLOUD_PROJECT: 'p' }, 'pubsub', 'mt-ops-events-prod'],
    ['OPS_EVENTS=pubsub', { OPS_EVENTS: 'pubsub', GOOGLE_CLOUD_PROJECT: 'p' }, 'pubsub', 'mt-ops-events'],
    [
      'OPS_EVENTS=memory over the emulator',
      { OPS_EVENTS: 'memory', PUBSUB_EMULATOR_HOST: '127.0.0.1:8085' },
      'memory',
      undefined,
    ],
  ])('%s', (_name, env, kind, topic) => {
    const choice = chooseBus(loadConfig({ OPS_CONFIG: undefined, ...env }).env);
    expect(choice.kind).toBe(kind);
    if (choice.kind === 'pubsub') expect(choice.topic).toBe(topic);
  });

  it('a bad OPS_EVENTS is a configuration error (exit 2)', async () => {
    const r = await runCli(['config'], { env: { OPS_EVENTS: 'kafka', OPS_CONFIG: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/OPS_EVENTS/);
  });
});

describe('the CLI: a failed publish never turns a completed backup into a failure', () => {
  it('GOOGLE_CLOUD_PROJECT set and no credentials: in-process events, exit 0, nothing on stderr', async () => {
    const home = tempDir('mt-nocreds-home-');
    const r = await runCli(['backup', '--no-progress'], {
      env: {
        DATABASE_URL: db.url,
        BACKUP_BUCKET: `file://${tempDir('mt-nocreds-')}`,
        OPS_CONFIG: '',
        GOOGLE_CLOUD_PROJECT: 'mt-ops-laptop',
        HOME: home,
        GOOGLE_APPLICATION_CREDENTIALS: '',
      },
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
  });

  it('OPS_EVENTS=pubsub with a real project and no credentials: the backup completes, one warning line, exit 0', async () => {
    // the metadata server's address answered by a server that drops every connection: off Google Cloud, wherever
    // the test runs (the auth library then also emits a MetadataLookupWarning)
    const metadata = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    try {
      const bucket = tempDir('mt-nocreds-pubsub-');
      const r = await runCli(['backup', '--no-progress'], {
        env: {
          DATABASE_URL: db.url,
          BACKUP_BUCKET: `file://${bucket}`,
          OPS_CONFIG: '',
          OPS_EVENTS: 'pubsub',
          GOOGLE_CLOUD_PROJECT: 'mt-ops-laptop',
          PUBSUB_EMULATOR_HOST: undefined,
          HOME: tempDir('mt-nocreds-home-'),
          CLOUDSDK_CONFIG: undefined,
          GOOGLE_APPLICATION_CREDENTIALS: undefined,
          METADATA_SERVER_DETECTION: undefined,
          GCE_METADATA_HOST: `127.0.0.1:${(metadata.address() as { port: number }).port}`,
        },
      });
      expect(r.code, r.stderr).toBe(0);
      const id = r.stdout.trim();
      expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(
        /event backup\.succeeded not published \(the work itself is done\): no Google Cloud credentials for Pub\/Sub in project mt-ops-laptop .*gcloud auth application-default login/,
      );
      const store = (await import('../../shared/storage/open')).openStore(`file://${bucket}`);
      expect((await listBackups(store, 'local')).map((b) => b.id)).toEqual([id]);
    } finally {
      await new Promise((resolve) => metadata.close(resolve));
    }
  });

  it('OPS_EVENTS=pubsub with nothing listening on the emulator port: the backup completes, one warning line, exit 0', async () => {
    const port = await freePort();
    const bucket = tempDir('mt-deadbus-');
    const r = await runCli(['backup', '--no-progress'], {
      env: {
        DATABASE_URL: db.url,
        BACKUP_BUCKET: `file://${bucket}`,
        OPS_CONFIG: '',
        OPS_EVENTS: 'pubsub',
        PUBSUB_EMULATOR_HOST: `127.0.0.1:${port}`,
        GOOGLE_CLOUD_PROJECT: 'mt-ops-laptop',
      },
    });
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{4}$/);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/event backup\.succeeded not published \(the work itself is done\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
    const backups = await listBackups(
      (await import('../../shared/storage/open')).openStore(`file://${bucket}`),
      'local',
    );
    expect(backups.map((b) => b.id)).toEqual([id]);
  });
});

async function outbox(store: ObjectStore, env: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(outboxKeys.prefix(env))) keys.push(o.key);
  return keys;
}

describe.skipIf(!emulatorJar())('a function: the outbox (real Pub/Sub emulator)', () => {
  let emulator: PubSubEmulator;
  let client: PubSub;
  const projectId = 'mt-ops-outbox';

  beforeAll(async () => {
    emulator = await startPubSubEmulator();
    client = new PubSub({ projectId, apiEndpoint: emulator.host, emulatorMode: true });
    await client.createTopic('mt-ops-events');
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await emulator?.stop();
  });

  it('an event that could not be published goes to <env>/.outbox/ and the next run of any function publishes it, once delivered then removed', async () => {
    const bucket = `file://${tempDir('mt-outbox-')}`;
    const deadPort = await freePort();
    const base = {
      OPS_CONFIG: undefined,
      DATABASE_URL: db.url,
      BACKUP_BUCKET: bucket,
      OPS_ENV: 'prod',
      GOOGLE_CLOUD_PROJECT: projectId,
      LOG_LEVEL: 'silent',
    };

    // 1. The scheduled backup runs while Pub/Sub is unreachable: it completes, and its event waits in the outbox.
    const down = functionRuntime(loadConfig({ ...base, PUBSUB_EMULATOR_HOST: `127.0.0.1:${deadPort}` }), 'backup');
    const backupEvent = bindEntryPoint(backupEntryPoints.backupEvent!, () => down) as EventHandler;
    await backupEvent(
      encodeCloudEvent({ topic: 'mt-ops-backup-trigger', payload: { label: 'nightly' }, messageId: '4242' }) as never,
    );
    await down.bus.close();
    const backups = await listBackups(down.store, 'prod');
    expect(backups.map((b) => b.kind)).toEqual(['complete']);
    const waiting = await outbox(down.store, 'prod');
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatch(/^prod\/\.outbox\/\d{8}T\d{9}Z-[0-9a-f]{8}\.json$/);

    // 2. The next run of another function (retention), with Pub/Sub back, publishes it first.
    const [subscription] = await client.topic('mt-ops-events').createSubscription('outbox-check');
    const received: Message[] = [];
    subscription.on('message', (m: Message) => {
      received.push(m);
      m.ack();
    });
    const up = functionRuntime(loadConfig({ ...base, PUBSUB_EMULATOR_HOST: emulator.host }), 'retention');
    const retentionEvent = bindEntryPoint(retentionEntryPoints.retentionEvent!, () => up) as EventHandler;
    await retentionEvent(
      // a real run (a dry run publishes nothing); the default policy keeps the one backup
      encodeCloudEvent({ topic: 'mt-ops-retention-trigger', payload: {}, messageId: '4343' }) as never,
    );
    await up.bus.close();
    const deadline = Date.now() + 20_000;
    while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await subscription.close();
    const events = received.map((m) => JSON.parse(m.data.toString()) as { type: string; backupId?: string });
    expect(events.map((e) => e.type)).toEqual(['backup.succeeded', 'retention.completed']);
    expect(events[0]!.backupId).toBe(backups[0]!.id);
    expect(await outbox(up.store, 'prod')).toEqual([]);
  }, 60_000);
});
