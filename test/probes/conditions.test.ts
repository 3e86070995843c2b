import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseCondition, ConditionError, parseDuration } from '../../shared/probes/conditions';
import { evaluateAll, globMatch, type Observation } from '../../shared/probes/evaluate';
import { ProbesSectionSchema } from '../../shared/probes/config';
import { formatIssues } from '../../shared/errors';
import { registerSecret } from '../../shared/log/redact';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const healthy: Observation = {
  status: 200,
  responseTimeMs: 42.4,
  body: fixture('health-full-healthy.json'),
  headers: { 'Content-Type': 'application/json' },
  connected: true,
};
const degraded: Observation = {
  status: 200,
  responseTimeMs: 35,
  body: fixture('health-full-degraded.json'),
  connected: true,
};
const unhealthy: Observation = {
  status: 503,
  responseTimeMs: 12,
  body: fixture('health-full-unhealthy.json'),
  connected: true,
};
const tls: Observation = {
  status: 200,
  responseTimeMs: 5,
  body: 'ok',
  certificateExpiresInMs: 10 * 86_400_000 + 3 * 3_600_000,
  connected: true,
};
const refused: Observation = { connected: false, responseTimeMs: 3 };
const list: Observation = {
  status: 200,
  body: JSON.stringify({ items: [{ id: 7, name: 'john smith' }, { id: 8 }], empty: [], nothing: null }),
  connected: true,
};

