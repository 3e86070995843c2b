/**
 * The HTTP(S) probe: one fresh connection per hop (no pooling, as curl does), timed from socket events — DNS lookup,
 * TCP connect, TLS handshake, time to first byte, total — redirects followed up to a bound, the body read up to
 * 1 MiB (memory never grows with the target's answer) and decoded when sent gzip, deflate or br (body.ts), the
 * certificate's expiry read even when it is not trusted (an untrusted certificate is then a failure of its own), and
 * the whole probe bounded by its timeout.
 *
 * HTTPS: the probe makes the TLS handshake itself and sends the request over that connection only once the peer is
 * trusted (or `tls.insecure` is set): to an untrusted peer it sends nothing at all, no request line, no header, no body.
 * Redirects are followed as browsers and curl follow them: 303, and 301/302 to a POST, become a GET without the body;
 * to another origin (scheme, host or port) Authorization, Proxy-Authorization, Cookie and every header whose value came
 * from a `${VAR}` are dropped, and a body holding a `${VAR}` value is never resent there (the probe stops, saying so).
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { errorMessage } from '../errors';
import { maskSecretFields, redactString, redactThenCut } from '../log/redact';
import type { Observation } from './evaluate';
import { readBody } from './body';

export const BODY_LIMIT = 1024 * 1024;
const EXCERPT = 200;

export interface HttpRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** What holds a `${VAR}` value (header names, the body): never sent to another origin on a redirect. */
  secrets?: { headers: string[]; body: boolean };
  timeoutMs: number;
  maxRedirects: number;
  tls?: { caFile?: string; insecure?: boolean };
}

