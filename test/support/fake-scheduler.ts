/**
 * A protocol-level fake of the Cloud Scheduler v1 REST API (HTTP/JSON, as the client's fallback mode speaks it) on
 * 127.0.0.1: list (paged), get, create, patch with updateMask, delete, pause and resume of jobs, with Google's error
 * shape ({error: {code, message, status}}). No emulator of Cloud Scheduler exists, so this stands in for it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeJob = Record<string, unknown> & { name: string };

export interface FakeScheduler {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  port: number;
  /** Jobs by full name (projects/P/locations/L/jobs/J), as stored (REST JSON). */
  jobs: Map<string, FakeJob>;
  /** Every request: method, path (without the query) and query. */
  requests: Array<{ method: string; path: string; query: URLSearchParams }>;
  /** The page size of list answers (small, so the client must follow nextPageToken). */
  pageSize: number;
  close(): Promise<void>;
}

const JOB = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/jobs\/[^/:]+)(?::(pause|resume|run))?$/;
const JOBS = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/jobs$/;

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
function error(res: ServerResponse, code: number, status: string, message: string): void {
  send(res, code, { error: { code, message, status } });
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** Sets the value at a dotted camelCase path (`retryConfig.retryCount`) of `target` from `source`. */
function copyPath(target: Record<string, unknown>, source: Record<string, unknown>, path: string): void {
  const camel = path.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()).split('.');
  let t = target;
  let s: unknown = source;
  for (const [i, key] of camel.entries()) {
    s = (s as Record<string, unknown> | undefined)?.[key];
    if (i === camel.length - 1) {
      if (s === undefined) delete t[key];
      else t[key] = s;
    } else {
      t = (t[key] ??= {}) as Record<string, unknown>;
    }
  }
}

export async function startFakeScheduler(): Promise<FakeScheduler> {
  const jobs = new Map<string, FakeJob>();
  const requests: FakeScheduler['requests'] = [];
  const fake = { jobs, requests, pageSize: 2 } as FakeScheduler;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = decodeURIComponent(url.pathname);
      requests.push({ method: req.method ?? '', path, query: url.searchParams });
      const now = new Date().toISOString();
      let m: RegExpExecArray | null;
      if ((m = JOBS.exec(path))) {
        const parent = m[1]!;
        if (req.method === 'GET') {
          const all = [...jobs.values()]
            .filter((j) => j.name.startsWith(`${parent}/jobs/`))
            .sort((a, b) => a.name.localeCompare(b.name));
          const start = Number(url.searchParams.get('pageToken') || 0);
          const page = all.slice(start, start + fake.pageSize);
          const next = start + fake.pageSize < all.length ? String(start + fake.pageSize) : undefined;
          return send(res, 200, { jobs: page, ...(next ? { nextPageToken: next } : {}) });
        }
        if (req.method === 'POST') {
          const job = (await body(req)) as FakeJob;
          if (!job.name?.startsWith(`${parent}/jobs/`))
            return error(res, 400, 'INVALID_ARGUMENT', `job name must be under ${parent}`);
          if (jobs.has(job.name)) return error(res, 409, 'ALREADY_EXISTS', `Job ${job.name} already exists`);
          const stored = { ...job, state: 1, userUpdateTime: now }; // State.ENABLED (the client asks for enum-encoding=int)
          jobs.set(job.name, stored);
          return send(res, 200, stored);
        }
      } else if ((m = JOB.exec(path))) {
        const name = m[1]!;
        const verb = m[2];
        const job = jobs.get(name);
        if (!job) return error(res, 404, 'NOT_FOUND', `Job not found: ${name}`);
        if (req.method === 'GET' && !verb) return send(res, 200, job);
        if (req.method === 'DELETE' && !verb) {
          jobs.delete(name);
          return send(res, 200, {});
        }
        if (req.method === 'PATCH' && !verb) {
          const update = await body(req);
          const mask = url.searchParams.get('updateMask');
          if (!mask) return error(res, 400, 'INVALID_ARGUMENT', 'updateMask is required');
          for (const field of mask.split(',')) copyPath(job, update, field);
          job.userUpdateTime = now;
          return send(res, 200, job);
        }
        if (req.method === 'POST' && (verb === 'pause' || verb === 'resume')) {
          job.state = verb === 'pause' ? 2 : 1; // PAUSED, ENABLED
          return send(res, 200, job);
        }
      }
      return error(res, 404, 'NOT_FOUND', `no route ${req.method} ${path}`);
    })().catch((err: unknown) => error(res, 500, 'INTERNAL', String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.port = (server.address() as AddressInfo).port;
  fake.url = `http://127.0.0.1:${fake.port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}