describe('conditions: evaluation (pure; every failure says what it saw)', () => {
  it.each<[string, string, Observation, boolean, string?]>([
    ['status ok', '[STATUS] == 200', healthy, true],
    ['status 503', '[STATUS] == 200', unhealthy, false, '[STATUS] == 200: got 503'],
    [
      'no status when the connection was refused',
      '[STATUS] == 200',
      refused,
      false,
      '[STATUS] == 200: got nothing (missing)',
    ],
    ['any() of statuses', '[STATUS] == any(200, 204)', healthy, true],
    ['not any()', '[STATUS] != any(500, 503)', unhealthy, false],
    ['body status healthy', '[BODY].status == healthy', healthy, true],
    [
      'degraded is not healthy (the outage a 200 hides)',
      '[BODY].status == healthy',
      degraded,
      false,
      '[BODY].status == healthy: got "degraded"',
    ],
    ['counts above 0', '[BODY].checks.database.age_groups_count > 0', healthy, true],
    [
      'a count of 0 fails',
      '[BODY].checks.database.age_groups_count > 0',
      degraded,
      false,
      '[BODY].checks.database.age_groups_count > 0: got 0',
    ],
    [
      'a path that is missing',
      '[BODY].checks.database.age_groups_count > 0',
      unhealthy,
      false,
      '[BODY].checks.database.age_groups_count > 0: got nothing (missing)',
    ],
    ['the 503 body wraps everything in detail', '[BODY].detail.status == unhealthy', unhealthy, true],
    ['array index', '[BODY].items[0].id == 7', list, true],
    [
      'array index out of range',
      '[BODY].items[5].id == 7',
      list,
      false,
      '[BODY].items[5].id == 7: got nothing (missing)',
    ],
    ['len of an array', 'len([BODY].items) == 2', list, true],
    ['len of an empty array', 'len([BODY].empty) > 0', list, false, 'len([BODY].empty) > 0: got 0'],
    ['has a field', 'has([BODY].items) == true', list, true],
    ['has not a null field', 'has([BODY].nothing) == false', list, true],
    ['pattern on a field', '[BODY].items[0].name == pat(john*)', list, true],
    ['pattern on the whole body', '[BODY] == pat(*"degraded"*)', degraded, true],
    [
      'pattern that does not match',
      '[BODY].items[0].name == pat(jane*)',
      list,
      false,
      '[BODY].items[0].name == pat(jane*): got "john smith"',
    ],
    ['body as text', '[BODY] == ok', tls, true],
    ['len of the body text', 'len([BODY]) < 3', tls, true],
    [
      'a body that is not JSON',
      '[BODY].status == healthy',
      { status: 200, body: '<html>oops' },
      false,
      '[BODY].status == healthy: got a body that is not JSON',
    ],
    // what a [BODY] path says when there is no JSON to read: no answer, no body, an empty one, one cut at the limit
    ['no answer (refused)', '[BODY].status == healthy', refused, false, '[BODY].status == healthy: got no answer'],
    [
      'no answer (postgres or the bucket unreachable)',
      '[BODY].connectionsUsedPercent < 80',
      { connected: false },
      false,
      '[BODY].connectionsUsedPercent < 80: got no answer',
    ],
    [
      'an answer without a body',
      '[BODY].status == healthy',
      { status: 204, connected: true },
      false,
      '[BODY].status == healthy: got no body',
    ],
    [
      'an empty body',
      '[BODY].status == healthy',
      { status: 200, body: '', connected: true },
      false,
      '[BODY].status == healthy: got an empty body',
    ],
    [
      'a body cut at the read limit',
      '[BODY].status == healthy',
      { status: 200, body: '{"status":"healthy","pad":"xxx', bodyCutAt: 1024 * 1024, connected: true },
      false,
      '[BODY].status == healthy: got a body cut at 1 MiB (not read as JSON)',
    ],
    [
      'a body cut where it still reads as JSON',
      '[BODY].status == healthy',
      { status: 200, body: '{"status":"healthy"}', bodyCutAt: 20, connected: true },
      true,
    ],
    [
      'a cut body, not JSON anyway, cut at a size in KiB',
      '[BODY].status == healthy',
      { status: 200, body: '<html>', bodyCutAt: 64 * 1024, connected: true },
      false,
      '[BODY].status == healthy: got a body cut at 64 KiB (not read as JSON)',
    ],
    // null: why, when the observation says (backup-freshness on an empty bucket)
    [
      'null with its reason',
      '[BODY].newestAgeHours < 26',
      { json: { newestAgeHours: null }, nullReasons: { newestAgeHours: 'no complete backup in the bucket' } },
      false,
      '[BODY].newestAgeHours < 26: got null (no complete backup in the bucket)',
    ],
    [
      'a nested null with its reason',
      '[BODY].verify.ageDays < 8',
      { json: { verify: { ageDays: null } }, nullReasons: { 'verify.ageDays': 'no verify recorded' } },
      false,
      '[BODY].verify.ageDays < 8: got null (no verify recorded)',
    ],
    [
      'null without a reason',
      '[BODY].newestAgeHours < 26',
      { json: { newestAgeHours: null }, nullReasons: { other: 'x' } },
      false,
      '[BODY].newestAgeHours < 26: got null',
    ],
    [
      'a reason is for null only',
      '[BODY].newestAgeHours < 26',
      { json: { newestAgeHours: 30 }, nullReasons: { newestAgeHours: 'no complete backup in the bucket' } },
      false,
      '[BODY].newestAgeHours < 26: got 30',
    ],
    ['response time (rounded ms)', '[RESPONSE_TIME] < 200', healthy, true],
    ['slow', '[RESPONSE_TIME] < 20', healthy, false, '[RESPONSE_TIME] < 20: got 42 ms'],
    ['response time with a unit', '[RESPONSE_TIME] <= 1s', healthy, true],
    ['a header, case-insensitive', '[HEADER].content-type == pat(application/json*)', healthy, true],
    [
      'a missing header',
      '[HEADER].x-request-id == abc',
      healthy,
      false,
      '[HEADER].x-request-id == abc: got nothing (missing)',
    ],
    ['certificate beyond 7 days', '[CERTIFICATE_EXPIRATION] > 7d', tls, true],
    [
      'certificate within 21 days',
      '[CERTIFICATE_EXPIRATION] > 21d',
      tls,
      false,
      '[CERTIFICATE_EXPIRATION] > 21d: got 10d 3h',
    ],
    ['certificate in hours', '[CERTIFICATE_EXPIRATION] > 240h', tls, true],
    ['no certificate on plain http', '[CERTIFICATE_EXPIRATION] > 7d', healthy, false],
    ['connected', '[CONNECTED] == true', healthy, true],
    ['not connected', '[CONNECTED] == true', refused, false, '[CONNECTED] == true: got false'],
    ['dns rcode', '[DNS_RCODE] == NOERROR', { dnsRcode: 'NOERROR' }, true],
    ['placeholder on the right', '200 == [STATUS]', healthy, true],
    ['a quoted value with spaces', '[BODY].checks.api.message == "API is running"', healthy, true],
    ['!= on a missing value fails (nothing is not a value)', '[BODY].nope != x', healthy, false],
    // as Gatus: the body as text is trimmed (a server answering "OK\n"), and so is what len() and pat() see of it
    ['the body as text, its line break trimmed', '[BODY] == OK', { status: 200, body: 'OK\n' }, true],
    ['a pattern on the trimmed body', '[BODY] == pat(*OK)', { status: 200, body: '  OK\r\n' }, true],
    ['len of the trimmed body text', 'len([BODY]) == 2', { status: 200, body: 'OK\n' }, true],
    // len([BODY]) of a JSON array or object counts its elements or keys, as len([BODY].items) does, never characters
    ['len of an empty JSON array body', 'len([BODY]) == 0', { status: 200, body: '[]' }, true],
    ['an empty JSON array body is not a non-empty list', 'len([BODY]) > 0', { status: 200, body: '[ ]\n' }, false],
    ['len of a JSON array body', 'len([BODY]) == 2', { status: 200, body: '[{"id":1},{"id":2}]' }, true],
    ['len of a JSON object body', 'len([BODY]) == 2', { status: 200, body: '{"a":1,"b":[1,2,3]}' }, true],
    ['the first element of an array body', '[BODY][1].id == 2', { status: 200, body: '[{"id":1},{"id":2}]' }, true],
    ['nested arrays', '[BODY].m[1][0] == 3', { status: 200, body: '{"m":[[1,2],[3]]}' }, true],
    ['a key with dashes', '[BODY].x-request-id == abc', { status: 200, body: '{"x-request-id":"abc"}' }, true],
    // == on a value observed as text compares text (as Gatus): a version "1.10" is not 1.1, nor a code "007" 7
    ['a text version is not a number', '[BODY].version == 1.1', { status: 200, body: '{"version":"1.10"}' }, false],
    ['a text code keeps its zeros', '[BODY].code == 7', { status: 200, body: '{"code":"007"}' }, false],
    ['a text number equal as text', '[BODY].count == 10', { status: 200, body: '{"count":"10"}' }, true],
    ['any() on a text value compares text', '[BODY].v == any(1.1, 1.2)', { status: 200, body: '{"v":"1.10"}' }, false],
    ['a JSON number equal as a number', '[BODY].ratio == 0.50', { status: 200, body: '{"ratio":0.5}' }, true],
    ['a number quoted in the condition', '[STATUS] == "200"', healthy, true],
    ['ordering a text number numerically ("10" > 9)', '[BODY].n > 9', { status: 200, body: '{"n":"10"}' }, true],
  ])('%s: %s', (_name, source, observation, ok, message) => {
    const [result] = evaluateAll([parseCondition(source)], observation);
    expect(result!.ok).toBe(ok);
    if (message) expect(result!.message).toBe(message);
    if (ok) expect(result!.message).toBeUndefined();
  });

  it('the body is parsed once however many conditions read it', () => {
    const parse = JSON.parse;
    let calls = 0;
    JSON.parse = ((...args: Parameters<typeof parse>) => (calls++, parse(...args))) as typeof JSON.parse;
    try {
      evaluateAll(
        ['[BODY].status == healthy', '[BODY].checks.api.status == healthy', 'len([BODY].checks) == 4'].map(
          parseCondition,
        ),
        healthy,
      );
    } finally {
      JSON.parse = parse;
    }
    expect(calls).toBe(1);
  });
});