/** What one hop sends: the method, headers and body a redirect may change. */
interface Sent {
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpTimings {
  dnsMs?: number;
  connectMs?: number;
  tlsMs?: number;
  ttfbMs?: number;
  totalMs: number;
}

export interface HttpOutcome {
  observation: Observation;
  timings: HttpTimings;
  /** Hops taken before the final answer: `301 http://a/ -> http://b/`. */
  redirects: string[];
  /** The reason the probe got no usable answer (refused, timeout, redirect loop, untrusted certificate). */
  error?: string;
  excerpt?: string;
}

interface Hop {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: string;
  location?: string;
  timings: Omit<HttpTimings, 'totalMs'>;
  certificateExpiresInMs?: number;
  tlsError?: string;
  dnsRcode?: string;
  error?: string;
  bodyCutAt?: number;
}

const caCache = new Map<string, Buffer>();
function ca(file: string): Buffer {
  let v = caCache.get(file);
  if (!v) {
    v = readFileSync(file);
    caCache.set(file, v);
  }
  return v;
}

function rcodeOf(err: NodeJS.ErrnoException): string | undefined {
  switch (err.code) {
    case 'ENOTFOUND':
      return 'NXDOMAIN';
    case 'ESERVFAIL':
      return 'SERVFAIL';
    case 'EREFUSED':
      return 'REFUSED';
    case 'ENODATA':
      return 'NOERROR';
    default:
      return undefined;
  }
}

function describe(err: unknown, url: string): string {
  const e = err as NodeJS.ErrnoException;
  const host = (() => {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  })();
  switch (e.code) {
    case 'ECONNREFUSED':
      return `connection refused by ${host}`;
    case 'ENOTFOUND':
      return `DNS: ${host} not found`;
    case 'ECONNRESET':
      return `connection reset by ${host}`;
    case 'EHOSTUNREACH':
      return `host unreachable: ${host}`;
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return `TLS handshake with ${host} failed: it does not answer in TLS (an http:// port named as https://?)`;
    default: {
      // OpenSSL's own message is its error stack (`80EC...:error:0A00010B:SSL routines:...:350:` and a line break):
      // its reason is what a person can read
      const reason = (e as { reason?: unknown; library?: unknown }).reason;
      if (typeof reason === 'string' && (e as { library?: unknown }).library === 'SSL routines')
        return `TLS handshake with ${host} failed: ${reason}`;
      return errorMessage(err).replace(/\s+/g, ' ').trim(); // one line, whatever the error
    }
  }
}

function oneHop(url: URL, sent: Sent, req: HttpRequest, deadline: number, started: number): Promise<Hop> {
  return new Promise((resolve) => {
    const timings: Hop['timings'] = {};
    const hop: Hop = { timings };
    const since = () => performance.now() - started;
    let settled = false;
    let request: http.ClientRequest | undefined;
    let socket: TLSSocket | undefined;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error && !hop.error) hop.error = error;
      resolve(hop);
    };
    const failed = (err: Error) => {
      const rcode = rcodeOf(err as NodeJS.ErrnoException);
      if (rcode) hop.dnsRcode = rcode;
      finish(describe(err, url.href));
    };
    const options: http.RequestOptions = {
      method: sent.method,
      headers: { 'user-agent': 'mt-ops-probe', ...sent.headers },
    };
    let timer: NodeJS.Timeout;
    // a timer may fire a fraction of a millisecond early (the event loop's clock is whole milliseconds, read before
    // the timer was set): then it waits out the rest, so a timed-out probe never reports less than its timeout
    const arm = () => {
      timer = setTimeout(
        () => {
          if (performance.now() < deadline) return arm();
          finish(
            `timed out after ${req.timeoutMs} ms${timings.ttfbMs === undefined ? (timings.connectMs === undefined ? ' (no connection)' : ' (no answer)') : ' (reading the body)'}`,
          );
          request?.destroy();
          socket?.destroy();
        },
        Math.max(0, Math.ceil(deadline - performance.now())),
      );
    };
    arm();
    const watch = (s: Socket) => {
      s.on('lookup', (err: Error | null) => {
        timings.dnsMs = since();
        hop.dnsRcode = err ? rcodeOf(err as NodeJS.ErrnoException) : 'NOERROR';
      });
      s.on('connect', () => {
        timings.connectMs = since();
      });
    };
    const onResponse = (res: http.IncomingMessage) => {
      timings.ttfbMs = since();
      hop.status = res.statusCode;
      hop.headers = res.headers;
      hop.location = res.headers.location;
      readBody(
        res,
        BODY_LIMIT,
        ({ body, cutAt }) => {
          hop.body = body;
          if (cutAt !== undefined) hop.bodyCutAt = cutAt;
          finish();
        },
        (reason) => {
          finish(reason);
          res.destroy();
        },
      );
      res.on('error', (err) => finish(describe(err, url.href)));
      res.on('aborted', () => finish('connection closed mid-body'));
    };
    const exchange = (request: http.ClientRequest) => {
      request.on('response', onResponse);
      request.on('error', failed);
      request.end(sent.body);
    };
    if (url.protocol !== 'https:') {
      request = http.request(url, { ...options, agent: false });
      request.on('socket', watch);
      exchange(request);
      return;
    }
    // HTTPS: the handshake first, on a socket of our own; the request goes over it only once the peer is trusted (or
    // insecure is set). Letting https.request check the certificate would be too late: it writes the request as soon
    // as it can, and the handshake's outcome only arrives after the request was sent.
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const tls = tlsConnect({
      host,
      port: Number(url.port || 443),
      rejectUnauthorized: false,
      // SNI names a host, never an address (RFC 6066; Node warns on stderr once per process); the certificate is
      // still checked against the address itself
      ...(isIP(host) ? {} : { servername: host }),
      ...(req.tls?.caFile ? { ca: ca(req.tls.caFile) } : {}),
    });
    socket = tls;
    watch(tls);
    tls.on('error', failed);
    tls.once('secureConnect', () => {
      timings.tlsMs = since();
      const cert = tls.getPeerCertificate();
      if (cert?.valid_to) hop.certificateExpiresInMs = Date.parse(cert.valid_to) - Date.now();
      if (!tls.authorized && !req.tls?.insecure) {
        hop.tlsError = `TLS: certificate not trusted (${String(tls.authorizationError)})`;
        // closed without a byte of the request: end() flushes the handshake's last message and a close_notify (the
        // peer sees the handshake complete, then the close); a peer that never closes its side is cut after a second
        tls.end();
        setTimeout(() => tls.destroy(), 1000).unref();
        return finish();
      }
      if (settled) return;
      // no agent: the request takes this connection as it is, already connected and checked
      request = https.request(url, { ...options, defaultPort: 443, createConnection: () => tls });
      exchange(request);
    });
  });
}

/** Headers that describe a body: dropped with it when a redirect turns the request into a GET. */
const BODY_HEADERS = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-location',
  'transfer-encoding',
]);
/** Credentials never sent to another origin, whatever their value (curl and the Fetch standard drop these too). */
const CREDENTIALS = new Set(['authorization', 'proxy-authorization', 'cookie']);

