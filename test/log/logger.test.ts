import { describe, it, expect, vi, afterEach } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../shared/log/logger';
import { capturedLogger } from '../support/logs';
import { loadConfig } from '../../shared/config/load';
import { redactString } from '../../shared/log/redact';
import { runCli } from '../support/cli';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Captured output; the level is `debug` unless given (an explicit `undefined` means "from LOG_LEVEL"). */
function capture(options: { level?: string; pretty?: boolean } = {}) {
  const level = 'level' in options ? options.level : 'debug';
  return capturedLogger({ level, pretty: options.pretty ?? false, labels: { env: 'prod', component: 'backup' } });
}

describe('structured logs for Cloud Logging', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('writes one JSON line per record with severity, message, time, fields and labels', () => {
    const { logger, records } = capture({ level: 'trace' });
    logger.trace('t');
    logger.debug('d');
    logger.info({ backupId: '20261129T030000Z-7f3a', rows: 12 }, 'backup completed');
    logger.warn('w');
    logger.error('e');
    logger.fatal('f');
    const r = records();
    expect(r.map((x) => x.severity)).toEqual(['DEBUG', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']);
    expect(r.map((x) => x.message)).toEqual(['t', 'd', 'backup completed', 'w', 'e', 'f']);
    expect(r[2]).toEqual({
      severity: 'INFO',
      time: expect.any(String),
      message: 'backup completed',
      backupId: '20261129T030000Z-7f3a',
      rows: 12,
      'logging.googleapis.com/labels': { env: 'prod', component: 'backup' },
    });
    expect(new Date(String(r[2]!.time)).toISOString()).toBe(r[2]!.time);
  });

  it('child loggers keep the labels and add their fields', () => {
    const { logger, records } = capture();
    logger.child({ runId: 'r1' }).info('x');
    expect(records()[0]).toMatchObject({ runId: 'r1', message: 'x', 'logging.googleapis.com/labels': { env: 'prod' } });
  });

  it.each([
    // [option, LOG_LEVEL, what is written]
    [undefined, undefined, ['INFO', 'WARNING', 'ERROR']],
    [undefined, 'debug', ['DEBUG', 'INFO', 'WARNING', 'ERROR']],
    [undefined, 'WARN', ['WARNING', 'ERROR']],
    [undefined, 'silent', []],
    ['error', 'debug', ['ERROR']],
  ])('level option %s with LOG_LEVEL=%s', (level, env, expected) => {
    vi.stubEnv('LOG_LEVEL', env);
    const { logger, records } = capture({ level });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((r) => r.severity)).toEqual(expected);
  });
});

