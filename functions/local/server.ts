/**
 * The local runtime's HTTP server: `GET /healthz` and the public routes without a token; every other route (the
 * functions under /<name>, the authenticated extra routes, `GET /`) only with `Authorization: Bearer <token>`: 401 when
 * it is missing or wrong. While stopping, every request gets 503.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../../shared/log/logger';
import type { ApiToken } from './auth';
import { findRoute, type ExtraRoutes, type RouteHandler } from './routes';
import type { Work } from './work';

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

export interface ServerParts {
  /** Each function's framework app, by path segment. */
  apps: Map<string, Listener>;
  routes: ExtraRoutes;
  token: ApiToken;
  work: Work;
  logger: Logger;
  /** What `GET /` answers (with the token). */
  describe: () => unknown;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export function localServer(parts: ServerParts): Server {
  const { apps, routes, token, work, logger } = parts;

  const serve = (what: string, req: IncomingMessage, res: ServerResponse, handler: RouteHandler | Listener) => {
    const end = work.begin(what);
    res.once('close', end);
    try {
      const result = handler(req, res);
      if (result instanceof Promise) {
        result.catch((err: unknown) => {
          logger.error({ err }, `${what} failed`);
          if (!res.headersSent) json(res, 500, { error: 'internal error' });
          else res.destroy();
        });
      }
    } catch (err) {
      logger.error({ err }, `${what} failed`);
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
    }
  };

  return createServer((req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    if (work.stopping) {
      json(res, 503, { error: 'the server is stopping' }, { connection: 'close', 'retry-after': '30' });
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && path === '/healthz') {
      json(res, 200, { status: 'ok' });
      return;
    }
    const open = findRoute(routes.public, method, path);
    if (open) return serve(`${method} ${path}`, req, res, open.handler);

    const auth = token.check(req);
    if (auth !== 'ok') {
      if (auth === 'wrong')
        logger.warn({ method, path, remote: req.socket.remoteAddress }, `${method} ${path}: wrong bearer token (401)`);
      const error =
        auth === 'missing'
          ? 'missing bearer token: send "Authorization: Bearer <token>" (printed by npm start, or OPS_API_TOKEN)'
          : 'wrong bearer token';
      json(
        res,
        401,
        { error },
        {
          'www-authenticate':
            auth === 'missing' ? 'Bearer realm="mt-ops"' : 'Bearer realm="mt-ops", error="invalid_token"',
        },
      );
      return;
    }
    const extra = findRoute(routes.authenticated, method, path);
    if (extra) return serve(`${method} ${path}`, req, res, extra.handler);
    if ((method === 'GET' || method === 'HEAD') && path === '/') {
      json(res, 200, parts.describe());
      return;
    }
    const [, first = '', ...rest] = path.split('/');
    const app = apps.get(first);
    if (!app) {
      json(res, 404, { error: `no function at /${first}; try ${[...apps.keys()].map((k) => `/${k}`).join(', ')}` });
      return;
    }
    req.url = `/${rest.join('/')}${q >= 0 ? url.slice(q) : ''}`;
    serve(`${method} /${first}`, req, res, app);
  });
}
