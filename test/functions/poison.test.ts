/** Poison Pub/Sub messages through the real functions-framework server: acknowledged (2xx), logged with the field path, never a 500 loop. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { backupEventHandler } from '../../functions/backup/handlers';
import { retentionEventHandler } from '../../functions/retention/handlers';
import { verifyEventHandler } from '../../functions/verify/handlers';
import { PUBSUB_CLOUDEVENT_TYPE } from '../../shared/bus/decode';
import { postPubsubEvent } from '../support/cloudevents';

type Rt = ReturnType<typeof testRuntime>;
const servers: Server[] = [];

async function serve(name: string, handler: (e: never) => Promise<unknown>): Promise<string> {
  ff.cloudEvent(name, handler as never);
  const server = getTestServer(name);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
});

/** Eventarc's binary mode: the CloudEvent attributes as ce-* headers, the body is `{message, subscription}`. */
const binary = (url: string, body: unknown, id = '1') => postPubsubEvent(url, body, { id });

/** Structured mode: the whole CloudEvent is the body. */
function structured(url: string, event: unknown) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify(event),
  });
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');

let rt: Rt;
let backupUrl: string;

beforeAll(async () => {
  rt = testRuntime({
    DATABASE_URL: 'postgres://ops:pw@127.0.0.1:1/never',
    BACKUP_BUCKET: `file://${tempDir()}`,
    OPS_ENV: 'poison',
  });
  backupUrl = await serve(
    'backupEventPoison',
    backupEventHandler(() => rt),
  );
});

describe('a poison message is acknowledged and logged with its field path', () => {
  it.each<[string, unknown, string]>([
    ['data is a number', { message: { data: 1, messageId: '1' } }, 'data.message.data: must be base64 text'],
    ['data is a boolean', { message: { data: true, messageId: '2' } }, 'data.message.data: must be base64 text'],
    ['data is an object', { message: { data: { a: 1 }, messageId: '3' } }, 'data.message.data: must be base64 text'],
    ['messageId is not a string', { message: { data: '', messageId: { toString: 1 } } }, 'data.message.messageId: '],
    [
      'messageId is 5,000 characters',
      { message: { data: '', messageId: '7'.repeat(5000) } },
      'data.message.messageId: ',
    ],
    ['messageId is not decimal', { message: { data: '', messageId: '../../etc' } }, 'data.message.messageId: '],
    [
      'attributes are not strings',
      { message: { data: '', messageId: '4', attributes: { a: 1 } } },
      'data.message.attributes.a: ',
    ],
    [
      'attributes are a string',
      { message: { data: '', messageId: '5', attributes: 'x' } },
      'data.message.attributes: ',
    ],
    ['data is not base64', { message: { data: '%%%', messageId: '6' } }, 'data.message.data: not base64'],
    [
      'data is base64 of a bad payload',
      { message: { data: b64({ label: 42 }), messageId: '8' } },
      'data.message.data.label: ',
    ],
    ['no message', { nope: true }, 'data.message: missing'],
  ])('%s', async (_name, body, path) => {
    const before = rt.logs.length;
    const res = await binary(backupUrl, body);
    expect(res.status).toBe(204);
    const logged = rt.logs.slice(before).join('\n');
    expect(logged).toContain('backup trigger rejected');
    expect(logged).toContain(path);
    expect(logged).not.toContain('7'.repeat(100));
    expect(rt.bus.published).toEqual([]);
  });

  it('in structured mode too (the id of the event is checked like a message id)', async () => {
    const before = rt.logs.length;
    const res = await structured(backupUrl, {
      specversion: '1.0',
      id: 'x'.repeat(5000),
      type: PUBSUB_CLOUDEVENT_TYPE,
      source: 's',
      data: { message: { data: 1 } },
    });
    expect(res.status).toBe(204);
    const logged = rt.logs.slice(before).join('\n');
    expect(logged).toContain('id: must be a Pub/Sub message id');
    expect(logged).toContain('data.message.data: must be base64 text');
    expect(logged).not.toContain('x'.repeat(100));
  });

  it('a valid message still reaches the backup (which fails here: no database) and is retried', async () => {
    const res = await binary(
      backupUrl,
      { message: { data: b64({ label: 'ok' }), messageId: '123456789' } },
      '123456789',
    );
    expect(res.status).toBe(500);
    expect(rt.bus.published.map((m) => m.event.type)).toEqual(['backup.failed']);
    rt.bus.published.length = 0;
  });

  it('retention and verify acknowledge poison too', async () => {
    const other = testRuntime({ BACKUP_BUCKET: `file://${tempDir()}`, OPS_ENV: 'poison' });
    for (const [name, handler] of [
      ['retentionPoison', retentionEventHandler(() => other)],
      ['verifyPoison', verifyEventHandler(() => other)],
    ] as const) {
      const url = await serve(name, handler);
      for (const body of [
        { message: { data: 1, messageId: '1' } },
        { message: { data: '', messageId: { toString: 1 } } },
        { message: { data: b64({ x: 1 }), messageId: '2' } },
      ]) {
        expect((await binary(url, body)).status).toBe(204);
      }
    }
    expect(other.logs.filter((l) => l.includes('trigger rejected'))).toHaveLength(6);
    expect(other.bus.published).toEqual([]);
  });
});
