/**
 * What a probe's failed conditions and excerpt say, end to end (runProbe against local targets on 127.0.0.1): the
 * conditions as written, the values masked, and no answer or a cut body said as such.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProbeSchema, resolveProbe, type ProbeInput } from '../../shared/probes/config';
import { runProbe } from '../../shared/probes/probe';
import { BODY_LIMIT } from '../../shared/probes/http';
import { openStore } from '../../shared/storage/open';
import { tempDir } from '../support/temp';

let server: Server;
let base: string;
const store = openStore(`file://${tempDir('mt-probe-messages-')}`);
// valid JSON, twice the read limit
const BIG = JSON.stringify({ status: 'healthy', pad: 'x'.repeat(2 * BODY_LIMIT) });

beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    // /echo answers with the request's headers, as a careless or debugging server does
    if (req.url === '/echo') res.end(JSON.stringify({ status: 'healthy', headers: req.headers }));
    else if (req.url === '/big') res.end(BIG);
    else if (req.url === '/limit') res.end(JSON.stringify({ status: 'healthy', pad: 'x' }).padEnd(BODY_LIMIT, ' '));
    else res.end('{"status":"healthy"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const probe = (input: Partial<ProbeInput>, env: NodeJS.ProcessEnv = {}) =>
  runProbe(resolveProbe(ProbeSchema.parse({ name: 't', timeoutMs: 5000, ...input }), env), { store, env: 'test' });
const messages = (r: { failed: { condition: string; message: string }[] }) =>
  r.failed.filter((f) => f.condition !== 'probe').map((f) => f.message);

describe('failed conditions say what they saw, as written', () => {
  it('conditions on secret-named fields, with no secret anywhere: shown as written, "got" kept', async () => {
    const r = await probe({
      url: `${base}/echo`,
      conditions: ['[BODY].authorization == nope', '[BODY].password == x', '[BODY].status == token'],
    });
    expect(messages(r)).toEqual([
      '[BODY].authorization == nope: got nothing (missing)',
      '[BODY].password == x: got nothing (missing)',
      '[BODY].status == token: got "healthy"',
    ]);
  });

  it('a ${VAR} secret quoted back: the condition as written, the value masked', async () => {
    const r = await probe(
      {
        url: `${base}/echo`,
        headers: { Authorization: 'Bearer ${MT_T_MSG_TOKEN}' },
        conditions: ['[BODY].headers.authorization == nope'],
      },
      { MT_T_MSG_TOKEN: 'tokValue4242' },
    );
    expect(messages(r)).toEqual(['[BODY].headers.authorization == nope: got "***"']);
    expect(JSON.stringify(r)).not.toContain('tokValue4242');
  });

  it('a literal Cookie header quoted back: masked in the excerpt (which the state keeps)', async () => {
    const r = await probe({
      url: `${base}/echo`,
      headers: { Cookie: 'session=cookieVal99' },
      conditions: ['[STATUS] == 200'],
    });
    expect(r.excerpt).toContain('"cookie":"***"');
    expect(r.excerpt).not.toContain('cookieVal99');
  });

  it('a literal X-Api-Key (a secret by its name) quoted back by a condition: the condition as written, the value masked', async () => {
    const r = await probe({
      url: `${base}/echo`,
      headers: { 'X-Api-Key': 'literalKey7788', Authorization: 'Bearer literalTok5566' },
      conditions: ['[BODY].headers.x-api-key == nope', '[BODY].headers.authorization == nope'],
    });
    expect(messages(r)).toEqual([
      '[BODY].headers.x-api-key == nope: got "***"',
      '[BODY].headers.authorization == nope: got "***"',
    ]);
    expect(JSON.stringify(r)).not.toMatch(/literalKey7788|literalTok5566/);
  });

  it('no answer (refused): "got no answer", not "a body that is not JSON"', async () => {
    const r = await probe({ url: 'http://127.0.0.1:1/', conditions: ['[BODY].status == healthy'] });
    expect(r.error).toMatch(/refused/);
    expect(messages(r)).toEqual(['[BODY].status == healthy: got no answer']);
  });

  it('a valid 2 MiB JSON body: read up to 1 MiB, and said so', async () => {
    const r = await probe({ url: `${base}/big`, conditions: ['[STATUS] == 200', '[BODY].status == healthy'] });
    expect(messages(r)).toEqual(['[BODY].status == healthy: got a body cut at 1 MiB (not read as JSON)']);
  });

  it('a body of exactly the limit is whole, not cut', async () => {
    const r = await probe({ url: `${base}/limit`, conditions: ['[BODY].status == healthy'] });
    expect(r.ok).toBe(true);
  });
});
