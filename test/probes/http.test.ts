/** The HTTP(S) probe against local targets on 127.0.0.1: conditions, timing fields, redirects, timeouts, TLS. */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import {
  startRecorder,
  startTargets,
  startTlsRecorder,
  startTlsTarget,
  type Recorder,
  type Targets,
  type TlsRecorder,
  type TlsTarget,
} from '../support/probe-targets';
import { ProbeSchema, resolveProbe, type ProbeInput } from '../../shared/probes/config';
import { runProbe } from '../../shared/probes/probe';
import { openStore } from '../../shared/storage/open';
import { tempDir } from '../support/temp';
import { redactString } from '../../shared/log/redact';

let targets: Targets;
let tls: TlsTarget;
const store = openStore(`file://${tempDir('mt-probe-http-')}`);
beforeAll(async () => {
  targets = await startTargets();
  tls = await startTlsTarget(10);
});
afterAll(async () => {
  await targets.close();
  await tls.close();
});

// no response-time condition here: on a loaded 2-core machine even a local answer can take 200 ms (the slow test checks it)
const FULL = ['[STATUS] == 200', '[BODY].status == healthy', '[BODY].checks.database.age_groups_count > 0'];
const probe = (input: Partial<ProbeInput>) =>
  runProbe(resolveProbe(ProbeSchema.parse({ name: 't', conditions: FULL, ...input })), { store, env: 'test' });