describe('conditions: what a result says and stores is masked (evaluation alone, before any log line)', () => {
  registerSecret('eval-secret-7f3k9q');
  const one = (source: string, observation: Observation) => evaluateAll([parseCondition(source)], observation)[0]!;

  it.each<[string, string, string]>([
    // the 80-character cut of a body fell inside the secret: masked first, then cut
    ['the body, cut', '[BODY] == x', `"${'p'.repeat(70)}***${'q'.repeat(7)}..."`],
    ['a value, cut at 120', '[BODY].a == x', `"${'p'.repeat(110)}***${'q'.repeat(6)}...`],
  ])('%s: %s', (_name, source, got) => {
    const secret = 'eval-secret-7f3k9q';
    const body = JSON.stringify({ a: `${'p'.repeat(110)}${secret}${'q'.repeat(40)}` });
    const observation =
      source === '[BODY] == x'
        ? { status: 200, body: `${'p'.repeat(70)}${secret}${'q'.repeat(40)}` }
        : { status: 200, body };
    const result = one(source, observation);
    expect(result.got).toBe(got);
    expect(result.message).toBe(`${source}: got ${got}`);
  });

  it.each<[string, string]>([
    ['[BODY].password == x', '"***"'],
    ['[BODY].auth.refresh_token == x', '"***"'],
    ['[BODY].apiKeys[0] == x', '"***"'],
    ['[BODY].secret_pin == 1', '"***"'],
    ['[BODY].credentials == x', '"***"'],
    ['[HEADER].Set-Cookie == x', '"***"'],
    ['[HEADER].authorization == x', '"***"'],
    ['[BODY].empty_token == x', 'null'],
    ['[BODY].blank_secret == x', '""'],
    ['[BODY].absent_password == x', 'nothing (missing)'],
    ['len([BODY].password) == 1', '7'],
    ['[BODY].passed == 0', '3'],
    ['[BODY].nested == x', '{"password":"***","ok":true}'],
  ])('a value read under a secret name: %s got %s', (source, got) => {
    const observation: Observation = {
      status: 200,
      body: JSON.stringify({
        password: 'pw-1234',
        auth: { refresh_token: 'rt-1' },
        apiKeys: ['k-1'],
        secret_pin: 4242,
        credentials: { user: 'u' },
        empty_token: null,
        blank_secret: '',
        passed: 3,
        nested: { password: 'pw-5678', ok: true },
      }),
      headers: { 'set-cookie': ['sid=1', 'x=2'], Authorization: 'Basic dXNlcg==' },
    };
    expect(one(source, observation).got).toBe(got);
  });

  it('the condition as stored: a registered secret in it masked, the rest as written', () => {
    const result = one('[BODY].status == eval-secret-7f3k9q', { status: 200, body: '{"status":"healthy"}' });
    expect(result.condition).toBe('[BODY].status == ***');
    expect(result.message).toBe('[BODY].status == ***: got "healthy"');
    // not a registered value: as written (no pattern rewrites a condition)
    expect(one('[BODY].authorization == nope', { status: 200, body: '{}' }).condition).toBe(
      '[BODY].authorization == nope',
    );
  });
});

