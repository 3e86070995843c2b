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
    const cookie =
      req.url === '/secret-fields' ? { 'set-cookie': 'sid=servercookie42', 'x-auth-token': 'hdrtok-777' } : {};
    res.writeHead(200, { 'content-type': 'application/json', ...cookie });
    // /echo answers with the request's headers, as a careless or debugging server does
    if (req.url === '/echo') res.end(JSON.stringify({ status: 'healthy', headers: req.headers }));
    else if (req.url === '/big') res.end(BIG);
    // /pad-echo?n=N: N characters of padding, then the X-K header echoed back (so a cut at a fixed length can fall
    // inside it); with wrap=1, that object under "wrap"
    else if (req.url?.startsWith('/pad-echo')) {
      const q = new URL(req.url, 'http://x').searchParams;
      const inner = { pad: 'x'.repeat(Number(q.get('n'))), echo: req.headers['x-k'] };
      res.end(JSON.stringify(q.get('wrap') ? { wrap: inner } : inner));
    } else if (req.url === '/secret-fields') {
      res.end(
        JSON.stringify({
          status: 'healthy',
          password: 'hunter2xyz',
          access_token: 'tok-abc-123',
          pin_secret: 123456,
          credentials: { user: 'svc', key: 'credkey-55' },
          nulled_token: null,
        }),
      );
    } else if (req.url === '/more-secret-fields') {
      // pretty-printed, as many servers answer
      res.end(
        JSON.stringify(
          {
            status: 'healthy',
            credentials: { user: 'svc', key: 'credkey-55' },
            private_key: 'pk-999',
            passphrase: 'pp-1x',
            dbPass: 'dbp-2x',
            webhook: 'wh-4x',
            passed: 3,
          },
          null,
          2,
        ),
      );
    } else if (req.url === '/limit') res.end(JSON.stringify({ status: 'healthy', pad: 'x' }).padEnd(BODY_LIMIT, ' '));
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

describe('secrets are masked before anything is cut (a cut piece is no longer recognised)', () => {
  const env = { MT_T_CUT_TOKEN: 'sekrit-token-123456' };
  const headers = { 'X-K': '${MT_T_CUT_TOKEN}' };

  it('the excerpt: a body whose 200th character falls inside an echoed secret', async () => {
    // {"pad":"x…","echo":"  is 185 characters: the 200-character cut fell inside the token
    const r = await probe({ url: `${base}/pad-echo?n=167`, headers, conditions: ['[STATUS] == 200'] }, env);
    expect(r.excerpt).toContain('"echo":"***"');
    expect(JSON.stringify(r)).not.toMatch(/sekrit/);
  });

  it('a failed [BODY] condition: the body quoted, cut at 80 characters inside the secret', async () => {
    const r = await probe({ url: `${base}/pad-echo?n=55`, headers, conditions: ['[BODY] == x'] }, env);
    expect(messages(r)).toEqual([`[BODY] == x: got ${JSON.stringify(`{"pad":"${'x'.repeat(55)}","echo":"***"}`)}`]);
    expect(JSON.stringify(r)).not.toMatch(/sekrit/);
  });

  it('a failed condition on an object: its JSON cut at 120 characters inside the secret', async () => {
    const r = await probe({ url: `${base}/pad-echo?n=95&wrap=1`, headers, conditions: ['[BODY].wrap == x'] }, env);
    expect(messages(r)).toEqual([`[BODY].wrap == x: got {"pad":"${'x'.repeat(95)}","echo":"***"}`]);
    expect(JSON.stringify(r)).not.toMatch(/sekrit/);
  });

  it('a long body with the secret early: masked, then cut, the cut marked', async () => {
    const r = await probe({ url: `${base}/pad-echo?n=300&wrap=1`, headers, conditions: ['[BODY] == x'] }, env);
    const [message] = messages(r);
    expect(message).toMatch(/^\[BODY\] == x: got "\{\\"wrap\\":\{\\"pad\\":\\"x+\.\.\."$/);
    expect(r.excerpt).toMatch(/x\.\.\.$/);
    expect(JSON.stringify(r)).not.toMatch(/sekrit/);
  });
});

describe('values under secret-named fields and headers are masked in failed conditions, as in the excerpt', () => {
  it('body fields and headers named as secrets: "got" masked, the conditions as written', async () => {
    const r = await probe({
      url: `${base}/secret-fields`,
      conditions: [
        '[BODY].password == x',
        '[BODY].access_token == x',
        '[BODY].pin_secret == 1',
        '[BODY].credentials == x',
        '[BODY].credentials.key == x',
        '[HEADER].set-cookie == x',
        '[HEADER].x-auth-token == x',
        '[BODY].nulled_token == x',
        '[BODY].other_token == x',
        '[BODY].authorization == nope',
        '[BODY].status == x',
      ],
    });
    expect(messages(r)).toEqual([
      '[BODY].password == x: got "***"',
      '[BODY].access_token == x: got "***"',
      '[BODY].pin_secret == 1: got "***"',
      '[BODY].credentials == x: got "***"',
      '[BODY].credentials.key == x: got "***"',
      '[HEADER].set-cookie == x: got "***"',
      '[HEADER].x-auth-token == x: got "***"',
      '[BODY].nulled_token == x: got null',
      '[BODY].other_token == x: got nothing (missing)',
      '[BODY].authorization == nope: got nothing (missing)',
      '[BODY].status == x: got "healthy"',
    ]);
    expect(r.excerpt).not.toMatch(/hunter2xyz|tok-abc-123/);
    expect(JSON.stringify(r)).not.toMatch(/hunter2xyz|tok-abc-123|123456|credkey-55|servercookie42|hdrtok-777/);
  });

  it('fields named as secrets that no key=value mask knows (credentials, private_key, passphrase, dbPass, webhook): masked in the excerpt and a quoted body', async () => {
    const r = await probe({ url: `${base}/more-secret-fields`, conditions: ['[BODY] == x'] });
    const leaks = /credkey-55|pk-999|pp-1x|dbp-2x|wh-4x/;
    expect(r.excerpt).toBe(
      '{"status":"healthy","credentials":"***","private_key":"***","passphrase":"***","dbPass":"***","webhook":"***","passed":3}',
    );
    expect(JSON.stringify(r)).not.toMatch(leaks);
  });

  it('len() and has() of a secret-named field still say what they counted', async () => {
    const r = await probe({
      url: `${base}/secret-fields`,
      conditions: ['len([BODY].password) == 1', 'has([BODY].access_token) == false'],
    });
    expect(messages(r)).toEqual(['len([BODY].password) == 1: got 10', 'has([BODY].access_token) == false: got true']);
  });
});

describe('a condition naming a registered secret is stored masked', () => {
  it('failed[].condition masked as the message is', async () => {
    const r = await probe(
      {
        url: `${base}/pad-echo?n=1`,
        headers: { 'X-K': '${MT_T_COND_TOKEN}' },
        conditions: ['[BODY].pad == cond-secret-98765'],
      },
      { MT_T_COND_TOKEN: 'cond-secret-98765' },
    );
    expect(r.failed.map((f) => [f.condition, f.message])).toEqual([
      ['[BODY].pad == ***', '[BODY].pad == ***: got "x"'],
    ]);
    expect(JSON.stringify(r)).not.toContain('cond-secret-98765');
  });
});
