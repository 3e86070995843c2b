import { describe, it, expect } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/log/logger';
import { registerSecret, registerUrlSecrets } from '../../shared/log/redact';
import { loadConfig } from '../../shared/config/load';

function capture(level = 'debug') {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ destination, pretty: false, level, labels: { env: 'prod', component: 'backup' } });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('structured logs for Cloud Logging', () => {
  it('writes one JSON line per record with severity, message, time, fields and labels', () => {
    const { logger, records } = capture();
    logger.debug('d');
    logger.info({ backupId: '20261129T030000Z-7f3a', rows: 12 }, 'backup completed');
    logger.warn('w');
    logger.error('e');
    logger.fatal('f');
    const r = records();
    expect(r.map((x) => x.severity)).toEqual(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']);
    expect(r[1]).toMatchObject({ message: 'backup completed', backupId: '20261129T030000Z-7f3a', rows: 12, 'logging.googleapis.com/labels': { env: 'prod', component: 'backup' } });
    expect(new Date(String(r[1]!.time)).toISOString()).toBe(r[1]!.time);
    expect(r[1]).not.toHaveProperty('level');
  });

  it('filters by level', () => {
    const { logger, records } = capture('warn');
    logger.info('hidden');
    logger.warn('shown');
    expect(records().map((x) => x.message)).toEqual(['shown']);
  });
});

describe('redaction', () => {
  loadConfig({
    SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T01/B02/slackTokenValue123',
    PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0123456789abcdef',
    SMTP_PASSWORD: 'smtp-pass-Qw3rty',
    DATABASE_URL: 'postgres://ops:db-pass-Z9x8@db.internal:5432/missing_table',
  });
  const secrets = ['slackTokenValue123', 'R0UTINGKEY0123456789abcdef', 'smtp-pass-Qw3rty', 'db-pass-Z9x8', 'bearer-token-abc123', 'other-pw-77'];

  it('masks secrets in messages, fields, nested fields, errors and stacks', () => {
    registerUrlSecrets('postgres://x:other-pw-77@h/d');
    registerSecret('bearer-token-abc123');
    const { logger, lines } = capture();
    logger.info(`connecting to postgres://ops:db-pass-Z9x8@db.internal:5432/missing_table`);
    logger.info({ webhook: 'https://hooks.slack.com/services/T01/B02/slackTokenValue123' }, 'posting');
    logger.info({ request: { headers: { Authorization: 'Bearer bearer-token-abc123' } }, detail: { key: 'R0UTINGKEY0123456789abcdef' } }, 'pagerduty');
    logger.warn({ smtp: { user: 'ops', pass: 'smtp-pass-Qw3rty' } }, 'smtp');
    logger.error({ err: new Error('auth failed for postgres://x:other-pw-77@h/d with routing_key=R0UTINGKEY0123456789abcdef') }, 'failed');
    logger.info('Authorization: Bearer bearer-token-abc123');
    const all = lines.join('\n');
    for (const s of secrets) expect(all, s).not.toContain(s);
    expect(all).toContain('postgres://ops:***@db.internal:5432/missing_table');
    expect(lines).toHaveLength(6);
  });
});