function without(headers: Record<string, string>, drop: (name: string) => boolean): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !drop(name.toLowerCase())));
}

/**
 * The request a redirect asks for, as browsers (the Fetch standard) and curl make it: 303, and 301/302 to a POST, turn
 * it into a GET (a HEAD stays a HEAD) without the body; 307/308 keep method and body. To another origin the
 * credentials and every header whose value came from a `${VAR}` are dropped, for this hop and every later one.
 */
function redirected(status: number, sent: Sent, crossOrigin: boolean, secretHeaders: readonly string[]): Sent {
  let { method, headers, body } = sent;
  if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
    if (method !== 'HEAD') method = 'GET';
    body = undefined;
    headers = without(headers, (name) => BODY_HEADERS.has(name));
  }
  if (crossOrigin) {
    const secret = new Set(secretHeaders.map((name) => name.toLowerCase()));
    // and a Host of the operator's: it names the first origin, not the one the redirect goes to (curl drops it too)
    headers = without(headers, (name) => CREDENTIALS.has(name) || name === 'host' || secret.has(name));
  }
  return { method, headers, body };
}

export async function probeHttp(req: HttpRequest): Promise<HttpOutcome> {
  const started = performance.now();
  const deadline = started + req.timeoutMs;
  const redirects: string[] = [];
  const seen = new Set<string>();
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return { observation: { connected: false }, timings: { totalMs: 0 }, redirects, error: 'invalid URL' };
  }
  let sent: Sent = { method: req.method, headers: req.headers, body: req.body };
  for (;;) {
    seen.add(url.href);
    const hop = await oneHop(url, sent, req, deadline, started);
    const totalMs = performance.now() - started;
    const observation: Observation = {
      status: hop.status,
      responseTimeMs: totalMs,
      body: hop.body,
      headers: hop.headers,
      certificateExpiresInMs: hop.certificateExpiresInMs,
      connected: hop.timings.connectMs !== undefined,
      dnsRcode: hop.dnsRcode ?? (hop.timings.connectMs !== undefined ? 'NOERROR' : undefined),
      bodyCutAt: hop.bodyCutAt,
    };
    const outcome: HttpOutcome = {
      observation,
      timings: { ...hop.timings, totalMs },
      redirects,
      error: hop.error ?? hop.tlsError,
    };
    if (hop.body !== undefined && hop.body.length > 0) {
      // every secret masked first (and a JSON body's secret-named fields), then cut: a secret cut first was no longer
      // recognised
      outcome.excerpt = redactThenCut(maskSecretFields(hop.body), EXCERPT, {
        prepare: (text) => text.replace(/\s+/g, ' '),
      });
    }
    if (
      hop.error ||
      hop.tlsError ||
      !hop.status ||
      hop.status < 300 ||
      hop.status >= 400 ||
      !hop.location ||
      hop.status === 304 ||
      // maxRedirects 0: the redirect itself is the answer (`[STATUS] == 301`, `[HEADER].location == ...`)
      req.maxRedirects === 0
    )
      return outcome;
    let next: URL;
    try {
      next = new URL(hop.location, url);
    } catch {
      return { ...outcome, error: `redirect to an invalid location` };
    }
    redirects.push(`${hop.status} ${redactString(url.href)} -> ${redactString(next.href)}`);
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      return { ...outcome, error: `redirect to ${next.protocol} (only http and https are followed)` };
    if (seen.has(next.href))
      return {
        ...outcome,
        error: `redirect loop after ${redirects.length} redirect(s): back to ${redactString(next.href)}`,
      };
    if (redirects.length > req.maxRedirects) return { ...outcome, error: `more than ${req.maxRedirects} redirects` };
    if (performance.now() >= deadline)
      return { ...outcome, error: `timed out after ${req.timeoutMs} ms (following redirects)` };
    const crossOrigin = next.origin !== url.origin;
    sent = redirected(hop.status, sent, crossOrigin, req.secrets?.headers ?? []);
    if (crossOrigin && sent.body !== undefined && req.secrets?.body)
      return {
        ...outcome,
        error: `not following the ${hop.status} to another origin (${redactString(next.origin)}): the request body holds a \${VAR} value`,
      };
    url = next;
  }
}