describe('http probe', () => {
  it('healthy: passes, with connect, time to first byte and total in order', async () => {
    const r = await probe({ url: `${targets.url}/healthy` });
    expect(r).toMatchObject({ ok: true, status: 200, failed: [] });
    const t = r.timings!;
    expect(t.dnsMs).toBeUndefined(); // an IP literal needs no lookup
    expect(t.tlsMs).toBeUndefined();
    expect(t.connectMs).toBeGreaterThan(0);
    expect(t.ttfbMs!).toBeGreaterThanOrEqual(t.connectMs!);
    expect(t.totalMs).toBeGreaterThanOrEqual(t.ttfbMs!);
    expect(r.latencyMs).toBe(t.totalMs);
  });

  it('a host name is looked up, and the lookup is timed', async () => {
    const r = await probe({
      url: `${targets.url.replace('127.0.0.1', 'localhost')}/healthy`,
      conditions: ['[STATUS] == 200', '[DNS_RCODE] == NOERROR'],
    });
    if (r.error?.includes('refused')) return; // localhost resolved to ::1 first and nothing listens there: the lookup still happened
    expect(r.ok).toBe(true);
    expect(r.timings!.dnsMs).toBeGreaterThanOrEqual(0);
    expect(r.timings!.connectMs!).toBeGreaterThanOrEqual(r.timings!.dnsMs!);
  });

  it('degraded (200, the outage a status check misses): fails saying what it saw', async () => {
    const r = await probe({ url: `${targets.url}/degraded` });
    expect(r.ok).toBe(false);
    expect(r.status).toBe(200);
    expect(r.failed.map((f) => f.message)).toEqual([
      '[BODY].status == healthy: got "degraded"',
      '[BODY].checks.database.age_groups_count > 0: got 0',
    ]);
    expect(r.excerpt).toMatch(/^\{ "status": "degraded"/);
  });

  it('503: fails on the status and on the wrapped body', async () => {
    const r = await probe({ url: `${targets.url}/unhealthy` });
    expect(r.failed.map((f) => f.message)).toEqual([
      '[STATUS] == 200: got 503',
      '[BODY].status == healthy: got nothing (missing)',
      '[BODY].checks.database.age_groups_count > 0: got nothing (missing)',
    ]);
  });

  it('slow: fails the response-time condition only', async () => {
    const r = await probe({ url: `${targets.url}/slow?ms=300`, conditions: [...FULL, '[RESPONSE_TIME] < 200'] });
    expect(r.failed.map((f) => f.condition)).toEqual(['[RESPONSE_TIME] < 200']);
    expect(r.latencyMs!).toBeGreaterThanOrEqual(300);
  });

  it('a hang: fails at the timeout, saying so', async () => {
    const r = await probe({ url: `${targets.url}/hang`, timeoutMs: 300 });
    expect(r.ok).toBe(false);
    expect(r.error).toBe('timed out after 300 ms (no answer)');
    expect(r.failed[0]).toMatchObject({
      condition: 'probe',
      severity: 'critical',
      message: 'timed out after 300 ms (no answer)',
    });
    expect(r.latencyMs!).toBeGreaterThanOrEqual(300);
  });

  it('a redirect loop: fails naming it, with the hops', async () => {
    const r = await probe({ url: `${targets.url}/loop` });
    expect(r.error).toBe(`redirect loop after 2 redirect(s): back to ${targets.url}/loop`);
    expect(r.redirects).toEqual([
      `302 ${targets.url}/loop -> ${targets.url}/loop-b`,
      `301 ${targets.url}/loop-b -> ${targets.url}/loop`,
    ]);
  });

  it('a redirect to another protocol (ftp:) is not followed, and says so in our words', async () => {
    const r = await probe({ url: `${targets.url}/redirect-ftp` });
    expect(r).toMatchObject({
      ok: false,
      status: 302,
      error: 'redirect to ftp: (only http and https are followed)',
      redirects: [`302 ${targets.url}/redirect-ftp -> ftp://127.0.0.1/file`],
    });
  });

  it('a redirect is followed and the result says so; with maxRedirects 0 the redirect itself is the answer', async () => {
    const r = await probe({ url: `${targets.url}/redirect` });
    expect(r).toMatchObject({ ok: true, redirects: [`301 ${targets.url}/redirect -> ${targets.url}/healthy`] });
    // a redirect an operator means to check (http -> https, a moved page): its status and Location
    const none = await probe({
      url: `${targets.url}/redirect`,
      maxRedirects: 0,
      conditions: ['[STATUS] == 301', '[HEADER].location == pat(*/healthy)'],
    });
    expect(none).toMatchObject({ ok: true, status: 301 });
    expect(none.redirects ?? []).toEqual([]);
    expect(none.error).toBeUndefined();
    const unmeant = await probe({ url: `${targets.url}/redirect`, maxRedirects: 0 });
    expect(unmeant.failed.map((f) => f.message)).toContain('[STATUS] == 200: got 301');
  });

  it('invalid JSON: the body conditions fail saying so', async () => {
    const r = await probe({ url: `${targets.url}/invalid-json` });
    expect(r.failed.map((f) => f.message)).toEqual([
      '[BODY].status == healthy: got a body that is not JSON',
      '[BODY].checks.database.age_groups_count > 0: got a body that is not JSON',
    ]);
  });

  it('connection refused: fails with one clear reason', async () => {
    const r = await probe({ url: 'http://127.0.0.1:1/health' });
    expect(r.error).toBe('connection refused by 127.0.0.1:1');
    expect(r.failed.map((f) => f.message)).toContain('[STATUS] == 200: got nothing (missing)');
  });

  describe('a probe asserting there is no connection (as Gatus, judged by its conditions)', () => {
    it.each<[string, () => string, string[], boolean]>([
      ['a refused port, [CONNECTED] == false: passes', () => 'http://127.0.0.1:1/', ['[CONNECTED] == false'], true],
      ['a refused port, [CONNECTED] != true: passes', () => 'http://127.0.0.1:1/', ['[CONNECTED] != true'], true],
      [
        'a name that does not resolve, [DNS_RCODE] == NXDOMAIN: passes',
        () => 'http://nothing-here.invalid/',
        ['[DNS_RCODE] == NXDOMAIN', '[CONNECTED] == false'],
        true,
      ],
      [
        'a listening target, [CONNECTED] == false: fails',
        () => `${targets.url}/health`,
        ['[CONNECTED] == false'],
        false,
      ],
      // the name resolved, the port refused: a condition on the lookup alone excuses no refused connection
      ['a refused port, [DNS_RCODE] == NOERROR: fails', () => 'http://localhost:1/', ['[DNS_RCODE] == NOERROR'], false],
      ['a refused port, [STATUS] != 200: fails', () => 'http://127.0.0.1:1/', ['[STATUS] != 200'], false],
    ])('%s', async (_name, url, conditions, ok) => {
      const r = await probe({ url: url(), conditions, timeoutMs: 2000 });
      expect(r.ok).toBe(ok);
      expect(r.availabilityFailure).toBe(!ok);
      if (ok) expect(r).not.toHaveProperty('error');
      else expect(r.failed.length).toBeGreaterThan(0);
    });
  });

  it('an https:// URL on a port that answers in plain HTTP: one readable line, not the error stack of OpenSSL', async () => {
    const r = await probe({ url: `${targets.url.replace('http://', 'https://')}/health` });
    expect(r.error).toBe(
      `TLS handshake with ${new URL(targets.url).host} failed: it does not answer in TLS (an http:// port named as https://?)`,
    );
  });

  it('a header built from an environment variable is sent and never shown', async () => {
    process.env.PROBE_TEST_TOKEN = 'sekret-token-12345';
    const r = await runProbe(
      resolveProbe(
        ProbeSchema.parse({
          name: 't',
          url: `${targets.url}/nope-\${PROBE_TEST_TOKEN}`,
          headers: { authorization: 'Bearer ${PROBE_TEST_TOKEN}' },
        }),
      ),
      { store, env: 'test' },
    );
    expect(JSON.stringify(r)).not.toContain('sekret-token-12345');
    const missing = resolveProbe(
      ProbeSchema.parse({
        name: 't',
        url: `${targets.url}/x`,
        headers: { authorization: 'Bearer ${PROBE_TEST_UNSET}' },
      }),
    );
    expect(missing.problem).toBe('headers.authorization names ${PROBE_TEST_UNSET}, which is not set');
  });

  it('a password written in the url is masked, and so is the Basic credential made of it that a target quotes back', async () => {
    const r = await probe({
      url: `${targets.url.replace('://', '://probe-user:url-pw-4711@')}/echo-auth`,
      conditions: ['[BODY].detail == x'],
    });
    // the target got the credential (Basic, base64 of user:password) and quoted it back in its 401
    expect(r.status).toBe(401);
    expect(r.failed.map((f) => f.message)).toEqual(['[BODY].detail == x: got "refused Basic ***"']);
    expect(r.excerpt).toBe('{"detail":"refused Basic ***"}');
    expect(JSON.stringify(r)).not.toContain(Buffer.from('probe-user:url-pw-4711').toString('base64'));
    expect(redactString('password url-pw-4711 refused')).toBe('password *** refused');
  });

  it('a token the URL percent-encodes (a space, a quote) is masked as the URL writes it too (the redirects listed)', async () => {
    process.env.PROBE_TEST_TOKEN3 = 'pass/phrase "q"+42=';
    const r = await probe({
      url: `${targets.url}/redirect?k=\${PROBE_TEST_TOKEN3}#\${PROBE_TEST_TOKEN3}`,
      headers: { 'x-path': '/p/\${PROBE_TEST_TOKEN3}' },
    });
    expect(r.redirects).toHaveLength(1);
    expect(JSON.stringify(r)).not.toContain('phrase');
    // in a URL's password and path too
    const u = new URL('http://u@h/');
    u.password = process.env.PROBE_TEST_TOKEN3;
    u.pathname = `/${process.env.PROBE_TEST_TOKEN3}`;
    expect(redactString(u.href)).not.toContain('phrase');
  });

  it("the variable's value itself is masked, not only the whole header: a target quoting the token back shows it masked", async () => {
    process.env.PROBE_TEST_TOKEN2 = 'quoted-token-67890';
    const r = await runProbe(
      resolveProbe(
        ProbeSchema.parse({
          name: 't',
          url: `${targets.url}/echo-auth`,
          headers: { authorization: 'Bearer ${PROBE_TEST_TOKEN2}' },
        }),
      ),
      { store, env: 'test' },
    );
    expect(r.status).toBe(401);
    expect(r.excerpt).toMatch(/refused \S*\*/);
    expect(JSON.stringify(r)).not.toContain('quoted-token-67890');
  });

  it("a URL's credentials (sent as Basic authorization) are masked when a target quotes them back, written in the file or from a variable", async () => {
    process.env.PROBE_TEST_URL_PASSWORD = 'url-pass-from-env';
    for (const [password, written] of [
      ['url-pass-in-file', 'url-pass-in-file'],
      ['url-pass-from-env', '${PROBE_TEST_URL_PASSWORD}'],
    ]) {
      const basic = Buffer.from(`ops:${password}`).toString('base64');
      const r = await probe({
        url: `${targets.url.replace('://', `://ops:${written}@`)}/echo-auth`,
        conditions: ['[STATUS] == 200', '[BODY].detail == nope'],
      });
      expect(r.status).toBe(401);
      expect(r.excerpt).toMatch(/refused Basic \*\*\*/);
      const text = JSON.stringify(r);
      expect(text).not.toContain(basic);
      expect(text).not.toContain(password);
    }
    // a user name alone (a token as the user, as some services take it): Basic of `token:`
    const token = Buffer.from('user-token-abcdef:').toString('base64');
    const r = await probe({ url: `${targets.url.replace('://', '://user-token-abcdef@')}/echo-auth` });
    expect(r.excerpt).toMatch(/refused Basic \*\*\*/);
    expect(JSON.stringify(r)).not.toContain(token);
    // and that user name itself, quoted back decoded
    const quoted = await probe({ url: `${targets.url.replace('://', '://user-token-abcdef@')}/echo-user` });
    expect(quoted.excerpt).toMatch(/unknown user \*\*\*/);
    expect(JSON.stringify(quoted)).not.toContain('user-token-abcdef');
  });
});

describe('https probe (self-signed certificate expiring in 10 days, made with openssl)', () => {
  const certConditions = [
    '[STATUS] == 200',
    { condition: '[CERTIFICATE_EXPIRATION] > 21d', severity: 'warning' as const },
    { condition: '[CERTIFICATE_EXPIRATION] > 7d', severity: 'critical' as const },
  ];

  it('trusted through its CA: the 21-day warning fails, the 7-day critical passes; TLS is timed', async () => {
    const r = await probe({ url: tls.url, tls: { caFile: tls.caFile }, conditions: certConditions });
    expect(r.ok).toBe(false);
    expect(r.severity).toBe('warning');
    expect(r.availabilityFailure).toBe(false); // a warning below the probe's severity does not count as downtime
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]!.message).toMatch(/^\[CERTIFICATE_EXPIRATION\] > 21d: got (9d 23h|10d 0h)$/);
    expect(r.timings!.tlsMs!).toBeGreaterThanOrEqual(r.timings!.connectMs!);
    expect(r.timings!.ttfbMs!).toBeGreaterThanOrEqual(r.timings!.tlsMs!);
  });

  it('not trusted: fails at the probe severity, the expiry still read, no request sent (so no status)', async () => {
    const r = await probe({ url: tls.url, conditions: certConditions });
    expect(r.error).toBe('TLS: certificate not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)');
    expect(r).toMatchObject({ ok: false, severity: 'critical', availabilityFailure: true });
    expect(r.status).toBeUndefined();
    expect(r.failed.map((f) => f.condition)).toEqual(['probe', '[STATUS] == 200', '[CERTIFICATE_EXPIRATION] > 21d']);
  });

  describe('over a TLS server recording every byte it receives after the handshake', () => {
    let rec: TlsRecorder;
    beforeAll(async () => {
      rec = await startTlsRecorder(10);
    });
    afterAll(async () => {
      await rec.close();
    });
    const secretPost = {
      method: 'POST' as const,
      body: 'secret=${PROBE_TEST_TLS_TOKEN}',
      headers: { authorization: 'Bearer ${PROBE_TEST_TLS_TOKEN}' },
      conditions: certConditions,
    };

    it('not trusted: the handshake completes and nothing is sent (no request line, headers or body); the expiry still read', async () => {
      process.env.PROBE_TEST_TLS_TOKEN = 'tls-secret-31337';
      const handshakes = rec.handshakes;
      const from = rec.received.length;
      const r = await probe({ url: `${rec.url}/echo`, ...secretPost });
      await rec.settled();
      expect(rec.handshakes).toBe(handshakes + 1);
      expect(rec.received.subarray(from).toString('latin1')).toBe('');
      expect(r.error).toBe('TLS: certificate not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)');
      expect(r.status).toBeUndefined();
      expect(r.excerpt).toBeUndefined();
      expect(r.failed.map((f) => f.message)).toEqual([
        'TLS: certificate not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)',
        '[STATUS] == 200: got nothing (missing)',
        expect.stringMatching(/^\[CERTIFICATE_EXPIRATION\] > 21d: got (9d 23h|10d 0h)$/),
      ]);
      const t = r.timings!;
      expect(t.connectMs).toBeGreaterThan(0);
      expect(t.tlsMs!).toBeGreaterThanOrEqual(t.connectMs!);
      expect(t.ttfbMs).toBeUndefined();
      expect(t.totalMs).toBeGreaterThanOrEqual(t.tlsMs!);
    });

    it('tls.insecure: the request is sent over the handshaken connection, the expiry still read', async () => {
      process.env.PROBE_TEST_TLS_TOKEN = 'tls-secret-31337';
      const from = rec.received.length;
      const r = await probe({ url: `${rec.url}/echo`, ...secretPost, tls: { insecure: true } });
      await rec.settled();
      const sent = rec.received.subarray(from).toString('utf8');
      expect(sent).toMatch(/^POST \/echo HTTP\/1\.1\r\n/);
      expect(sent).toContain('authorization: Bearer tls-secret-31337');
      expect(sent.endsWith('\r\n\r\nsecret=tls-secret-31337')).toBe(true);
      expect(r.error).toBeUndefined();
      expect(r.status).toBe(200);
      expect(r.failed.map((f) => f.condition)).toEqual(['[CERTIFICATE_EXPIRATION] > 21d']);
      const t = r.timings!;
      expect(t.tlsMs!).toBeGreaterThanOrEqual(t.connectMs!);
      expect(t.ttfbMs!).toBeGreaterThanOrEqual(t.tlsMs!);
      expect(t.totalMs).toBeGreaterThanOrEqual(t.ttfbMs!);
    });

    it('trusted through its CA: the request is sent', async () => {
      const from = rec.received.length;
      const r = await probe({ url: `${rec.url}/echo`, ...secretPost, tls: { caFile: rec.caFile } });
      await rec.settled();
      expect(rec.received.subarray(from).toString('utf8')).toMatch(/^POST \/echo HTTP\/1\.1\r\n/);
      expect(r).toMatchObject({ status: 200, severity: 'warning' });
      expect(r.error).toBeUndefined();
    });

    it('a name the certificate does not hold (localhost): not trusted, nothing sent', async () => {
      const from = rec.received.length;
      const r = await probe({
        url: `${rec.url.replace('127.0.0.1', 'localhost')}/echo`,
        ...secretPost,
        tls: { caFile: rec.caFile },
      });
      await rec.settled();
      if (r.error?.includes('refused')) return; // localhost resolved to ::1 only, where nothing listens
      expect(rec.received.subarray(from).length).toBe(0);
      expect(r.error).toBe('TLS: certificate not trusted (ERR_TLS_CERT_ALTNAME_INVALID)');
      expect(r.status).toBeUndefined();
      const t = r.timings!; // the name was looked up, then connected, then the handshake: each timed, in order
      expect(t.dnsMs).toBeGreaterThanOrEqual(0);
      expect(t.connectMs!).toBeGreaterThanOrEqual(t.dnsMs!);
      expect(t.tlsMs!).toBeGreaterThanOrEqual(t.connectMs!);
    });
  });
});