describe('redaction', () => {
  // Registered as secrets by the configuration loader, as at startup.
  loadConfig({
    OPS_CONFIG: undefined,
    SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T01/B02/slackTokenValue123',
    PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0123456789abcdef',
    SMTP_PASSWORD: 'smtp-pass-Qw3rty',
    DATABASE_URL: 'postgres://ops:db-pass-Z9x8@db.internal:5432/missing_table',
  });

  // [kind, text as it shows up, the secret part, a part that must survive]
  const kinds: Array<[string, string, string, string]> = [
    [
      'postgres URL password (registered)',
      'postgres://ops:db-pass-Z9x8@db.internal:5432/missing_table',
      'db-pass-Z9x8',
      'db.internal:5432/missing_table',
    ],
    ['postgres URL password (pattern)', 'postgresql://app:unreg-pw-4455@10.0.0.5/mt', 'unreg-pw-4455', '10.0.0.5/mt'],
    [
      'Slack webhook (registered)',
      'https://hooks.slack.com/services/T01/B02/slackTokenValue123',
      'slackTokenValue123',
      '***',
    ],
    ['Slack webhook token alone (registered)', 'token part slackTokenValue123', 'slackTokenValue123', 'token part'],
    [
      'Slack webhook (pattern)',
      'https://hooks.slack.com/services/T9/B9/unregSlackTok777',
      'unregSlackTok777',
      'hooks.slack.com',
    ],
    [
      'PagerDuty routing key (registered)',
      'routing with R0UTINGKEY0123456789abcdef',
      'R0UTINGKEY0123456789abcdef',
      'routing with',
    ],
    [
      'PagerDuty routing key in a JSON body (pattern)',
      '{"routing_key":"pdUnreg0987654321","event_action":"trigger"}',
      'pdUnreg0987654321',
      'event_action',
    ],
    ['SMTP password (registered)', 'login ops/smtp-pass-Qw3rty', 'smtp-pass-Qw3rty', 'login ops'],
    [
      'SMTP URL password (pattern)',
      'smtps://mailer:smtpUnreg55@smtp.example.com:465',
      'smtpUnreg55',
      'smtp.example.com',
    ],
    [
      'Authorization: Bearer header',
      'Authorization: Bearer eyJhbGciOi.unreg.tok',
      'eyJhbGciOi.unreg.tok',
      'Authorization',
    ],
    ['bearer token alone', 'sent Bearer eyJzdWIiOi.other.tok', 'eyJzdWIiOi.other.tok', 'sent'],
  ];

  // [placement, how a caller logs text s, how many lines]
  const placements: Array<[string, (log: Logger, s: string) => void]> = [
    ['message', (log, s) => log.info(`connecting: ${s}`)],
    ['format argument', (log, s) => log.info('connecting: %s', s)],
    ['field', (log, s) => log.info({ target: s }, 'posting')],
    ['nested field', (log, s) => log.info({ request: { attempts: [{ body: s }] } }, 'posting')],
    ['error field', (log, s) => log.error({ err: new Error(`failed: ${s}`) }, 'failed')],
    ['error without a message', (log, s) => log.error({ err: new Error(`failed: ${s}`) })],
    ['error as the only argument', (log, s) => log.error(new Error(`failed: ${s}`))],
    ['error under another key', (log, s) => log.error({ error: new Error(`failed: ${s}`) }, 'failed')],
    ['error cause', (log, s) => log.error({ err: new Error('outer', { cause: new Error(`inner: ${s}`) }) }, 'failed')],
    ['error property', (log, s) => log.error({ err: Object.assign(new Error('pg'), { detail: s }) }, 'failed')],
    ['aggregate error', (log, s) => log.error({ err: new AggregateError([new Error(s)], 'several') }, 'failed')],
    ['child binding', (log, s) => log.child({ target: s }).info('x')],
    ['grandchild binding', (log, s) => log.child({ a: 1 }).child({ target: s }).info('x')],
  ];

  const cases = kinds.flatMap(([kind, text, secret, keep]) =>
    placements.map(([where, write]) => [`${kind} in ${where}`, text, secret, keep, write] as const),
  );

  it.each(cases)('%s', (_name, text, secret, keep, write) => {
    for (const pretty of [false, true]) {
      const { logger, lines } = capture({ pretty });
      write(logger, text);
      const out = lines.join('\n');
      expect(lines.length, 'something was logged').toBeGreaterThan(0);
      expect(out).not.toContain(secret);
      if (!pretty) expect(out, 'the context survives').toContain(keep.replace(/"/g, '\\"'));
    }
  });

  it('masks fields named like secrets whatever their value, and keeps the rest', () => {
    const { logger, records } = capture();
    logger.info(
      {
        user: 'ops',
        password: 'plain-pw-1',
        headers: { Authorization: 'Basic b3BzOnB3', 'x-api-key': 'k-123' },
        routingKey: 'rk',
      },
      'x',
    );
    expect(records()[0]).toMatchObject({
      user: 'ops',
      password: '***',
      headers: { Authorization: '***', 'x-api-key': '***' },
      routingKey: '***',
    });
  });

  it('at the default level an error is its message and fields, without stacks (its cause too)', () => {
    const { logger, records } = capture({ level: 'info' });
    const cause = new Error('socket hang up');
    logger.error(
      { err: Object.assign(new Error('backup failed', { cause }), { code: 'ECONNRESET' }), other: new Error('x') },
      'failed',
    );
    const line = JSON.stringify(records()[0]);
    expect(records()[0]).toMatchObject({
      err: { name: 'Error', message: 'backup failed', code: 'ECONNRESET', cause: { message: 'socket hang up' } },
    });
    expect(line).not.toContain('stack');
    expect(line).not.toMatch(/\n\s+at /);
  });

  it('keeps error stacks (scrubbed) and codes at debug', () => {
    const { logger, records } = capture();
    logger.error(
      { err: Object.assign(new Error('boom postgres://u:stackpw99@h/d'), { code: 'ECONNREFUSED' }) },
      'failed',
    );
    const err = records()[0]!.err as Record<string, string>;
    expect(err).toMatchObject({ name: 'Error', message: 'boom postgres://u:***@h/d', code: 'ECONNREFUSED' });
    expect(err.stack).toMatch(/^Error: boom postgres:\/\/u:\*\*\*@h\/d\n\s+at /);
  });

  it('does not mangle ordinary URLs and addresses', () => {
    const { logger, records } = capture();
    logger.info(
      { url: 'http://localhost:8000/health', contact: 'http://host:8080,ops@example.com' },
      'probe http://localhost:8000/health/full',
    );
    expect(records()[0]).toMatchObject({
      url: 'http://localhost:8000/health',
      message: 'probe http://localhost:8000/health/full',
    });
  });
});

describe('masks do not eat paths or ${VAR} references', () => {
  it.each<[string, string]>([
    [
      'bucket file:///etc/passwd: /etc/passwd is a file, not a folder',
      'bucket file:///etc/passwd: /etc/passwd is a file, not a folder',
    ],
    ['C:\\secret: missing', 'C:\\secret: missing'],
    ['https://x.example/h?token=${API_TOKEN}&a=1', 'https://x.example/h?token=${API_TOKEN}&a=1'],
    ['password: "${DB_PASSWORD}"', 'password: "${DB_PASSWORD}"'],
    // still masked: values
    ['https://x.example/h?token=abc123&a=1', 'https://x.example/h?token=***&a=1'],
    ['passwd: hunter22', 'passwd: ***'],
    ['db password=s3cret', 'db password=***'],
  ])('%s', (text, shown) => expect(redactString(text)).toBe(shown));

  it('mt-ops config shows a URL with token=${VAR} as written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mt-redact-'));
    try {
      const file = join(dir, 'ops.json');
      writeFileSync(
        file,
        JSON.stringify({ probes: [{ name: 'api', url: 'https://x.example/h?token=${MT_T_TOKEN}' }] }),
      );
      const r = await runCli(['config', '--json'], { env: { OPS_CONFIG: file, MT_T_TOKEN: 'abcdefgh1234' } });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).config.probes.targets[0].url).toBe('https://x.example/h?token=${MT_T_TOKEN}');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bucket naming /etc/passwd says so, unmasked', async () => {
    const r = await runCli(['list'], { env: { BACKUP_BUCKET: 'file:///etc/passwd', OPS_CONFIG: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('mt-ops: bucket file:///etc/passwd: /etc/passwd is a file, not a folder\n');
  });
});

describe('masks leave probe conditions as written and mask only values', () => {
  it.each<[string, string, string]>([
    // a condition compares, it assigns nothing: `==` is no `=`, and a JSON path's last field is no key
    ['== after authorization', '[BODY].authorization == nope', '[BODY].authorization == nope'],
    ['== after password', '[BODY].password == x', '[BODY].password == x'],
    ['a secret word as the value', '[BODY].status == token', '[BODY].status == token'],
    ['a nested path', '[BODY].headers.authorization == nope', '[BODY].headers.authorization == nope'],
    ['without spaces', '[BODY].password==x', '[BODY].password==x'],
    ['a header condition', '[HEADER].authorization == pat(Bearer*)', '[HEADER].authorization == pat(Bearer*)'],
    ['the placeholder on the right', 'secret == [BODY].kind', 'secret == [BODY].kind'],
    ['set-cookie in a condition', '[HEADER].set-cookie == pat(*sid=*)', '[HEADER].set-cookie == pat(*sid=*)'],
    // the failed-condition line: "got" survives whatever word the condition ends with
    ['a failure ending in token', '[BODY].status == token: got "healthy"', '[BODY].status == token: got "healthy"'],
    [
      'a failure on authorization',
      '[BODY].authorization == nope: got nothing (missing)',
      '[BODY].authorization == nope: got nothing (missing)',
    ],
    ['a failure ending in authorization', '[BODY].x == authorization: got 3', '[BODY].x == authorization: got 3'],
    // a parse error quoting the condition
    [
      'a lone = in a parse error',
      '"[BODY].password = x": "=" is not an operator, use "==" at column 17 ("=")',
      '"[BODY].password = x": "=" is not an operator, use "==" at column 17 ("=")',
    ],
    [
      '=> in a parse error',
      '"[BODY].token => 3": "=>" is not an operator',
      '"[BODY].token => 3": "=>" is not an operator',
    ],
    // still masked: the values
    [
      'what a failed condition got',
      '[BODY].headers == x: got {"authorization":"Bearer abcdefgh1234","cookie":"sid=abc"}',
      '[BODY].headers == x: got {"authorization":"Bearer ***","cookie":"***"}',
    ],
    ['a key=value after a condition', '[BODY].a == x: got "password=s3cret"', '[BODY].a == x: got "password=***"'],
    ['a condition path as a secret value', 'token: [BODY].x', 'token: ***'],
    ['password=', 'db password=s3cret', 'db password=***'],
    ['password = with spaces', 'password = s3cret', 'password = ***'],
    ['== as the start of a value', 'url?password==s3cret&x=1', 'url?password=***&x=1'],
    ['token:', 'token: abc123', 'token: ***'],
    ['a word starting with got', 'token: gotcha99', 'token: ***'],
    ['Authorization: Bearer', 'Authorization: Bearer abcdefgh123', 'Authorization: Bearer ***'],
    ['a JSON authorization', '{"authorization":"Basic dXNlcjpwYXNz"}', '{"authorization":"Basic ***"}'],
    ['Java properties', 'spring.datasource.password=s3cret', 'spring.datasource.password=***'],
    ['a URL password', 'postgres://ops:hunter2@db/x', 'postgres://ops:***@db/x'],
    // cookies: the whole header value (several cookies, attributes)
    ['a Cookie header', 'Cookie: session=cookieVal99', 'Cookie: ***'],
    ['several cookies', 'cookie: a=1; session=cookieVal99 (sent)', 'cookie: ***'],
    [
      'a Cookie header quoted back in JSON',
      '{"user-agent":"mt-ops-probe","cookie":"session=cookieVal99","x":1}',
      '{"user-agent":"mt-ops-probe","cookie":"***","x":1}',
    ],
    ['Set-Cookie', 'Set-Cookie: sid=abc123; Path=/; HttpOnly', 'Set-Cookie: ***'],
    ['a set-cookie in YAML', '  set-cookie: "sid=abc123"', '  set-cookie: "***"'],
  ])('%s', (_name, text, shown) => expect(redactString(text)).toBe(shown));

  it('Cookie and Set-Cookie fields are secret-named', async () => {
    const { redactValue } = await import('../../shared/log/redact');
    expect(
      redactValue({
        headers: { Cookie: 'session=cookieVal99', 'Set-Cookie': ['sid=1', 'b=2'], 'X-Api-Key': 'k', Accept: '*/*' },
      }),
    ).toEqual({ headers: { Cookie: '***', 'Set-Cookie': '***', 'X-Api-Key': '***', Accept: '*/*' } });
  });

  it('mt-ops config shows conditions as written and masks a literal Cookie header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mt-redact-'));
    try {
      const file = join(dir, 'ops.json');
      const conditions = [
        '[BODY].authorization == nope',
        '[BODY].password == x',
        '[BODY].status == token',
        '[BODY].headers.authorization == nope',
      ];
      const headers = { Cookie: 'session=cookieVal99', Authorization: 'Bearer ${MT_T_TOKEN}' };
      writeFileSync(
        file,
        JSON.stringify({ probes: [{ name: 'api', url: 'http://127.0.0.1:1/', headers, conditions }] }),
      );
      const env = { OPS_CONFIG: file, MT_T_TOKEN: 'abcdefgh1234' };
      const json = await runCli(['config', '--json'], { env });
      expect(json.code, json.stderr).toBe(0);
      const target = JSON.parse(json.stdout).config.probes.targets[0];
      expect(target.conditions).toEqual(conditions);
      expect(target.headers).toEqual({ Cookie: '***', Authorization: '***' });
      const text = await runCli(['config'], { env });
      expect(text.code, text.stderr).toBe(0);
      for (const c of conditions) expect(text.stdout).toContain(`- "${c}"`);
      expect(text.stdout).not.toContain('cookieVal99');
      expect(text.stdout).toContain('Cookie: "***"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('secret-named fields', () => {
  it('masks password-like keys but not words that merely start with "pass" (a probe count logged as passed)', async () => {
    const { redactValue } = await import('../../shared/log/redact');
    const out = redactValue({
      passed: 3,
      passengers: 'x',
      password: 'p1',
      passwd: 'p2',
      pass: 'p3',
      dbPass: 'p4',
      password_hash: 'p5',
      apiKey: 'k',
    }) as Record<string, unknown>;
    expect(out).toMatchObject({ passed: 3, passengers: 'x' });
    for (const key of ['password', 'passwd', 'pass', 'dbPass', 'password_hash', 'apiKey']) expect(out[key]).toBe('***');
  });
});

describe('pretty on a terminal', () => {
  it('one line per record, first clearing the line a progress bar may be drawing on', () => {
    const chunks: string[] = [];
    const tty = Object.assign(
      new Writable({
        write(chunk, _enc, done) {
          chunks.push(String(chunk));
          done();
        },
      }),
      { isTTY: true },
    );
    const logger = createLogger({ level: 'info', destination: tty, labels: { env: 'prod' } });
    logger.info({ backupId: '20261129T030000Z-7f3a', tables: 4, nested: { a: 1, b: [1, 2] } }, 'backup completed');
    logger.warn({ holder: 'vm:1:ab', until: '2026-11-30T04:41:21.625Z' }, 'another backup is running; nothing done');
    const out = chunks.join('');
    const lines = out.split('\n').filter(Boolean);
    expect(lines, out).toHaveLength(2);
    for (const line of lines) expect(line.startsWith('\r\x1b[2K'), JSON.stringify(line)).toBe(true);
    expect(lines[0]).toMatch(/backup completed.*20261129T030000Z-7f3a/);
    expect(out).not.toContain('googleapis'); // Cloud Logging's labels are for Cloud Logging, not the terminal
  });
});
