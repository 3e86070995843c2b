/**
 * The regular expressions that see text from outside (secret patterns, the base64 check) stay linear: each one, on
 * 1 MB of the input that is worst for it, must finish within 50 ms (see overBudget for a busy machine). A quadratic
 * one takes minutes here, so the margin is wide.
 */
import { describe, it, expect } from 'vitest';
import { PATTERNS, redactString } from '../../shared/log/redact';
import { decodePubSubJson, isBase64 } from '../../shared/bus/decode';
import { BackupRequestSchema } from '../../shared/backup/request';

const MB = 1_000_000;
const fill = (unit: string, prefix = '', suffix = '') =>
  prefix + unit.repeat(Math.ceil((MB - prefix.length - suffix.length) / unit.length)) + suffix;

/** Inputs that make backtracking patterns blow up: long runs of what a quantifier eats, after each pattern's prefix. */
const ADVERSARIAL: Record<string, string> = {
  letters: fill('a'),
  'letters then ://': fill('a', '', '://'),
  'spaces then %': fill(' ', '', '%'),
  'whitespace mix then %': fill(' \t\n\r', '', '%'),
  'repeated a://': fill('a://'),
  'a: pairs': fill('a:'),
  'userinfo without @': fill('y:', 'x://'),
  'userinfo of @': fill('@', 'a://b:'),
  'url without a path': fill('a', 'http://'),
  'repeated http://a': fill('http://a'),
  'slack path': fill('a', 'https://hooks.slack.com/'),
  'authorization then spaces': fill(' ', 'authorization'),
  'authorization: then spaces': fill(' ', 'authorization:'),
  'authorization: bearer then spaces': fill(' ', 'authorization: bearer'),
  'repeated authorization': fill('authorization '),
  'bearer then spaces': fill(' ', 'bearer'),
  'repeated bearer': fill('bearer '),
  'password then spaces': fill(' ', 'password'),
  'password= then spaces': fill(' ', 'password='),
  'password= then quotes': fill('"', 'password='),
  'token: then tabs and newlines': fill('\t\n', 'token:'),
  'repeated sig': fill('sig'),
  'repeated api_key': fill('api_key '),
  'mixed punctuation': fill('a:/@'),
  'cookie: then spaces': fill(' ', 'cookie:'),
  'cookie then spaces': fill(' ', 'cookie'),
  'repeated cookie=': fill('cookie='),
  'repeated condition paths': fill('[BODY].password == '),
  'a long condition path': fill('.a', '[BODY]', '.token: x'),
  'repeated keys in a long path': fill('.token', '[HEADER]'),
  'repeated got': fill('token: got '),
  'repeated [BODY]': fill('[BODY]'),
  'repeated [HEADER]. then =': fill('[HEADER].a='),
  'base64 then %': fill('QUJD', '', '%'),
  'padding run': fill('=', 'QQ'),
};

/** Milliseconds for `work`, the best of up to five runs (only retried when slow). */
function bestOf5(work: () => unknown): number {
  let best = Infinity;
  for (let i = 0; i < 5 && best > 50; i++) {
    const t = performance.now();
    work();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/**
 * Over budget: more than 50 ms, and more than 25 times a plain linear pass over the same text measured just before
 * (on this shared 2-core machine the load can slow everything tenfold; a quadratic pattern is thousands of times slower).
 */
function overBudget(text: string, work: () => unknown): number | undefined {
  const ms = bestOf5(work);
  if (ms <= 50) return undefined;
  const reference = bestOf5(() => JSON.stringify(text));
  return ms > 25 * reference ? ms : undefined;
}

describe('linear regular expressions on 1 MB of hostile text', () => {
  it.each(PATTERNS.map(([pattern, replacement], i) => [i, pattern, replacement] as const))(
    'secret pattern %i stays under 50 ms on every worst case',
    (_i, pattern, replacement) => {
      const slow = Object.entries(ADVERSARIAL)
        .map(([name, text]) => [name, overBudget(text, () => text.replace(pattern, replacement))] as const)
        .filter(([, ms]) => ms !== undefined);
      expect(slow).toEqual([]);
    },
  );

  it('redactString as a whole (condition paths set aside, then the patterns) stays under 50 ms on every worst case', () => {
    const slow = Object.entries(ADVERSARIAL)
      .map(([name, text]) => [name, overBudget(text, () => redactString(text))] as const)
      .filter(([, ms]) => ms !== undefined);
    expect(slow).toEqual([]);
  });

  it('the base64 check stays under 50 ms on every worst case', () => {
    const slow = Object.entries(ADVERSARIAL)
      .map(([name, text]) => [name, overBudget(text, () => isBase64(text))] as const)
      .filter(([, ms]) => ms !== undefined);
    expect(slow).toEqual([]);
  });

  it('decoding a message of 1 MB of whitespace and a % is poison at once', () => {
    let reason = '';
    const data = fill(' ', '', '%');
    const ms = overBudget(data, () => {
      const decoded = decodePubSubJson(BackupRequestSchema, { data, messageId: '1' });
      reason = 'poison' in decoded ? decoded.reason : '';
    });
    expect(reason).toBe('data: not base64');
    expect(ms).toBeUndefined();
  });

  it("the issue's reproducers: 80,000 letters, a 40,000-character unknown key in zod's message", () => {
    const letters = 'a'.repeat(80_000);
    expect(overBudget(letters, () => redactString(letters))).toBeUndefined();
    const result = BackupRequestSchema.safeParse({ ['k'.repeat(40_000)]: 1 });
    const message = result.error!.issues[0]!.message;
    expect(overBudget(message, () => redactString(message))).toBeUndefined();
  });

  it('still masks what it masked', () => {
    expect(redactString('postgres://ops:hunter2@db/x')).toBe('postgres://ops:***@db/x');
    expect(redactString('Authorization: Bearer abcdefgh123')).toBe('Authorization: Bearer ***');
    expect(redactString('authorization="Basic dXNlcjpwYXNz"')).toBe('authorization="Basic ***"');
    expect(redactString('url?password=s3cret&x=1 token: abc')).toBe('url?password=***&x=1 token: ***');
    expect(redactString('Cookie: session=abc; b=2')).toBe('Cookie: ***');
    expect(redactString('see https://hooks.slack.com/services/T0/B0/xyz now')).toBe(
      'see https://hooks.slack.com/*** now',
    );
  });
});