describe('redirects: method, body and credentials as browsers and curl treat them (two local servers)', () => {
  let a: Recorder;
  let b: Recorder;
  beforeAll(async () => {
    a = await startRecorder();
    b = await startRecorder();
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });
  beforeEach(() => {
    process.env.PROBE_TEST_REDIRECT_TOKEN = 'redirect-secret-24680';
    a.requests.length = 0;
    b.requests.length = 0;
  });
  const TOKEN = 'redirect-secret-24680';
  const headers = {
    Authorization: 'Bearer ${PROBE_TEST_REDIRECT_TOKEN}',
    'Proxy-Authorization': 'Basic cGxhaW46cGxhaW4=',
    Cookie: 'session=plain-cookie',
    'X-Api-Key': '${PROBE_TEST_REDIRECT_TOKEN}',
    'X-Trace': 'plain-trace',
  };
  const via = (from: Recorder, status: number, to: string) =>
    `${from.url}/redirect?status=${status}&to=${encodeURIComponent(to)}`;
  const run = (input: Partial<ProbeInput>) => probe({ conditions: ['[STATUS] == 200'], headers, ...input });

  it('to the same origin: every header is kept', async () => {
    const r = await run({ url: via(a, 302, '/log') });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(a.requests.map((q) => `${q.method} ${q.path}`)).toEqual(['GET /redirect', 'GET /log']);
    expect(a.requests[1]!.headers).toMatchObject({
      authorization: `Bearer ${TOKEN}`,
      'proxy-authorization': 'Basic cGxhaW46cGxhaW4=',
      cookie: 'session=plain-cookie',
      'x-api-key': TOKEN,
      'x-trace': 'plain-trace',
    });
  });

  for (const [what, to] of [
    ['another port', () => `${b.url}/log`],
    ['another host, the same port', () => `${a.url.replace('127.0.0.1', 'localhost')}/log`],
  ] as const) {
    it(`to another origin (${what}): Authorization, Proxy-Authorization, Cookie and every header from a \${VAR} dropped, the others kept`, async () => {
      const r = await run({ url: via(a, 302, to()) });
      if (r.error?.includes('refused')) return; // localhost resolved to ::1 only, where nothing listens
      expect(r).toMatchObject({ ok: true, status: 200 });
      expect(a.requests[0]!.headers).toMatchObject({ authorization: `Bearer ${TOKEN}`, 'x-api-key': TOKEN });
      const second = what === 'another port' ? b.requests[0]! : a.requests[1]!;
      expect(second.path).toBe('/log');
      expect(second.headers.authorization).toBeUndefined();
      expect(second.headers['proxy-authorization']).toBeUndefined();
      expect(second.headers.cookie).toBeUndefined();
      expect(second.headers['x-api-key']).toBeUndefined();
      expect(second.headers['x-trace']).toBe('plain-trace');
      expect(JSON.stringify(second.headers)).not.toContain(TOKEN);
    });
  }

  it("to another origin: a Host header of the operator's is not sent there (it names the first origin)", async () => {
    const r = await run({ url: via(a, 302, `${b.url}/log`), headers: { ...headers, Host: 'api.internal' } });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(a.requests[0]!.headers.host).toBe('api.internal');
    expect(b.requests[0]!.headers.host).toBe(new URL(b.url).host);
  });

  it('dropped headers stay dropped when a later hop comes back to the first origin', async () => {
    const r = await run({ url: via(a, 302, via(b, 302, `${a.url}/log`)) });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(a.requests.map((q) => q.path)).toEqual(['/redirect', '/log']);
    expect(a.requests[1]!.headers.authorization).toBeUndefined();
    expect(a.requests[1]!.headers['x-api-key']).toBeUndefined();
  });

  for (const status of [301, 302]) {
    it(`POST answered ${status}: followed with GET and no body (nor its content headers)`, async () => {
      const r = await run({
        url: via(a, status, '/log'),
        method: 'POST',
        body: 'plain=1',
        headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      expect(r).toMatchObject({ ok: true, status: 200 });
      expect(a.requests.map((q) => `${q.method} ${q.path} ${q.body}`)).toEqual(['POST /redirect plain=1', 'GET /log ']);
      expect(a.requests[1]!.headers['content-type']).toBeUndefined();
      expect(a.requests[1]!.headers['content-length']).toBeUndefined();
      expect(a.requests[1]!.headers.authorization).toBe(`Bearer ${TOKEN}`); // same origin
    });
  }

  it('303: followed with GET and no body, whatever the method', async () => {
    for (const method of ['POST', 'PUT'] as const) {
      a.requests.length = 0;
      const r = await run({ url: via(a, 303, '/log'), method, body: 'secret=${PROBE_TEST_REDIRECT_TOKEN}' });
      expect(r).toMatchObject({ ok: true, status: 200 });
      expect(a.requests.map((q) => `${q.method} ${q.path} ${q.body}`)).toEqual([
        `${method} /redirect secret=${TOKEN}`,
        'GET /log ',
      ]);
    }
  });

  for (const status of [307, 308]) {
    it(`${status} to the same origin: method, body and headers kept`, async () => {
      const r = await run({ url: via(a, status, '/log'), method: 'POST', body: 'secret=${PROBE_TEST_REDIRECT_TOKEN}' });
      expect(r).toMatchObject({ ok: true, status: 200 });
      expect(a.requests.map((q) => `${q.method} ${q.path} ${q.body}`)).toEqual([
        `POST /redirect secret=${TOKEN}`,
        `POST /log secret=${TOKEN}`,
      ]);
      expect(a.requests[1]!.headers).toMatchObject({ authorization: `Bearer ${TOKEN}`, 'x-api-key': TOKEN });
    });
  }

  it('307 to another origin with a body holding a ${VAR} value: not followed, the result says why in one line', async () => {
    const r = await run({
      url: via(a, 307, `${b.url}/log`),
      method: 'POST',
      body: 'secret=${PROBE_TEST_REDIRECT_TOKEN}',
    });
    expect(b.requests).toEqual([]);
    expect(r).toMatchObject({
      ok: false,
      status: 307,
      error: `not following the 307 to another origin (${b.url}): the request body holds a \${VAR} value`,
      redirects: [`307 ${via(a, 307, `${b.url}/log`)} -> ${b.url}/log`],
    });
    expect(JSON.stringify(r)).not.toContain(TOKEN);
  });

  it('308 to another origin with a plain body: followed with method and body, the credentials dropped', async () => {
    const r = await run({ url: via(a, 308, `${b.url}/log`), method: 'POST', body: 'plain=1' });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(b.requests.map((q) => `${q.method} ${q.path} ${q.body}`)).toEqual(['POST /log plain=1']);
    expect(b.requests[0]!.headers.authorization).toBeUndefined();
    expect(b.requests[0]!.headers['x-api-key']).toBeUndefined();
    expect(b.requests[0]!.headers['x-trace']).toBe('plain-trace');
  });
});
