/**
 * Routes the local runtime serves beside the functions, and the one place that decides which of them are public.
 *
 * Every route of `npm start` needs the bearer token except `GET /healthz` and the routes listed in `public` below.
 * A capability that wants an unauthenticated page (the status page: `/status`, `/status.json`, `/badge/...`) adds its
 * routes here, to `public` only when its configuration says it is public, else to `authenticated`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../shared/config/load';
import type { Runtime } from '../../shared/functions/runtime';
import { STATUS_PATHS, statusRequestHandler } from '../status/handlers';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface LocalRoute {
  /** GET also answers HEAD. */
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** An exact path (`/status`), or a prefix ending in `/*` (`/badge/*` matches `/badge/api.svg`). No query string. */
  path: string;
  handler: RouteHandler;
  /** The function whose own handler this route serves at the root: it may claim that function's path (`/status`). */
  function?: string;
}

export interface ExtraRoutes {
  /** Served without a token (an allow-list: nothing else is). */
  public: LocalRoute[];
  /** Served with the token, like the functions. */
  authenticated: LocalRoute[];
}

/**
 * The extra routes of this configuration: the status page (`/status`, `/status.json`, `/badge/*`, the status function's
 * handler), public only when `status.public` is on.
 */
export function extraRoutes(context: { config: Config; runtime: Runtime }): ExtraRoutes {
  const handler = statusRequestHandler(() => context.runtime);
  const status: LocalRoute[] = STATUS_PATHS.map((path) => ({ method: 'GET', path, handler, function: 'status' }));
  return context.config.file.status.public
    ? { public: status, authenticated: [] }
    : { public: [], authenticated: status };
}

/** The route `method path` matches, if any (path without its query string). */
export function findRoute(routes: readonly LocalRoute[], method: string, path: string): LocalRoute | undefined {
  return routes.find(
    (r) => (r.method === method || (r.method === 'GET' && method === 'HEAD')) && matchesPath(r.path, path),
  );
}

function matchesPath(pattern: string, path: string): boolean {
  if (pattern.endsWith('/*')) return path.startsWith(pattern.slice(0, -1)) && path.length > pattern.length - 1;
  return path === pattern;
}

/** The first path segment a route claims (`/badge/*` -> `badge`), to refuse one that shadows a function. */
export function firstSegment(path: string): string {
  return path.split('/')[1] ?? '';
}
