/**
 * A small protocol-level fake of the Google Cloud Storage JSON API, on real HTTP (127.0.0.1), because no GCS
 * emulator runs here. It speaks what @google-cloud/storage sends: simple (multipart) and resumable uploads,
 * media download, object metadata, list with prefix/delimiter/pageToken/maxResults, delete, `ifGenerationMatch`
 * preconditions (0 = must not exist) answering 412, holds and retention answering 403, and injected failures.
 * Objects live in memory: it is a test fake.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

interface StoredObject {
  name: string;
  data: Buffer;
  generation: number;
  metageneration: number;
  contentType: string;
  metadata: Record<string, string>;
  timeCreated: string;
  md5Hash: string;
  crc32c: string;
  temporaryHold: boolean;
  eventBasedHold: boolean;
  retentionExpirationTime?: string;
}

interface ResumableSession {
  bucket: string;
  name: string;
  contentType: string;
  metadata: Record<string, string>;
  ifGenerationMatch?: string;
  chunks: Buffer[];
  received: number;
  done: boolean;
}

export interface FailureRule {
  method?: string;
  pathIncludes?: string;
  /** How many matching requests fail (default 1). */
  count?: number;
  status?: number;
  /** Let this many matching requests through first. */
  afterN?: number;
  /** Headers to send with the failure, e.g. Retry-After. */
  headers?: Record<string, string>;
}

