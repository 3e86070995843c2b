/**
 * The local runtime's bearer token: OPS_API_TOKEN, or one generated at start (printed once, never logged). A request's
 * token is compared in constant time: both sides are hashed (sha256) and the digests compared with timingSafeEqual,
 * so neither the token's length nor its first differing byte shows in the answer's timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { registerSecret } from '../../shared/log/redact';

export interface ApiToken {
  /** The token itself (to print once when it was generated). */
  value: string;
  /** Where it came from. */
  source: 'OPS_API_TOKEN' | 'generated';
  /** Checks a request's `Authorization: Bearer <token>` header. */
  check(req: Pick<IncomingMessage, 'headers'>): 'ok' | 'missing' | 'wrong';
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The token from OPS_API_TOKEN, or a fresh random one (32 bytes, base64url); either way masked in every log line. */
export function apiToken(configured: string | undefined): ApiToken {
  const value = configured ?? randomBytes(32).toString('base64url');
  registerSecret(value);
  const expected = digest(value);
  return {
    value,
    source: configured ? 'OPS_API_TOKEN' : 'generated',
    check(req) {
      const header = req.headers.authorization;
      if (!header) return 'missing';
      const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
      if (!match) return 'missing';
      return timingSafeEqual(digest(match[1]!), expected) ? 'ok' : 'wrong';
    },
  };
}
