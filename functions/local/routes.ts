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

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface LocalRoute {
  /** GET also answers HEAD. */
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** An exact path (`/status`), or a prefix ending in `/*` (`/badge/*` matches `/badge/api.svg`). No query string. */
  path: string;
  handler: RouteHandler;
}

export interface ExtraRoutes {
  /** Served without a token (an allow-list: nothing else is). */
  public: LocalRoute[];
  /** Served with the token, like the functions. */
  authenticated: LocalRoute[];
}

/** The extra routes of this configuration. None yet: the status page adds its own here, behind its config flag. */
export function extraRoutes(_context: { config: Config; runtime: Runtime }): ExtraRoutes {
  return { public: [], authenticated: [] };
}

/** The route `method path` matches, if any (path without its query string). */
export function findRoute(routes: readonly LocalRoute[], method: string, path: string): LocalRoute | undefined {
  return routes.find((r) => (r.method === method || (r.method === 'GET' && method === 'HEAD')) && matchesPath(r.path, path));
}

function matchesPath(pattern: string, path: string): boolean {
  if (pattern.endsWith('/*')) return path.startsWith(pattern.slice(0, -1)) && path.length > pattern.length - 1;
  return path === pattern;
}

/** The first path segment a route claims (`/badge/*` -> `badge`), to refuse one that shadows a function. */
export function firstSegment(path: string): string {
  return path.split('/')[1] ?? '';
}