export interface FakeGcs {
  url: string;
  requests: Array<{ method: string; path: string }>;
  setHold(
    bucket: string,
    name: string,
    hold: { temporaryHold?: boolean; eventBasedHold?: boolean; retentionExpirationTime?: string },
  ): void;
  failNext(rule: FailureRule): void;
  /**
   * From now on, resumable upload sessions are accepted but their data requests are never read nor answered (a server
   * that stops answering mid-upload); with `{ single: true }`, single-request (multipart and media) uploads too, such
   * as a JSON document's write, are taken and never answered; `false` lets new requests through again.
   */
  stallUploads(stall?: boolean | { readBody: true } | { single: true }): void;
  /**
   * With `stallUploads({ readBody: true })` (the data is taken, the answer never comes): how many of those requests the
   * client has not closed yet. (A request whose body is never read cannot tell: the client's close never gets past it.)
   */
  openStalledUploads(): number;
  /**
   * From now on, media downloads of objects whose name includes `nameIncludes` (every object when omitted) send their
   * headers and the first half of the body, then nothing more, never ending (a server that stops answering
   * mid-download); `false` lets new downloads through again.
   */
  stallDownloads(stall?: boolean | { nameIncludes?: string }): void;
  /**
   * From now on, every request (reads, listings, writes, deletes) is taken and never answered: a storage server that
   * stops answering altogether; with `{ pathIncludes }`, only requests whose decoded path and query include it (a
   * listing of one folder: `prefix=prod/.outbox/`); `false` lets new requests through again (those already taken stay
   * unanswered).
   */
  stallAll(stall?: boolean | { pathIncludes: string }): void;
  clearFailures(): void;
  objectCount(bucket: string): number;
  objectNames(bucket: string): string[];
  /** Flips a byte of a stored object (to test integrity checks). */
  corrupt(bucket: string, name: string): void;
  /**
   * Sets when a stored object was created (its `timeCreated`, and `updated` with it), as if written then: to test what
   * happens to objects by their age without waiting.
   */
  setTimeCreated(bucket: string, name: string, time: Date): void;
  close(): Promise<void>;
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), base64 of the big-endian 4 bytes, as GCS reports it. */
export function crc32c(data: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

function gcsError(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  res.end(JSON.stringify({ error: { code, message, errors: [{ domain: 'global', reason, message }] } }));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startFakeGcs(options: { maxPageSize?: number } = {}): Promise<FakeGcs> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  const sessions = new Map<string, ResumableSession>();
  const requests: FakeGcs['requests'] = [];
  const failures: Array<Required<Pick<FailureRule, 'count' | 'status' | 'afterN'>> & FailureRule> = [];
  let nextGeneration = 1_700_000_000_000_000;
  let stallUploads: false | { readBody?: boolean; single?: boolean } = false;
  let openStalled = 0;
  let stallDownloads: { nameIncludes?: string } | undefined;
  let stallAll: false | { pathIncludes?: string } = false;
  let base = '';

  const bucketOf = (name: string) => {
    let b = buckets.get(name);
    if (!b) buckets.set(name, (b = new Map()));
    return b;
  };

  const resource = (bucket: string, o: StoredObject) => ({
    kind: 'storage#object',
    id: `${bucket}/${o.name}/${o.generation}`,
    selfLink: `${base}/storage/v1/b/${bucket}/o/${encodeURIComponent(o.name)}`,
    name: o.name,
    bucket,
    generation: String(o.generation),
    metageneration: String(o.metageneration),
    contentType: o.contentType,
    size: String(o.data.length),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    timeCreated: o.timeCreated,
    updated: o.timeCreated,
    ...(Object.keys(o.metadata).length ? { metadata: o.metadata } : {}),
    temporaryHold: o.temporaryHold,
    eventBasedHold: o.eventBasedHold,
    ...(o.retentionExpirationTime ? { retentionExpirationTime: o.retentionExpirationTime } : {}),
  });

  /** Creates an object unless the precondition fails; answers like the upload endpoints. */
  const create = (
    res: ServerResponse,
    bucket: string,
    name: string,
    data: Buffer,
    meta: { contentType?: string; metadata?: Record<string, string> },
    ifGenerationMatch?: string,
  ) => {
    const objects = bucketOf(bucket);
    const existing = objects.get(name);
    if (ifGenerationMatch !== undefined) {
      const expected = Number(ifGenerationMatch);
      if ((expected === 0 && existing) || (expected !== 0 && existing?.generation !== expected)) {
        gcsError(res, 412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
        return;
      }
    }
    if (existing && (existing.temporaryHold || existing.eventBasedHold)) {
      gcsError(
        res,
        403,
        'forbidden',
        `Object '${bucket}/${name}' is under active Temporary hold and cannot be deleted, overwritten or archived until hold is removed.`,
      );
      return;
    }
    if (existing?.retentionExpirationTime && Date.parse(existing.retentionExpirationTime) > Date.now()) {
      return gcsError(
        res,
        403,
        'retentionPolicyNotMet',
        `Object '${bucket}/${name}' is subject to bucket's retention policy or object retention and cannot be deleted or overwritten until ${existing.retentionExpirationTime}`,
      );
    }
    const object: StoredObject = {
      name,
      data,
      generation: nextGeneration++,
      metageneration: 1,
      contentType: meta.contentType ?? 'application/octet-stream',
      metadata: meta.metadata ?? {},
      timeCreated: new Date().toISOString(),
      md5Hash: createHash('md5').update(data).digest('base64'),
      crc32c: crc32c(data),
      temporaryHold: false,
      eventBasedHold: false,
    };
    objects.set(name, object);
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(resource(bucket, object)));
  };

  const injected = (req: IncomingMessage, res: ServerResponse): boolean => {
    for (const rule of failures) {
      if (rule.method && rule.method !== req.method) continue;
      if (rule.pathIncludes && !decodeURIComponent(req.url ?? '').includes(rule.pathIncludes)) continue;
      if (rule.afterN > 0) {
        rule.afterN--;
        return false;
      }
      if (rule.count <= 0) continue;
      rule.count--;
      req.resume();
      gcsError(
        res,
        rule.status,
        rule.status === 429 ? 'rateLimitExceeded' : 'backendError',
        'injected failure',
        rule.headers,
      );
      return true;
    }
    return false;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', base);
    const path = url.pathname;
    requests.push({ method: req.method ?? 'GET', path: `${path}${url.search}` });
    if (stallAll && decodeURIComponent(req.url ?? '').includes(stallAll.pathIncludes ?? '')) return void req.resume(); // taken, never answered
    if (injected(req, res)) return;
    const q = url.searchParams;
    let m: RegExpExecArray | null;

    // Uploads: POST /upload/storage/v1/b/{bucket}/o?uploadType=multipart|media|resumable&name=...
    if (req.method === 'POST' && (m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) {
      const bucket = decodeURIComponent(m[1]!);
      const body = await readBody(req);
      const uploadType = q.get('uploadType');
      if (uploadType === 'resumable') {
        const meta = body.length
          ? (JSON.parse(body.toString('utf8')) as {
              name?: string;
              contentType?: string;
              metadata?: Record<string, string>;
            })
          : {};
        const name = q.get('name') ?? meta.name;
        if (!name) return gcsError(res, 400, 'required', 'Required: name');
        const objects = bucketOf(bucket);
        const precondition = q.get('ifGenerationMatch') ?? undefined;
        if (precondition === '0' && objects.has(name))
          return gcsError(
            res,
            412,
            'conditionNotMet',
            'At least one of the pre-conditions you specified did not hold.',
          );
        const id = randomBytes(12).toString('hex');
        sessions.set(id, {
          bucket,
          name,
          contentType: meta.contentType ?? 'application/octet-stream',
          metadata: meta.metadata ?? {},
          ifGenerationMatch: precondition,
          chunks: [],
          received: 0,
          done: false,
        });
        res.writeHead(200, {
          location: `${base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&upload_id=${id}`,
          'content-length': '0',
        });
        return res.end();
      }
      if ((uploadType === 'multipart' || uploadType === 'media') && stallUploads && stallUploads.single) return;
      if (uploadType === 'multipart') {
        const boundary = /boundary="?([^";]+)"?/.exec(req.headers['content-type'] ?? '')?.[1];
        if (!boundary) return gcsError(res, 400, 'invalid', 'multipart upload without a boundary');
        const parts = splitMultipart(body, boundary);
        if (parts.length < 2) return gcsError(res, 400, 'invalid', 'multipart upload needs metadata and media parts');
        const meta = JSON.parse(parts[0]!.toString('utf8')) as {
          name?: string;
          contentType?: string;
          metadata?: Record<string, string>;
        };
        const name = q.get('name') ?? meta.name;
        if (!name) return gcsError(res, 400, 'required', 'Required: name');
        return create(res, bucket, name, parts[1]!, meta, q.get('ifGenerationMatch') ?? undefined);
      }
      if (uploadType === 'media') {
        const name = q.get('name');
        if (!name) return gcsError(res, 400, 'required', 'Required: name');
        return create(
          res,
          bucket,
          name,
          body,
          { contentType: req.headers['content-type'] },
          q.get('ifGenerationMatch') ?? undefined,
        );
      }
      return gcsError(res, 400, 'invalidParameter', `unknown uploadType ${uploadType}`);
    }

    // Resumable upload data: PUT {session} with Content-Range
    if (req.method === 'PUT' && path.startsWith('/upload/storage/v1/b/') && q.get('upload_id')) {
      if (stallUploads) {
        // never answered (and by default never read): the client waits until it gives up, then should close it
        if (stallUploads.readBody) {
          openStalled++;
          req.socket.once('close', () => openStalled--);
          req.resume();
        }
        return;
      }

      const session = sessions.get(q.get('upload_id')!);
      if (!session) return gcsError(res, 404, 'notFound', 'No such upload session');
      const body = await readBody(req);
      const range = String(req.headers['content-range'] ?? '');
      if (session.done) return gcsError(res, 200, 'ok', 'already finalized');
      if (/^bytes \*\/\*$/.test(range) && body.length === 0) {
        // status check
        res.writeHead(308, session.received > 0 ? { range: `bytes=0-${session.received - 1}` } : {});
        return res.end();
      }
      const r = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(range);
      if (!r) return gcsError(res, 400, 'invalid', `bad Content-Range ${range}`);
      const start = Number(r[1]);
      if (start !== session.received) {
        res.writeHead(308, session.received > 0 ? { range: `bytes=0-${session.received - 1}` } : {});
        return res.end();
      }
      session.chunks.push(body);
      session.received += body.length;
      const total = r[3] === '*' ? (r[2] === '*' ? session.received : undefined) : Number(r[3]);
      if (total === undefined || session.received < total) {
        res.writeHead(308, { range: `bytes=0-${session.received - 1}` });
        return res.end();
      }
      session.done = true;
      sessions.delete(q.get('upload_id')!);
      return create(
        res,
        session.bucket,
        session.name,
        Buffer.concat(session.chunks),
        session,
        session.ifGenerationMatch,
      );
    }

    // Media download: GET /storage/v1/b/{bucket}/o/{name}?alt=media or /download/storage/v1/...
    if (req.method === 'GET' && (m = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path))) {
      const bucket = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const object = buckets.get(bucket)?.get(name);
      if (!object) return gcsError(res, 404, 'notFound', `No such object: ${bucket}/${name}`);
      if (q.get('generation') && Number(q.get('generation')) !== object.generation)
        return gcsError(res, 404, 'notFound', 'No such object generation');
      if (q.get('alt') === 'media') {
        res.writeHead(200, {
          'content-type': object.contentType,
          'content-length': String(object.data.length),
          'x-goog-hash': `crc32c=${object.crc32c},md5=${object.md5Hash}`,
          'x-goog-generation': String(object.generation),
          'x-goog-stored-content-length': String(object.data.length),
          // GCS sends this; the client validates the hash only when it is present
          'x-goog-stored-content-encoding': 'identity',
        });
        if (stallDownloads && name.includes(stallDownloads.nameIncludes ?? '')) {
          res.write(object.data.subarray(0, Math.floor(object.data.length / 2)));
          return; // never more bytes, never the end
        }
        return res.end(object.data);
      }
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      return res.end(JSON.stringify(resource(bucket, object)));
    }

    // List: GET /storage/v1/b/{bucket}/o
    if (req.method === 'GET' && (m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) {
      const bucket = decodeURIComponent(m[1]!);
      const prefix = q.get('prefix') ?? '';
      const delimiter = q.get('delimiter') ?? '';
      // GCS may return fewer results than maxResults; maxPageSize makes this fake do so.
      const maxResults = Math.min(Number(q.get('maxResults') ?? 1000) || 1000, 1000, options.maxPageSize ?? 1000);
      const after = q.get('pageToken') ? Buffer.from(q.get('pageToken')!, 'base64url').toString('utf8') : undefined;
      const names = [...(buckets.get(bucket)?.keys() ?? [])].filter((n) => n.startsWith(prefix)).sort();
      const entries: Array<{ key: string; prefix?: string; name?: string }> = [];
      const seen = new Set<string>();
      for (const name of names) {
        const rest = name.slice(prefix.length);
        const cut = delimiter ? rest.indexOf(delimiter) : -1;
        if (cut >= 0) {
          const p = prefix + rest.slice(0, cut + delimiter.length);
          if (!seen.has(p)) entries.push({ key: p, prefix: p });
          seen.add(p);
        } else entries.push({ key: name, name });
      }
      const start = after === undefined ? 0 : entries.findIndex((e) => e.key > after);
      const page = start < 0 ? [] : entries.slice(start, start + maxResults);
      const more = start >= 0 && start + maxResults < entries.length;
      const objects = buckets.get(bucket);
      res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
      return res.end(
        JSON.stringify({
          kind: 'storage#objects',
          ...(page.some((e) => e.name)
            ? { items: page.filter((e) => e.name).map((e) => resource(bucket, objects!.get(e.name!)!)) }
            : {}),
          ...(page.some((e) => e.prefix) ? { prefixes: page.filter((e) => e.prefix).map((e) => e.prefix) } : {}),
          ...(more ? { nextPageToken: Buffer.from(page[page.length - 1]!.key).toString('base64url') } : {}),
        }),
      );
    }

    // Delete: DELETE /storage/v1/b/{bucket}/o/{name}
    if (req.method === 'DELETE' && (m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path))) {
      const bucket = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const object = buckets.get(bucket)?.get(name);
      if (!object) return gcsError(res, 404, 'notFound', `No such object: ${bucket}/${name}`);
      const precondition = q.get('ifGenerationMatch');
      if (precondition !== null && Number(precondition) !== object.generation)
        return gcsError(res, 412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
      if (object.temporaryHold || object.eventBasedHold) {
        return gcsError(
          res,
          403,
          'forbidden',
          `Object '${bucket}/${name}' is under active ${object.temporaryHold ? 'Temporary' : 'Event-Based'} hold and cannot be deleted, overwritten or archived until hold is removed.`,
        );
      }
      if (object.retentionExpirationTime && Date.parse(object.retentionExpirationTime) > Date.now()) {
        return gcsError(
          res,
          403,
          'retentionPolicyNotMet',
          `Object '${bucket}/${name}' is subject to bucket's retention policy or object retention and cannot be deleted or overwritten until ${object.retentionExpirationTime}`,
        );
      }
      buckets.get(bucket)!.delete(name);
      res.writeHead(204);
      return res.end();
    }

    req.resume();
    gcsError(res, 404, 'notFound', `fake GCS does not implement ${req.method} ${path}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => gcsError(res, 500, 'internalError', err.message));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: base,
    requests,
    setHold(bucket, name, hold) {
      const object = buckets.get(bucket)?.get(name);
      if (!object) throw new Error(`fake GCS: no object ${bucket}/${name}`);
      Object.assign(object, hold);
      object.metageneration++;
    },
    failNext(rule) {
      failures.push({ count: 1, status: 503, afterN: 0, ...rule });
    },
    stallUploads(stall = true) {
      stallUploads = stall === false ? false : stall === true ? {} : stall;
    },
    openStalledUploads: () => openStalled,
    stallDownloads(stall = true) {
      stallDownloads = stall === false ? undefined : stall === true ? {} : stall;
    },
    stallAll(stall = true) {
      stallAll = stall === false ? false : stall === true ? {} : stall;
    },
    clearFailures() {
      failures.length = 0;
    },
    objectCount: (bucket) => buckets.get(bucket)?.size ?? 0,
    objectNames: (bucket) => [...(buckets.get(bucket)?.keys() ?? [])].sort(),
    corrupt(bucket, name) {
      const object = buckets.get(bucket)?.get(name);
      if (!object) throw new Error(`fake GCS: no object ${bucket}/${name}`);
      object.data = Buffer.from(object.data);
      object.data[object.data.length - 1] = object.data[object.data.length - 1]! ^ 0xff;
    },
    setTimeCreated(bucket, name, time) {
      const object = buckets.get(bucket)?.get(name);
      if (!object) throw new Error(`fake GCS: no object ${bucket}/${name}`);
      object.timeCreated = time.toISOString();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Splits a multipart/related body into its parts' bodies. */
function splitMultipart(body: Buffer, boundary: string): Buffer[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let index = body.indexOf(delimiter);
  while (index !== -1) {
    const start = index + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = body.subarray(start, next);
    const headerEnd = part.indexOf('\r\n\r\n');
    let content = part.subarray(headerEnd + 4);
    if (content.subarray(content.length - 2).toString() === '\r\n') content = content.subarray(0, content.length - 2);
    parts.push(content);
    index = next;
  }
  return parts;
}
