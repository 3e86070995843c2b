/**
 * The local runtime's HTTP server on a real socket: what needs the token and what does not (the public-route
 * allow-list a status page uses), how a token is read, and what a stop does to requests in flight and new ones.
 */
import { describe, it, expect, afterEach } from 'vitest';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { localServer, type Listener } from '../../functions/local/server';
import { apiToken } from '../../functions/local/auth';
import { Work } from '../../functions/local/work';
import type { ExtraRoutes } from '../../functions/local/routes';
import { capturedLogger } from '../support/logs';

const TOKEN = 'server-test-token-0123456789';
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function serve(options: { routes?: ExtraRoutes; apps?: Record<string, Listener>; token?: string } = {}) {
  const work = new Work();
  const log = capturedLogger();
  const echo: Listener = (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, method: req.method }));
  };
  const server = localServer({
    apps: new Map(Object.entries(options.apps ?? { backup: echo })),
    routes: options.routes ?? { public: [], authenticated: [] },
    token: apiToken(options.token ?? TOKEN),
    work,
    logger: log.logger,
    describe: () => ({ described: true }),
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, work, log };
}

const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
const text = (body: string) => (req: unknown, res: import('node:http').ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(body);
};

describe('the local runtime server', () => {
  it('serves /healthz without a token, and nothing else', async () => {
    const { url } = await serve();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/healthz?x=1`, { method: 'HEAD' })).status).toBe(200);
    for (const [path, method] of [
      ['/backup', 'POST'],
      ['/', 'GET'],
      ['/nope', 'GET'],
      ['/healthz', 'POST'],
      ['/healthz/x', 'GET'],
    ] as const) {
      const res = await fetch(`${url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="mt-ops"');
      await res.body?.cancel();
    }
  });

  it('reads the token from "Authorization: Bearer" only (scheme in any case); anything else is 401', async () => {
    const { url, log } = await serve();
    const status = async (headers: Record<string, string>) => {
      const res = await fetch(`${url}/backup/x?y=1`, { method: 'POST', headers });
      const body = res.status === 200 ? await res.json() : (await res.body?.cancel(), undefined);
      return { status: res.status, body, challenge: res.headers.get('www-authenticate') };
    };
    expect(await status(auth())).toEqual({ status: 200, body: { url: '/x?y=1', method: 'POST' }, challenge: null });
    expect((await status({ authorization: `bearer ${TOKEN}` })).status).toBe(200);
    expect((await status({ authorization: `Bearer  ${TOKEN}  ` })).status).toBe(200);
    for (const wrong of [`${TOKEN}0`, TOKEN.slice(1), TOKEN.toUpperCase(), 'x', `${TOKEN} extra`]) {
      expect(await status({ authorization: `Bearer ${wrong}` }), wrong).toMatchObject({ status: 401 });
    }
    expect(await status({ authorization: 'Bearer nope-nope-nope' })).toMatchObject({
      status: 401,
      challenge: 'Bearer realm="mt-ops", error="invalid_token"',
    });
    for (const header of [`Basic ${TOKEN}`, TOKEN, 'Bearer', 'Bearer '])
      expect((await status({ authorization: header })).status, header).toBe(401);
    expect((await status({ 'x-api-token': TOKEN })).status).toBe(401);
    // one warning per wrong token, never the token (neither the right one nor the one tried)
    expect(log.lines.some((l) => l.includes('wrong bearer token (401)'))).toBe(true);
    expect(log.lines.join('\n')).not.toContain(TOKEN);
    expect(log.lines.join('\n')).not.toContain('nope-nope-nope');
  });

  it('a generated token is long, random, and works the same way', async () => {
    const a = apiToken(undefined);
    const b = apiToken(undefined);
    expect(a.source).toBe('generated');
    expect(a.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.value).not.toBe(b.value);
    expect(a.check({ headers: { authorization: `Bearer ${a.value}` } })).toBe('ok');
    expect(a.check({ headers: { authorization: `Bearer ${b.value}` } })).toBe('wrong');
    expect(a.check({ headers: {} })).toBe('missing');
  });

  it('serves the public allow-list without a token (exact paths and /prefix/*), the authenticated extra routes with it', async () => {
    const { url } = await serve({
      routes: {
        public: [
          { method: 'GET', path: '/status', handler: text('status page') },
          { method: 'GET', path: '/badge/*', handler: text('badge') },
        ],
        authenticated: [{ method: 'GET', path: '/private', handler: text('private') }],
      },
    });
    expect(await fetch(`${url}/status`).then((r) => r.text())).toBe('status page');
    expect(await fetch(`${url}/status?theme=dark`).then((r) => r.text())).toBe('status page');
    expect((await fetch(`${url}/status`, { method: 'HEAD' })).status).toBe(200);
    expect(await fetch(`${url}/badge/api.svg`).then((r) => r.text())).toBe('badge');
    // not on the list: the token is needed
    for (const [path, method] of [
      ['/status', 'POST'],
      ['/status/x', 'GET'],
      ['/badge/', 'GET'],
      ['/badge', 'GET'],
      ['/private', 'GET'],
    ] as const) {
      expect((await fetch(`${url}${path}`, { method })).status, `${method} ${path}`).toBe(401);
    }
    expect(await fetch(`${url}/private`, { headers: auth() }).then((r) => r.text())).toBe('private');
    expect(await fetch(`${url}/`, { headers: auth() }).then((r) => r.json())).toEqual({ described: true });
  });

  it('a stop waits for the request in flight, and answers 503 to new ones meanwhile (even /healthz)', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const slow: Listener = (_req, res) => {
      entered();
      void held.then(() => {
        res.writeHead(200);
        res.end('done');
      });
    };
    const { url, work } = await serve({ apps: { backup: slow } });
    const first = fetch(`${url}/backup`, { method: 'POST', headers: auth() }).then((r) => r.text());
    await inside;
    expect(work.inFlight()).toEqual(['POST /backup']);
    let stopped = false;
    const stopping = work.stop('SIGTERM').then(() => (stopped = true));
    expect(work.signal.aborted).toBe(true);
    const during = await fetch(`${url}/healthz`);
    expect(during.status).toBe(503);
    expect(await during.json()).toEqual({ error: 'the server is stopping' });
    expect(stopped).toBe(false);
    release();
    expect(await first).toBe('done');
    await stopping;
    expect(work.inFlight()).toEqual([]);
  });
});
