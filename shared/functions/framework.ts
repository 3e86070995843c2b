/**
 * Our answers in front of the functions-framework's Express app: every error is JSON (`{"error", "issues"}`), never an
 * HTML page, a stack or a server path, whatever NODE_ENV says.
 *
 * The framework builds its app inside getServer() and offers no hook; it parses bodies (body-parser) before our
 * function runs, so malformed JSON (400), an unsupported charset (415), too many urlencoded parameters (413) and a
 * non-JSON body sent to a CloudEvent function (a TypeError in its middleware) reach Express's default final handler,
 * which renders HTML with the stack. And when a function throws, it sends the error's message as text/html.
 * `installJsonErrors()` (called by registerEntryPoints for every functions/<name>/index.ts, and by `npm start`) replaces both, for the Express
 * the framework itself loads: the final handler of every app becomes ours, and an error answer that is not JSON is
 * turned into JSON on its way out.
 */
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { redactString } from '../log/redact';
import { log } from '../log/logger';

const INSTALLED = Symbol.for('mt-ops.jsonErrors');

interface ExpressResponse extends ServerResponse {
  send(body?: unknown): ExpressResponse;
  get(field: string): string | undefined;
}
type Handle = (this: unknown, req: IncomingMessage, res: ServerResponse, callback?: (err?: unknown) => void) => void;

/** The Express module the framework uses (resolved from its own location, so a bundle of ours cannot get another copy). */
function frameworkExpress(): { application: { handle: Handle; [INSTALLED]?: boolean } } {
  const here = createRequire(import.meta.url);
  const framework = here.resolve('@google-cloud/functions-framework');
  return createRequire(framework)('express');
}

/** Absolute file paths in a message (`/srv/app/node_modules/...`) become `<path>`; URLs are left alone. */
export function scrubPaths(text: string): string {
  return text.replace(/(?<![\w:/.~-])\/(?:[\w.@+~-]+\/)+[\w.@+~-]*/g, '<path>');
}

/** Text safe to answer with: secrets masked, paths removed, one line, bounded. */
export function safeMessage(text: string): string {
  const line = scrubPaths(redactString(text.slice(0, 2000)))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

interface BodyParserError {
  type?: string;
  status?: number;
  statusCode?: number;
}

/** The answer for an error that reached the end of the framework's middleware (the function never ran). */
export function answerFor(
  err: unknown,
  req: IncomingMessage & { body?: unknown },
): { status: number; error: string; issues: string[] } {
  if (err === undefined)
    return req.method === 'POST'
      ? { status: 404, error: 'not found', issues: [] }
      : { status: 405, error: 'use POST', issues: [] };
  const e = (err ?? {}) as BodyParserError;
  switch (e.type) {
    case 'entity.parse.failed':
      return { status: 400, error: 'request body is not valid JSON', issues: ['body: not valid JSON'] };
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return {
        status: 415,
        error: 'unsupported charset or content encoding: send UTF-8 JSON',
        issues: ['content-type: unsupported charset or encoding'],
      };
    case 'parameters.too.many':
      return {
        status: 413,
        error: 'too many parameters in the urlencoded body',
        issues: ['body: too many parameters'],
      };
    case 'entity.too.large':
      return { status: 413, error: 'request body too large', issues: ['body: too large'] };
    case 'request.aborted':
    case 'request.size.invalid':
      return { status: 400, error: 'request body incomplete', issues: ['body: incomplete'] };
  }
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return { status, error: 'bad request', issues: [] };
  if (req.method !== 'POST') return { status: 405, error: 'use POST', issues: [] };
  // The framework's CloudEvent middleware assumes an object body: text or bytes make it throw before our function runs.
  if (req.body === null || typeof req.body !== 'object' || Buffer.isBuffer(req.body)) {
    return {
      status: 415,
      error: 'a CloudEvent must be a JSON object (content-type application/json or application/cloudevents+json)',
      issues: ['body: not a JSON object'],
    };
  }
  if ((err as Error)?.name === 'EventConversionError')
    return { status: 400, error: 'not a CloudEvent this function accepts', issues: ['body: not a CloudEvent'] };
  return { status: 500, error: 'internal error before the function ran', issues: [] };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

/**
 * The error a CloudEvent function throws so that Pub/Sub redelivers the message: the framework prints its `stack`
 * to stderr, so the stack is the one-line reason (the failure itself was already logged, and reported).
 */
export function redeliver(err: unknown): Error {
  const message = safeMessage(err instanceof Error ? err.message : String(err));
  const out = new Error(message);
  out.stack = `failed (Pub/Sub will redeliver): ${message}`;
  return out;
}

/** Installs our final handler and JSON error answers on the framework's Express (idempotent). */
export function installJsonErrors(): void {
  const express = frameworkExpress();
  const app = express.application;
  if (app[INSTALLED]) return;
  const original = app.handle;
  app.handle = function handle(this: unknown, req, res, callback) {
    guardResponse(res as ExpressResponse);
    const final =
      callback ??
      ((err?: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const answer = answerFor(err, req);
        if (answer.status >= 500)
          log().error(
            { err: err instanceof Error ? { name: err.name, message: safeMessage(err.message) } : undefined },
            `request failed: ${answer.error}`,
          );
        sendJson(res, answer.status, { error: answer.error, issues: answer.issues });
      });
    return original.call(this, req, res, final);
  };
  app[INSTALLED] = true;
}

/**
 * The framework answers a function that threw with `res.send(err.message)` as text/html (or the bare status text in
 * production): an error answer that is not JSON becomes `{"error": <that text, masked and without paths>}`.
 */
function guardResponse(res: ExpressResponse): void {
  res.send = function send(this: ExpressResponse, body?: unknown) {
    const proto = Object.getPrototypeOf(this) as ExpressResponse;
    const type = String(this.getHeader('content-type') ?? '');
    if (this.statusCode >= 400 && !/json/i.test(type) && !this.headersSent) {
      const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : '';
      this.setHeader('content-type', 'application/json; charset=utf-8');
      return proto.send.call(this, JSON.stringify({ error: safeMessage(text) || 'failed', issues: [] }));
    }
    return proto.send.call(this, body);
  };
}
