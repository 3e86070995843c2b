/**
 * Reading an HTTP probe's answer body, bounded: at most `limit` bytes kept (memory never grows with the target's
 * answer; the rest is read and dropped so the connection ends normally), and a body sent with a Content-Encoding of
 * gzip, deflate or br decoded first, so conditions read what the server meant (`[BODY].status`), not its compressed
 * bytes. The decoding is bounded by the same limit (a small body that inflates to gigabytes stops at it).
 */
import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

export interface BodyRead {
  body: string;
  /** The body was longer than the limit and was kept only up to it. */
  cutAt?: number;
}

function decoderFor(encoding: string | undefined): Transform | undefined {
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      // identity, none, or one we do not decode: the bytes as sent
      return undefined;
  }
}

/**
 * Reads `res` to its end: `done` with the body (decoded, cut at `limit`), or `failed` with why the encoding could not
 * be decoded. The response's own errors and aborts are the caller's to watch.
 */
export function readBody(
  res: IncomingMessage,
  limit: number,
  done: (read: BodyRead) => void,
  failed: (reason: string) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let cutAt: number | undefined;
  const keep = (chunk: Buffer) => {
    if (size + chunk.length > limit) cutAt = limit;
    if (size < limit) {
      const part = chunk.subarray(0, limit - size);
      chunks.push(part);
      size += part.length;
    }
  };
  let reported = false;
  const finished = () => {
    if (reported) return;
    reported = true;
    done({ body: Buffer.concat(chunks).toString('utf8'), ...(cutAt ? { cutAt } : {}) });
  };
  const encoding = res.headers['content-encoding'];
  const decoder = decoderFor(encoding);
  if (!decoder) {
    // beyond the limit the rest is read and dropped, so the connection ends normally
    res.on('data', keep);
    res.on('end', finished);
    return;
  }
  let fed = false;
  let stopped = false;
  let ended = false;
  // the limit reached: no more decoding (its CPU and memory), the rest of the answer read and dropped; an answer
  // already read to its end (the decoder still at work on it) is done now, its decoder never to end
  const stop = () => {
    stopped = true;
    decoder.destroy();
    if (ended) finished();
    else res.resume();
  };
  decoder.on('data', (chunk: Buffer) => {
    keep(chunk);
    if (cutAt !== undefined && !stopped) stop();
  });
  decoder.on('error', (err: Error) => {
    if (!stopped) failed(`the body could not be decoded (Content-Encoding: ${encoding}): ${err.message}`);
  });
  res.on('data', (chunk: Buffer) => {
    if (stopped) return;
    fed = true;
    if (!decoder.write(chunk)) {
      res.pause();
      decoder.once('drain', () => res.resume());
    }
  });
  res.on('end', () => {
    ended = true;
    // no body at all (HEAD, 204, 304): nothing to decode
    if (stopped || !fed) return finished();
    decoder.once('end', finished);
    decoder.end();
  });
}
