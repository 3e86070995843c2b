/** Local probe targets on 127.0.0.1: Missing Table's health answers and the ways a target goes wrong. */
import { createServer as createHttp, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { createServer as createTls, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { tempDir } from './temp';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

export interface Targets {
  url: string;
  /** Requests in flight right now, and the most seen at once. */
  inFlight: number;
  maxInFlight: number;
  /** What /toggle answers: set by the test. */
  toggle: 'healthy' | 'degraded' | 'unhealthy';
  close(): Promise<void>;
}

/**
 * Paths: /health (healthy /health), /healthy, /degraded, /unhealthy (503), /slow?ms=N, /hang (never answers),
 * /loop (redirect loop), /redirect (one hop to /healthy), /invalid-json, /echo-auth (401 quoting the token), /echo-user (401 quoting a Basic credential's user), /toggle (see `toggle`), /wait?ms=N (counts concurrency).
 */
export async function startTargets(): Promise<Targets> {
  const bodies = {
    healthy: fixture('health-full-healthy.json'),
    degraded: fixture('health-full-degraded.json'),
    unhealthy: fixture('health-full-unhealthy.json'),
  };
  const hanging = new Set<ServerResponse>();
  const state: Targets = { url: '', inFlight: 0, maxInFlight: 0, toggle: 'healthy', close: async () => {} };
  const json = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  };
  const server: Server = createHttp((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const wait = Number(url.searchParams.get('ms') ?? 0);
    switch (url.pathname) {
      case '/health':
        return json(res, 200, '{"status":"healthy","version":"2.0.0","schema":"enhanced"}');
      case '/healthy':
        return json(res, 200, bodies.healthy);
      case '/degraded':
        return json(res, 200, bodies.degraded);
      case '/unhealthy':
        return json(res, 503, bodies.unhealthy);
      case '/toggle':
        return json(res, state.toggle === 'unhealthy' ? 503 : 200, bodies[state.toggle]);
      case '/slow':
        setTimeout(() => json(res, 200, bodies.healthy), wait);
        return;
      case '/wait':
        state.inFlight++;
        state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
        setTimeout(() => {
          state.inFlight--;
          json(res, 200, bodies.healthy);
        }, wait);
        return;
      case '/hang':
        hanging.add(res);
        return;
      case '/loop':
        res.writeHead(302, { location: '/loop-b' });
        return res.end();
      case '/loop-b':
        res.writeHead(301, { location: `${state.url}/loop` });
        return res.end();
      case '/redirect':
        res.writeHead(301, { location: '/healthy' });
        return res.end();
      case '/redirect-ftp':
        res.writeHead(302, { location: 'ftp://127.0.0.1/file' });
        return res.end();
      case '/invalid-json':
        return json(res, 200, '{"status": "healthy", ');
      case '/echo-auth':
        // what a careless server does: a 401 page that quotes the credential it refused
        return json(
          res,
          401,
          JSON.stringify({ detail: `refused ${String(req.headers.authorization ?? '').replace(/^Bearer /, '')}` }),
        );
      case '/echo-user': {
        // the same for the user of a Basic credential, decoded (a user name alone may be the token itself)
        const basic = /^Basic (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
        const user = Buffer.from(basic, 'base64').toString().split(':')[0];
        return json(res, 401, JSON.stringify({ detail: `unknown user ${user}` }));
      }
      default:
        return json(res, 404, '{"detail":"Not Found"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

export interface TlsTarget {
  url: string;
  caFile: string;
  close(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1 that expires in `days` days, made with openssl now: its key and PEM files. */
function selfSigned(days: number): { key: string; cert: string } {
  const dir = tempDir('mt-probe-tls-');
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(days),
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { key, cert };
}

/** An HTTPS target with a self-signed certificate for 127.0.0.1 that expires in `days` days (made with openssl now). */
export async function startTlsTarget(days: number): Promise<TlsTarget> {
  const { key, cert } = selfSigned(days);
  const server = createHttps({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"healthy"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    caFile: cert,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface TlsRecorder extends TlsTarget {
  /** Handshakes completed. */
  handshakes: number;
  /** Bytes the client sent after the handshake (a request line, headers, a body), decrypted. */
  received: Buffer;
  /** Resolves once every connection accepted so far has closed. */
  settled(): Promise<void>;
}

/**
 * A TLS server (self-signed for 127.0.0.1, expiring in `days` days) that records what a client sends after the
 * handshake, byte for byte, and answers anything it receives with `HTTP/1.1 200` and a small JSON body.
 */
export async function startTlsRecorder(days: number): Promise<TlsRecorder> {
  const { key, cert } = selfSigned(days);
  const open = new Set<Promise<void>>();
  const chunks: Buffer[] = [];
  const state: TlsRecorder = {
    url: '',
    caFile: cert,
    handshakes: 0,
    received: Buffer.alloc(0),
    settled: async () => {
      await Promise.all([...open]);
    },
    close: async () => {},
  };
  const sockets = new Set<TLSSocket>();
  const server = createTls({ key: readFileSync(key), cert: readFileSync(cert) }, (socket) => {
    state.handshakes++;
    sockets.add(socket);
    let answered = false;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      state.received = Buffer.concat(chunks);
      if (!answered && state.received.includes('\r\n\r\n')) {
        answered = true;
        socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 20\r\nconnection: close\r\n\r\n{"status":"healthy"}',
        );
      }
    });
  });
  // each connection counted from its TCP accept, so settled() also waits for one still in its handshake
  server.on('connection', (raw: Socket) => {
    open.add(new Promise<void>((resolve) => raw.on('close', () => resolve())));
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface Recorder {
  url: string;
  /** Every request received, in order, its body read in full. */
  requests: Recorded[];
  close(): Promise<void>;
}

/**
 * An HTTP target that records every request. `/redirect?status=N&to=URL` answers N with `location: URL`; anything else
 * answers 200 `{"status":"healthy"}`.
 */
export async function startRecorder(): Promise<Recorder> {
  const state: Recorder = { url: '', requests: [], close: async () => {} };
  const server: Server = createHttp((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      state.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (url.pathname === '/redirect') {
        res.writeHead(Number(url.searchParams.get('status')), { location: url.searchParams.get('to') ?? '/' });
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"healthy"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
