/** The HTTP probe's answer body: a Content-Encoding decoded before conditions read it, and bounded like any body. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { ProbeSchema, resolveProbe, type ProbeInput } from '../../shared/probes/config';
import { runProbe } from '../../shared/probes/probe';
import { BODY_LIMIT } from '../../shared/probes/http';
import { openStore } from '../../shared/storage/open';
import { tempDir } from '../support/temp';

const HEALTHY = '{"status":"healthy","checks":{"database":{"age_groups_count":4}}}';
// 64 MiB of zeros inside a JSON string, gzipped to some 64 KiB: decoded only up to the limit
const BOMB = gzipSync(Buffer.concat([Buffer.from('{"pad":"'), Buffer.alloc(64 * 1024 * 1024, 48), Buffer.from('"}')]));
const encoded: Record<string, [string, Buffer]> = {
  '/gzip': ['gzip', gzipSync(HEALTHY)],
  '/deflate': ['deflate', deflateSync(HEALTHY)],
  '/br': ['br', brotliCompressSync(HEALTHY)],
  '/bomb': ['gzip', BOMB],
  '/broken': ['gzip', gzipSync(HEALTHY).subarray(0, 12)],
  '/unknown': ['compress', Buffer.from(HEALTHY)],
};

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const found = encoded[req.url ?? ''];
    if (!found) return res.writeHead(404).end();
    const [encoding, body] = found;
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const store = openStore(`file://${tempDir('mt-probe-body-')}`);
const probe = (input: Partial<ProbeInput>) =>
  runProbe(resolveProbe(ProbeSchema.parse({ name: 't', ...input })), { store, env: 'test' });

describe('http probe: a body sent with a Content-Encoding', () => {
  it.each(['gzip', 'deflate', 'br'])('%s: decoded, the conditions and the excerpt read the JSON', async (encoding) => {
    const r = await probe({
      url: `${base}/${encoding}`,
      conditions: ['[STATUS] == 200', '[BODY].status == healthy', '[BODY].checks.database.age_groups_count > 0'],
    });
    expect(r).toMatchObject({ ok: true, failed: [], excerpt: HEALTHY });
  });

  it('HEAD: no body to decode, none read', async () => {
    const r = await probe({ url: `${base}/gzip`, method: 'HEAD', conditions: ['[STATUS] == 200', 'len([BODY]) == 0'] });
    expect(r).toMatchObject({ ok: true, failed: [] });
  });

  it('a small body that inflates to 64 MiB: decoded only up to the limit, read as a cut body', async () => {
    const r = await probe({ url: `${base}/bomb`, conditions: ['[STATUS] == 200', '[BODY].pad == x'] });
    expect(r.status).toBe(200);
    expect(r.error).toBeUndefined();
    expect(r.failed.map((f) => f.message)).toEqual([
      `[BODY].pad == x: got a body cut at ${BODY_LIMIT / 1_048_576} MiB (not read as JSON)`,
    ]);
  });

  it('a damaged encoding: fails saying so in one line', async () => {
    const r = await probe({ url: `${base}/broken`, conditions: ['[STATUS] == 200'] });
    expect(r.ok).toBe(false);
    expect(r.error).toBe('the body could not be decoded (Content-Encoding: gzip): unexpected end of file');
  });

  it('an encoding not decoded (compress): the bytes as sent', async () => {
    const r = await probe({ url: `${base}/unknown`, conditions: ['[BODY].status == healthy'] });
    expect(r).toMatchObject({ ok: true, excerpt: HEALTHY });
  });
});