describe('conditions: parse errors quote the condition and point at the bad token', () => {
  it.each<[string, string]>([
    [
      '[STAUS] == 200',
      '"[STAUS] == 200": unknown placeholder (known: [STATUS], [RESPONSE_TIME], [BODY], [HEADER], [CERTIFICATE_EXPIRATION], [CONNECTED], [DNS_RCODE]) at column 1 ("[STAUS]")',
    ],
    ['[STATUS] 200', '"[STATUS] 200": expected an operator (== != <= >= < >) at column 1 ("[STATUS]")'],
    // => and =< (>= and <= the other way round): the operator named, not the placeholder before it
    ['[STATUS] => 200', '"[STATUS] => 200": "=>" is not an operator, use ">=" (== != <= >= < >) at column 10 ("=>")'],
    ['[STATUS] =< 200', '"[STATUS] =< 200": "=<" is not an operator, use "<=" (== != <= >= < >) at column 10 ("=<")'],
    [
      '[RESPONSE_TIME]=<200',
      '"[RESPONSE_TIME]=<200": "=<" is not an operator, use "<=" (== != <= >= < >) at column 16 ("=<200")',
    ],
    // a space inside a placeholder's path: the token after it is pointed at, not "end of condition"
    ['[BODY] status == 1', '"[BODY] status == 1": expected ".field" or "[index]" at column 8 ("status")'],
    // the usual slip, pointed at (it pointed at "[STATUS]", column 1)
    ['[STATUS] = 200', '"[STATUS] = 200": "=" is not an operator, use "==" (== != <= >= < >) at column 10 ("=")'],
    [
      '[BODY].name "a=b"',
      '"[BODY].name \\"a=b\\"": expected an operator (== != <= >= < >) at column 1 ("[BODY].name")',
    ],
    ['[STATUS] == ', '"[STATUS] == ": expected a value at column 13 (end of condition)'],
    ['[BODY].a..b == 1', '"[BODY].a..b == 1": expected a field name after "." at column 9 ("..b")'],
    ['[BODY].items[x] == 1', '"[BODY].items[x] == 1": expected an array index like [0] at column 13 ("[x]")'],
    ['[STATUS].code == 200', '"[STATUS].code == 200": [STATUS] takes no path at column 9 (".code")'],
    [
      '[HEADER] == x',
      '"[HEADER] == x": [HEADER] needs one header name: [HEADER].content-type at column 1 ("[HEADER]")',
    ],
    [
      'size([BODY]) > 1',
      '"size([BODY]) > 1": unknown function (known: len, has, pat, any) at column 1 ("size([BODY])")',
    ],
    ['len(5) > 1', '"len(5) > 1": len() takes a placeholder such as [BODY].items at column 5 ("5)")'],
    [
      '[RESPONSE_TIME] < fast',
      '"[RESPONSE_TIME] < fast": < needs a number or a duration (200, 1.5s, 21d) at column 19 ("fast")',
    ],
    ['[STATUS] > any(200, 300)', '"[STATUS] > any(200, 300)": any() works only with == and != at column 10 (">")'],
    // a duration to a placeholder that is no time would never compare: the condition would fail at every probe
    [
      '[BODY].uptime > 5m',
      '"[BODY].uptime > 5m": > needs a number here: durations (1.5s, 21d) compare only with [RESPONSE_TIME] and [CERTIFICATE_EXPIRATION] at column 17 ("5m")',
    ],
    [
      '1s < len([BODY].items)',
      '"1s < len([BODY].items)": < needs a number here: durations (1.5s, 21d) compare only with [RESPONSE_TIME] and [CERTIFICATE_EXPIRATION] at column 1 ("1s")',
    ],
    [
      '200 == 200',
      '"200 == 200": compares two constants: one side must be a placeholder such as [STATUS] at column 1 ("200")',
    ],
    // JavaScript's === and !==: the third "=" would be the value ("= 200"), a condition that can never hold
    [
      '[STATUS] === 200',
      '"[STATUS] === 200": a second operator; quote the value if it contains one at column 12 ("=")',
    ],
    [
      '[BODY].status !== healthy',
      '"[BODY].status !== healthy": a second operator; quote the value if it contains one at column 17 ("=")',
    ],
    [
      '[BODY].a == b == c',
      '"[BODY].a == b == c": a second operator; quote the value if it contains one at column 15 ("==")',
    ],
  ])('%s', (source, message) => {
    let err: unknown;
    try {
      parseCondition(source);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConditionError);
    expect((err as Error).message).toBe(message);
  });

  it('the probes section refuses a bad condition with the field path and the condition quoted', () => {
    const result = ProbesSectionSchema.safeParse([
      {
        name: 'api',
        url: 'http://127.0.0.1:1/health',
        conditions: ['[STATUS] == 200', { condition: '[BODY.status == ok', severity: 'warning' }],
      },
    ]);
    expect(formatIssues(result.error!)).toEqual([
      '[0].conditions[1].condition: invalid condition "[BODY.status == ok": unclosed "[" at column 1 ("[BODY.status")',
    ]);
  });

  it.each<[string, unknown, string]>([
    [
      'a severity that is not one',
      { condition: '[STATUS] == 200', severity: 'urgent' },
      '[0].conditions[0].severity: Invalid option: expected one of "critical"|"warning"|"info"',
    ],
    [
      'an unknown key beside the condition',
      { condition: '[STATUS] == 200', when: 'x' },
      '[0].conditions[0]: Unrecognized key: "when"',
    ],
    ['a number', 200, '[0].conditions[0]: expected a condition (text) or { condition, severity }'],
    ['a list', ['[STATUS] == 200'], '[0].conditions[0]: expected a condition (text) or { condition, severity }'],
    [
      'an object without its condition',
      { severity: 'warning' },
      '[0].conditions[0].condition: Invalid input: expected string, received undefined',
    ],
  ])('a condition entry that is %s: the issue at its own field', (_name, entry, expected) => {
    const result = ProbesSectionSchema.safeParse([{ name: 'a', url: 'http://x/', conditions: [entry] }]);
    expect(formatIssues(result.error!)).toEqual([expected]);
  });

  it('duplicate probe names are refused', () => {
    const result = ProbesSectionSchema.safeParse([
      { name: 'a', url: 'http://x/' },
      { name: 'a', url: 'http://y/' },
    ]);
    expect(formatIssues(result.error!)).toEqual(['[1].name: duplicate probe name a']);
  });

  it.each<[string, unknown, string[] | { concurrency: number; targets?: number }]>([
    ['the list form: concurrency 50', [{ name: 'a', url: 'http://x/' }], { concurrency: 50, targets: 1 }],
    [
      'the settings form',
      { concurrency: 8, targets: [{ name: 'a', url: 'http://x/' }] },
      { concurrency: 8, targets: 1 },
    ],
    ['settings without targets: the defaults run', { concurrency: 200 }, { concurrency: 200 }],
    ['concurrency 0', { concurrency: 0 }, ['concurrency: Too small: expected number to be >=1']],
    ['concurrency above the bound', { concurrency: 501 }, ['concurrency: Too big: expected number to be <=500']],
    ['concurrency not an integer', { concurrency: 2.5 }, ['concurrency: Invalid input: expected int, received number']],
    ['an unknown setting', { concurency: 5 }, ['Unrecognized key: "concurency"']],
    [
      'a bad target in the settings form keeps its path',
      { targets: [{ name: 'a', url: 'nope' }] },
      ['targets[0].url: Invalid URL: must be http:// or https://'],
    ],
    ['neither a list nor settings', 'all', ['Invalid input: expected object, received string']],
  ])('the section: %s', (_name, input, expected) => {
    const result = ProbesSectionSchema.safeParse(input);
    if (Array.isArray(expected)) expect(formatIssues(result.error!)).toEqual(expected);
    else {
      expect(result.error).toBeUndefined();
      expect({
        concurrency: result.data!.concurrency,
        ...(result.data!.targets ? { targets: result.data!.targets.length } : {}),
      }).toEqual(expected);
    }
  });
});

describe('helpers', () => {
  it.each<[string, number | undefined]>([
    ['21d', 21 * 86_400_000],
    ['1.5s', 1500],
    ['30m', 1_800_000],
    ['250ms', 250],
    ['200', 200],
    ['fast', undefined],
  ])('parseDuration(%s)', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each<[string, string, boolean]>([
    ['john*', 'john smith', true],
    ['*smith', 'john smith', true],
    ['j?hn*', 'john', true],
    ['a.b', 'axb', false],
    ['(x)', '(x)', true],
  ])('globMatch(%s, %s)', (glob, value, hit) => expect(globMatch(glob, value)).toBe(hit));
});
