import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { loadConfig } from '../../shared/config/load';
import { UsageError } from '../../shared/errors';

const dir = tempDir('mt-config-');
function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function configError(env: Record<string, string>): UsageError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error('expected a configuration error');
}

describe('configuration defaults encode Missing Table operations facts', () => {
  const config = loadConfig({ OPS_CONFIG: undefined });
  it.each([
    ['bucket', config.env.BACKUP_BUCKET, 'file://./backups'],
    ['environment', config.env.OPS_ENV, 'local'],
    ['retention', config.file.retention.policy, { keepWithinDays: 30, keepMonthly: 12 }],
    ['minimum kept', config.file.retention.minKeep, 3],
    ['critical routing', config.file.routing.critical, ['pagerduty', 'slack', 'email']],
    ['warning routing', config.file.routing.warning, ['slack', 'email']],
    ['slack channel', config.file.routing.slackChannel, '#alerts'],
    ['maintenance window', config.file.maintenance[0], { name: 'monthly', cron: '0 2 1-7 * 0', durationMinutes: 120, timeZone: 'America/New_York' }],
    ['schedules come from infra/ unless overridden', config.file.schedules, {}],
  ])('%s', (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

describe('operator files', () => {
  it('reads YAML', () => {
    const path = file('ops.yaml', 'backup:\n  jobs: 4\n  schemas: [public, auth]\nretention:\n  policy:\n    keepLast: 7\n');
    const config = loadConfig({ OPS_CONFIG: path });
    expect(config.file.backup).toMatchObject({ jobs: 4, schemas: ['public', 'auth'] });
    expect(config.file.retention.policy).toEqual({ keepLast: 7 });
    expect(config.filePath).toBe(path);
  });

  it('reads JSON', () => {
    const path = file('ops.json', JSON.stringify({ probes: [{ name: 'api', url: 'https://api.missingtable.com/health/full' }] }));
    expect(loadConfig({ OPS_CONFIG: path }).file.probes[0]).toMatchObject({ name: 'api', method: 'GET', timeoutMs: 5000 });
  });

  it('reports every problem at once, each with its path', () => {
    const path = file(
      'bad.json',
      JSON.stringify({
        probes: [
          { name: 'a', url: 'http://localhost:8000/health' },
          { name: 'b', url: 'http://localhost:8000/health/full' },
          { name: 'c', url: 'not a url' },
        ],
        backup: { jobs: 0 },
        retention: { policy: { keepLast: -1 } },
        typo: true,
      }),
    );
    const err = configError({ OPS_CONFIG: path, OPS_ENV: 'Bad Env' });
    const issues = err.issues.join('\n');
    expect(issues).toMatch(/probes\[2\]\.url: Invalid URL/);
    expect(issues).toMatch(/backup\.jobs: /);
    expect(issues).toMatch(/retention\.policy\.keepLast: /);
    expect(issues).toMatch(/Unrecognized key.*typo/);
    expect(issues).toMatch(/^OPS_ENV: /m);
    expect(err.issues.length).toBeGreaterThanOrEqual(5);
  });

  it('an OPS_CONFIG that names a missing file is an error; a missing default file is not', () => {
    expect(configError({ OPS_CONFIG: join(dir, 'nope.yaml') }).message).toMatch(/OPS_CONFIG: file not found/);
    expect(() => loadConfig({})).not.toThrow();
  });

  it('a file that does not parse says so', () => {
    expect(configError({ OPS_CONFIG: file('broken.json', '{"backup": ') }).message).toMatch(/not valid JSON/);
  });
});

describe('secrets never appear in configuration errors', () => {
  it.each([
    ['DATABASE_URL', 'mysql://admin:Sup3rS3cret!@db/x', 'Sup3rS3cret!'],
    ['SLACK_WEBHOOK_URL', 'hooks.slack.com/services/T000/B000/XyZsecretTOKEN', 'XyZsecretTOKEN'],
    ['VERIFY_DATABASE_URL', 'not-a-url-with-pw-Hunter22', 'Hunter22'],
  ])('%s', (name, value, secret) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain(name);
    expect(err.message).not.toContain(secret);
    expect(err.issues.join('\n')).not.toContain(secret);
  });
});
