/**
 * Every error answer of the deployed entry points is JSON `{"error", "issues"}`, with no stack and no server path,
 * whatever NODE_ENV says: the real functions-framework server, serving what functions/<name>/index.ts registers.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { tempDir } from '../support/temp';
import { postPubsubEvent } from '../support/cloudevents';

const servers: Server[] = [];
const urls: Record<string, string> = {};
const saved = { ...process.env };

beforeAll(async () => {
  // What the deployed functions read from their environment; the database is unreachable on purpose.
  Object.assign(process.env, {
    DATABASE_URL: 'postgres://ops:pw-never-shown@127.0.0.1:1/x',
    BACKUP_BUCKET: `file://${tempDir()}`,
    OPS_ENV: 'errors',
    OPS_CONFIG: '',
    LOG_LEVEL: 'silent',
  });
  delete process.env.NODE_ENV;
  await import('../../functions/backup/index');
  await import('../../functions/retention/index');
  await import('../../functions/verify/index');
  for (const name of ['backupHttp', 'backupEvent', 'retentionEvent', 'verifyEvent']) {
    const server = getTestServer(name);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }
});

afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  process.env = saved;
});

async function expectJsonError(res: Response, status: number): Promise<{ error: string; issues: string[] }> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(text).not.toMatch(/<html|<pre|node_modules|\/work\/|\/srv\/|\s+at \S+ \(|pw-never-shown/i);
  const body = JSON.parse(text) as { error: string; issues: string[] };
  expect(typeof body.error).toBe('string');
  expect(Array.isArray(body.issues)).toBe(true);
  return body;
}

const post = (url: string, body: string, contentType: string) =>
  fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
const many = Array.from({ length: 1500 }, (_, i) => `p${i}=1`).join('&');

describe.each(['backupHttp', 'backupEvent', 'retentionEvent', 'verifyEvent'])('%s: error answers are JSON', (name) => {
  it('malformed JSON: 400', async () => {
    const body = await expectJsonError(await post(urls[name]!, '{not json', 'application/json'), 400);
    expect(body.issues).toEqual(['body: not valid JSON']);
  });

  it('an unsupported charset: 415', async () => {
    await expectJsonError(await post(urls[name]!, '{}', 'application/json; charset=latin2'), 415);
  });

  it('too many urlencoded parameters: 413', async () => {
    await expectJsonError(await post(urls[name]!, many, 'application/x-www-form-urlencoded'), 413);
  });
});

describe('CloudEvent endpoints', () => {
  it.each(['backupEvent', 'retentionEvent', 'verifyEvent'])(
    '%s: a text/plain body is 415, not a 500 from the framework',
    async (name) => {
      const body = await expectJsonError(await post(urls[name]!, 'hello', 'text/plain'), 415);
      expect(body.issues).toEqual(['body: not a JSON object']);
    },
  );

  it('a GET is a JSON 405', async () => {
    await expectJsonError(await fetch(urls.backupEvent!), 405);
  });

  it.each(['development', 'production'])(
    'a failing scheduled backup (retried by Pub/Sub) is a JSON 500 without stack or path (NODE_ENV=%s)',
    async (mode) => {
      process.env.NODE_ENV = mode;
      try {
        const res = await postPubsubEvent(
          urls.backupEvent!,
          { message: { data: '', messageId: String(Date.now()) } },
          { id: '42' },
        );
        const body = await expectJsonError(res, 500);
        if (mode === 'development') expect(body.error).toContain('cannot connect to the database');
      } finally {
        delete process.env.NODE_ENV;
      }
    },
  );
});

describe('the HTTP backup function', () => {
  it('a failing backup is a JSON 500 naming the failure, no path', async () => {
    const body = await expectJsonError(await post(urls.backupHttp!, '{}', 'application/json'), 500);
    expect(body.error).toContain('cannot connect to the database');
  });

  it('a 40,000-character unknown key is a prompt 400 with a bounded message', async () => {
    const res = await post(urls.backupHttp!, JSON.stringify({ ['k'.repeat(40_000)]: 1 }), 'application/json');
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text.length).toBeLessThan(2000);
  });
});

describe('scrubbing', () => {
  it('removes absolute paths, keeps URLs', async () => {
    const { scrubPaths } = await import('../../shared/functions/framework');
    expect(scrubPaths("ENAMETOOLONG: name too long, open '/tmp/mt-ops-x/errors/.triggers/1.json'")).toBe(
      "ENAMETOOLONG: name too long, open '<path>'",
    );
    expect(scrubPaths('see http://127.0.0.1:8080/backup and gs://bucket/a/b')).toBe(
      'see http://127.0.0.1:8080/backup and gs://bucket/a/b',
    );
  });
});
