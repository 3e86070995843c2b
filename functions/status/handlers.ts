/**
 * The status function: GET the page (`/` or `/status`), its JSON (`/status.json`) and the badges
 * (`/badge/<probe>/status.svg`, `/badge/<probe>/uptime.svg?window=24h|7d|30d`, `/badge/backup/age.svg`). A thin
 * adapter: read (shared/status/plan), model (statusOf), render. Written against node's http types, so the same
 * handler serves the Functions Framework (Express extends them) and the local runtime's own routes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { formatIssues, errorMessage } from '../../shared/errors';
import { safeMessage } from '../../shared/functions/framework';
import type { Runtime } from '../../shared/functions/runtime';
import { http, type EntryPoints } from '../../shared/functions/entry-points';
import { readStatus } from '../../shared/status/plan';
import { statusOf } from '../../shared/status/model';
import {
  backupAgeBadge,
  notFoundBadge,
  renderJson,
  renderPage,
  statusBadge,
  uptimeBadge,
} from '../../shared/status/render';

/** The paths the function answers, as the local runtime mounts them at its root. */
export const STATUS_PATHS = ['/status', '/status.json', '/badge/*'] as const;

const ProbeName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a probe name: letters, digits, ".", "_" and "-", at most 63');
const BadgeQuery = z.object({ window: z.enum(['24h', '7d', '30d']).default('30d') });

export type StatusRoute =
  | { kind: 'page' }
  | { kind: 'json' }
  | { kind: 'badge'; badge: 'status' | 'uptime'; probe: string; window: '24h' | '7d' | '30d' }
  | { kind: 'backup-age' }
  | { kind: 'error'; status: 400 | 404; error: string; issues: string[] };

/** Which answer a path (and its query) asks for. Pure. */
export function statusRoute(path: string, query: URLSearchParams): StatusRoute {
  if (path === '/' || path === '/status' || path === '/status/' || path === '/index.html') return { kind: 'page' };
  if (path === '/status.json' || path === '/status/status.json') return { kind: 'json' };
  const badge = /^(?:\/status)?\/badge\/([^/]*)\/([a-z]+)\.svg$/.exec(path);
  if (!badge)
    return {
      kind: 'error',
      status: 404,
      error: `not found: ${safeMessage(path.slice(0, 100))}; try /status, /status.json or /badge/<probe>/status.svg`,
      issues: [],
    };
  const [, rawName = '', which] = badge;
  let name: string;
  try {
    name = decodeURIComponent(rawName);
  } catch {
    name = rawName;
  }
  if (name === 'backup' && which === 'age') return { kind: 'backup-age' };
  if (which !== 'status' && which !== 'uptime')
    return {
      kind: 'error',
      status: 404,
      error: `no badge ${which}: try status.svg or uptime.svg (or /badge/backup/age.svg)`,
      issues: [],
    };
  const checked = ProbeName.safeParse(name);
  const window = BadgeQuery.safeParse({ window: query.get('window') ?? undefined });
  const issues = [
    ...(checked.success ? [] : formatIssues(checked.error, 'path.probe')),
    ...(window.success ? [] : formatIssues(window.error, 'query')),
  ];
  if (issues.length > 0) return { kind: 'error', status: 400, error: `invalid request: ${issues.join('; ')}`, issues };
  return { kind: 'badge', badge: which, probe: name, window: window.data!.window };
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': String(Buffer.byteLength(body)),
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const json = (
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) =>
  send(req, res, status, 'application/json; charset=utf-8', JSON.stringify(body), {
    'cache-control': 'no-store',
    ...headers,
  });

const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  // nothing runs on the page: no script at all, inline styles and SVG only
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};
const SVG = 'image/svg+xml; charset=utf-8';
const BADGE_HEADERS = { 'cache-control': 'max-age=60' };

/** The request handler (node http): also what the local runtime mounts at /status, /status.json and /badge/*. */
export function statusRequestHandler(runtime: () => Runtime, clock: () => Date = () => new Date()) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const rt = runtime();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(req, res, 405, { error: 'use GET', issues: [] }, { allow: 'GET, HEAD' });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://status.invalid');
    const route = statusRoute(url.pathname, url.searchParams);
    if (route.kind === 'error') {
      if (route.status === 404 && url.pathname.endsWith('.svg'))
        send(req, res, 404, SVG, notFoundBadge('badge'), BADGE_HEADERS);
      else json(req, res, route.status, { error: route.error, issues: route.issues });
      return;
    }
    try {
      const now = clock();
      const model = statusOf(await readStatus(rt, now), now);
      if (route.kind === 'page')
        return send(req, res, 200, 'text/html; charset=utf-8', renderPage(model), PAGE_HEADERS);
      if (route.kind === 'json')
        return json(req, res, 200, JSON.parse(renderJson(model)), { 'cache-control': 'no-cache' });
      if (route.kind === 'backup-age') return send(req, res, 200, SVG, backupAgeBadge(model), BADGE_HEADERS);
      const svg =
        route.badge === 'status' ? statusBadge(model, route.probe) : uptimeBadge(model, route.probe, route.window);
      if (svg) return send(req, res, 200, SVG, svg, BADGE_HEADERS);
      return send(req, res, 404, SVG, notFoundBadge(route.probe), BADGE_HEADERS);
    } catch (err) {
      const message = safeMessage(errorMessage(err));
      rt.logger.error({ err }, `status page failed: ${message}`);
      json(req, res, 500, { error: 'the status could not be read', issues: [] });
    }
  };
}

/** The entry points of the status function (declared in infra/functions.yaml). */
export const entryPoints: EntryPoints = {
  statusHttp: http((runtime) => statusRequestHandler(runtime), { readOnly: true }),
};
