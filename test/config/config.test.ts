import { describe, it, expect } from 'vitest';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { runCli, runAsNobody, canDropPrivileges } from '../support/cli';
import { loadConfig } from '../../shared/config/load';
import { UsageError } from '../../shared/errors';
import { nextRuns } from '../../shared/infra/schedules';
import { unsetReferences } from '../../shared/probes/config';
import { runtimeFromEnvironment } from '../../shared/functions/runtime';

import { route } from '../../shared/alerts/route';
import type { Alert } from '../../shared/alerts/model';

const alertOf = (severity: Alert['severity']): Alert => ({
  fingerprint: 'f',
  status: 'firing',
  severity,
  title: 't',
  summary: '',
  labels: {},
  source: 'test',
  links: [],
  startsAt: '2026-11-29T03:00:00Z',
  env: 'local',
  details: {},
});

const dir = tempDir('mt-config-');
function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** The configuration error of loading as `check` (unsetReferences: as what runs the probes) loads. */
function configError(env: Record<string, string | undefined>, check?: typeof unsetReferences): UsageError {
  try {
    loadConfig(env, check ? { check } : {});
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
    ['critical routing', route(config.file.routing, alertOf('critical')), ['pagerduty', 'slack', 'email']],
    ['warning routing', route(config.file.routing, alertOf('warning')), ['slack', 'email']],
    ['slack channel', config.file.routing.slackChannel, '#alerts'],
    [
      'maintenance window',
      config.file.maintenance,
      [{ name: 'monthly', cron: '0 2 * * 0#1', durationMinutes: 120, timeZone: 'America/New_York' }],
    ],
    ['no probes named: the defaults apply at run time (shared/probes/config.ts)', config.file.probes, undefined],
    ['app base url', config.env.APP_BASE_URL, 'http://localhost:8000'],
    ['info routing', route(config.file.routing, alertOf('info')), ['digest']],
    ['reminders', config.file.routing.repeatIntervalHours, 4],
    ['log level', config.env.LOG_LEVEL, 'info'],
    ['port', config.env.PORT, 8080],
    ['no database', config.env.DATABASE_URL, undefined],
    ['no operator file', config.filePath, undefined],
    ['schedules come from infra/ unless overridden', config.file.schedules, {}],
  ])('%s', (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });
});

describe('the maintenance window', () => {
  it('is the first Sunday of each month, 02:00 New York time (not every Sunday, not days 1-7)', () => {
    const [window] = loadConfig({ OPS_CONFIG: undefined }).file.maintenance;
    const runs = nextRuns(window!, new Date('2026-11-29T00:00:00Z'), 6);
    expect(runs.map((d) => d.toISOString())).toEqual([
      '2026-12-06T07:00:00.000Z',
      '2027-01-03T07:00:00.000Z',
      '2027-02-07T07:00:00.000Z',
      '2027-03-07T07:00:00.000Z',
      '2027-04-04T06:00:00.000Z',
      '2027-05-02T06:00:00.000Z',
    ]);
  });
});

describe('environment variables', () => {
  it.each<[Record<string, string>, (c: ReturnType<typeof loadConfig>) => unknown, unknown]>([
    [{ BACKUP_BUCKET: 'gs://mt-backups/prod' }, (c) => c.env.BACKUP_BUCKET, 'gs://mt-backups/prod'],
    [{ BACKUP_BUCKET: 'file:///var/backups' }, (c) => c.env.BACKUP_BUCKET, 'file:///var/backups'],
    [{ OPS_ENV: 'prod' }, (c) => c.env.OPS_ENV, 'prod'],
    [{ OPS_ENV: '' }, (c) => c.env.OPS_ENV, 'local'],
    [{ PORT: '9090' }, (c) => c.env.PORT, 9090],
    [{ LOG_LEVEL: 'debug' }, (c) => c.env.LOG_LEVEL, 'debug'],
    [{ DATABASE_URL: 'postgresql://ops:pw@db:5432/mt' }, (c) => c.env.DATABASE_URL, 'postgresql://ops:pw@db:5432/mt'],
    [{ PUBSUB_EMULATOR_HOST: '127.0.0.1:8085' }, (c) => c.env.PUBSUB_EMULATOR_HOST, '127.0.0.1:8085'],
  ])('%j', (env, pick, expected) => {
    expect(pick(loadConfig({ OPS_CONFIG: undefined, ...env }))).toEqual(expected);
  });

  it.each([
    ['BACKUP_BUCKET', 's3://bucket', /^BACKUP_BUCKET: must be file:/],
    ['OPS_ENV', 'Prod Env', /^OPS_ENV: lowercase letters/],
    ['PORT', 'eighty', /^PORT: /],
    ['PORT', '70000', /^PORT: Too big/],
    ['LOG_LEVEL', 'loud', /^LOG_LEVEL: Invalid option/],
  ])('%s=%s is refused with its name', (name, value, issue) => {
    expect(configError({ OPS_CONFIG: undefined, [name]: value }).issues).toEqual([expect.stringMatching(issue)]);
  });
});

describe('operator files', () => {
  it('reads YAML', () => {
    const path = file(
      'ops.yaml',
      'backup:\n  jobs: 4\n  schemas: [public, auth]\nretention:\n  policy:\n    keepLast: 7\n',
    );
    const config = loadConfig({ OPS_CONFIG: path });
    expect(config.file.backup).toMatchObject({ jobs: 4, schemas: ['public', 'auth'] });
    expect(config.file.retention.policy).toEqual({ keepLast: 7 });
    expect(config.filePath).toBe(path);
  });

  it('reads JSON', () => {
    const path = file(
      'ops.json',
      JSON.stringify({ probes: [{ name: 'api', url: 'https://api.missingtable.com/health/full' }] }),
    );
    expect(loadConfig({ OPS_CONFIG: path }).file.probes?.targets?.[0]).toMatchObject({
      name: 'api',
      kind: 'http',
      method: 'GET',
      timeoutMs: 10_000,
    });
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

  it('reports every problem of a YAML file too, with paths into nested sections', () => {
    const path = file(
      'bad.yaml',
      [
        'backup:',
        '  excludeTables: [public.ok, not_qualified]',
        '  compresion: 3',
        'schedules:',
        '  backup: { cron: "every night" }',
        '  verify: { cron: "0 5 * * 1", timeZone: Mars/Olympus }',
        'maintenance:',
        '  - { name: m, cron: "0 2 * * 0", durationMinutes: 0 }',
        'routing:',
        '  routes: [{ matchers: ["severity = critical"], receivers: [pagerduty, sms] }]',
      ].join('\n'),
    );
    const issues = configError({ OPS_CONFIG: path }).issues.map((i) => i.slice(path.length + 2));
    // in the file's order (maintenance before routing), a problem of an object (a key it should not have) before its fields'
    expect(issues).toEqual([
      expect.stringMatching(/^backup: Unrecognized key: "compresion"/),
      'backup.excludeTables[1]: must be schema.table',
      'schedules.backup.cron: must be a valid cron expression (5 fields, or 6 with seconds)',
      'schedules.verify.timeZone: must be an IANA time zone',
      expect.stringMatching(/^maintenance\[0\]\.durationMinutes: Too small/),
      expect.stringMatching(/^routing\.routes\[0\]\.receivers\[1\]: Invalid option/),
    ]);
  });

  it('unknown keys are rejected at every level', () => {
    const path = file(
      'unknown.json',
      JSON.stringify({
        probez: [],
        probes: [{ name: 'a', url: 'http://x/', retries: 3 }],
        retention: { policy: { keepForever: true } },
      }),
    );
    const issues = configError({ OPS_CONFIG: path }).issues.join('\n');
    expect(issues).toMatch(/: Unrecognized key: "probez"/);
    expect(issues).toMatch(/: probes\[0\]: Unrecognized key: "retries"/);
    expect(issues).toMatch(/: retention\.policy: Unrecognized key: "keepForever"/);
  });

  it('an empty file means the defaults', () => {
    expect(loadConfig({ OPS_CONFIG: file('empty.yaml', '') }).file).toEqual(loadConfig({ OPS_CONFIG: undefined }).file);
  });

  it('an empty retention policy in the file is refused at load, with its path', () => {
    const err = configError({ OPS_CONFIG: file('empty-policy.yaml', 'retention:\n  policy: { keepLast: 0 }\n') });
    expect(err.issues.join('\n')).toMatch(/retention\.policy: empty retention policy/);
  });

  it('an OPS_CONFIG that names a missing file is an error; a missing default file is not', () => {
    expect(configError({ OPS_CONFIG: join(dir, 'nope.yaml') }).message).toMatch(/OPS_CONFIG: file not found/);
    expect(() => loadConfig({})).not.toThrow();
  });

  it("a probe's tls.caFile is found beside the operator file, whatever the working folder, and checked at load", () => {
    const folder = tempDir('mt-config-ca-');
    writeFileSync(join(folder, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n');
    const ops = join(folder, 'ops.yaml');
    const probe = (caFile: string) =>
      `probes:\n  - name: api\n    url: https://api.example.org/health\n    tls: { caFile: ${caFile} }\n`;
    writeFileSync(ops, probe('./ca.pem'));
    // the tests run elsewhere than `folder`: a path relative to the working folder would not be found
    const loaded = loadConfig({ OPS_CONFIG: ops });
    expect(loaded.file.probes!.targets![0]!.tls).toEqual({ caFile: join(folder, 'ca.pem') });
    // the path as written is kept too (deploy-commands copies the file beside the operator file's copy by it)
    expect(loaded.caFiles).toEqual([{ target: 0, written: './ca.pem', absolute: join(folder, 'ca.pem') }]);
    // what runs the probes refuses a missing one; what probes nothing loads the file, the problem kept for deploy-commands
    writeFileSync(ops, probe('./nope.pem'));
    const missing = `${ops}: probes[0].tls.caFile: no such file: ${join(folder, 'nope.pem')}`;
    expect(configError({ OPS_CONFIG: ops }, unsetReferences).issues).toEqual([missing]);
    expect(loadConfig({ OPS_CONFIG: ops }).caFileProblems).toEqual([missing]);
    writeFileSync(ops, `probes: { targets: [{ name: api, url: "https://x.example/", tls: { caFile: /nope.pem } }] }\n`);
    expect(configError({ OPS_CONFIG: ops }, unsetReferences).issues).toEqual([
      `${ops}: probes.targets[0].tls.caFile: no such file: /nope.pem`,
    ]);
  });

  it('a tls.caFile that is a folder is named a folder, not a missing file', () => {
    const folder = tempDir('mt-config-ca-dir-');
    mkdirSync(join(folder, 'certs'));
    const ops = join(folder, 'ops.yaml');
    writeFileSync(
      ops,
      `probes:\n  - name: api\n    url: https://api.example.org/health\n    tls: { caFile: ./certs }\n`,
    );
    expect(configError({ OPS_CONFIG: ops }, unsetReferences).issues).toEqual([
      `${ops}: probes[0].tls.caFile: a folder, not a file: ${join(folder, 'certs')}`,
    ]);
  });

  // root reads a file whatever its mode: the CLI runs as nobody, for the permission to be denied
  it.skipIf(!canDropPrivileges)(
    'a tls.caFile that cannot be read (mode 000) is refused at load as a missing one is, by what probes only',
    async () => {
      const folder = tempDir('mt-config-ca-mode-');
      chmodSync(folder, 0o755);
      const ca = join(folder, 'ca.pem');
      writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n', { mode: 0o000 });
      chmodSync(ca, 0o000);
      const ops = join(folder, 'ops.yaml');
      writeFileSync(
        ops,
        `probes:\n  - name: api\n    url: https://127.0.0.1:9/health\n    tls: { caFile: ./ca.pem }\n`,
      );
      chmodSync(ops, 0o644);
      const env = { OPS_CONFIG: ops, BACKUP_BUCKET: `file://${folder}/bucket`, OPS_ENV: 'local' };
      const issue = `${ops}: probes[0].tls.caFile: cannot be read (permission denied): ${ca}`;
      for (const args of [['probe'], ['config']]) {
        const cli = await runAsNobody(args, env);
        expect(cli.code, `${args.join(' ')}: ${cli.stderr}`).toBe(2);
        expect(cli.stderr, args.join(' ')).toContain(issue);
        expect(cli.stdout, args.join(' ')).toBe('');
      }
      const json = await runAsNobody(['config', '--json'], env);
      expect(json.code).toBe(2);
      expect(JSON.parse(json.stdout).issues).toEqual([issue]);
      const list = await runAsNobody(['list'], env);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stderr).not.toContain('caFile');
    },
  );

  it('a missing tls.caFile refuses only what probes (as an unset ${VAR} does): a backup, the alerts, uptime still run', async () => {
    const folder = tempDir('mt-config-ca-scope-');
    const ops = join(folder, 'ops.yaml');
    writeFileSync(
      ops,
      `probes:\n  - name: api\n    url: https://127.0.0.1:9/health\n    tls: { caFile: ./gone.pem }\n`,
    );
    const env = { OPS_CONFIG: ops, BACKUP_BUCKET: `file://${folder}/bucket`, OPS_ENV: 'local' };
    const issue = `probes[0].tls.caFile: no such file: ${join(folder, 'gone.pem')}`;
    for (const args of [['list'], ['alerts', 'status'], ['uptime']]) {
      const cli = await runCli(args, { env });
      expect(cli.code, `${args.join(' ')}: ${cli.stderr}`).toBe(0);
      expect(cli.stderr, args.join(' ')).not.toContain('caFile');
    }
    for (const args of [['probe'], ['config']]) {
      const cli = await runCli(args, { env });
      expect(cli.code, `${args.join(' ')}: ${cli.stderr}`).toBe(2);
      expect(cli.stderr, args.join(' ')).toContain(`${ops}: ${issue}`);
      expect(cli.stdout, args.join(' ')).toBe('');
    }
    // the probe function refuses to start; a function that runs no probe starts
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      expect(() => runtimeFromEnvironment('probe', { check: unsetReferences })()).toThrow(issue);
      expect(() => runtimeFromEnvironment('backup')()).not.toThrow();
    } finally {
      process.env = saved;
    }
  });

  it("a missing tls.caFile is reported beside the file's other problems, in one error (mt-ops config: exit 2)", async () => {
    const folder = tempDir('mt-config-ca-all-');
    const ops = join(folder, 'ops.json');
    writeFileSync(
      ops,
      JSON.stringify({
        backup: { jobs: 0 },
        probes: [
          { name: 'a', url: 'https://a.example/health', tls: { caFile: './gone.pem' } },
          { name: 'b', url: 'https://b.example/health', timeoutMs: 5 },
          // a probe with a problem of its own, and its CA file missing
          { name: 'c', url: 'https://c.example/health', tls: { caFile: './nope.pem' }, retries: 3 },
        ],
      }),
    );
    // in the file's order, whatever found them (the schema, the CA files' check)
    const issues = [
      'backup.jobs: Too small: expected number to be >=1',
      `probes[0].tls.caFile: no such file: ${join(folder, 'gone.pem')}`,
      expect.stringMatching(/^probes\[1\]\.timeoutMs: Too small/),
      'probes[2]: Unrecognized key: "retries"',
      `probes[2].tls.caFile: no such file: ${join(folder, 'nope.pem')}`,
    ];
    expect(configError({ OPS_CONFIG: ops }, unsetReferences).issues.map((i) => i.slice(ops.length + 2))).toEqual(
      issues,
    );
    // the same in the { concurrency, targets } form, in YAML: the paths as written
    const yaml = join(folder, 'ops.yaml');
    writeFileSync(
      yaml,
      'probes:\n  concurrency: 0\n  targets:\n    - { name: a, url: "https://a.example/", tls: { caFile: ./nope.pem } }\n',
    );
    expect(configError({ OPS_CONFIG: yaml }, unsetReferences).issues.map((i) => i.slice(yaml.length + 2))).toEqual([
      expect.stringMatching(/^probes\.concurrency: Too small/),
      `probes.targets[0].tls.caFile: no such file: ${join(folder, 'nope.pem')}`,
    ]);

    const cli = await runCli(['config'], { env: { OPS_CONFIG: ops, BACKUP_BUCKET: `file://${folder}/bucket` } });
    expect(cli.code, cli.stderr).toBe(2);
    expect(cli.stdout).toBe('');
    expect(cli.stderr.match(/invalid configuration/g)).toHaveLength(1);
    expect(
      cli.stderr
        .split('\n')
        .filter((l) => l.startsWith(`  ${ops}: `))
        .map((l) => l.slice(ops.length + 4)),
    ).toEqual(issues);
  });

  it('every problem of the operator file is listed in the order of its field in the file, whatever found it', () => {
    const folder = tempDir('mt-config-order-');
    const ops = join(folder, 'ops.yaml');
    const gone = (name: string) => `no such file: ${join(folder, name)}`;
    const issuesOf = () => configError({ OPS_CONFIG: ops }, unsetReferences).issues.map((i) => i.slice(ops.length + 2));
    // a file that passes the schema: an unset ${VAR} of the first probe before the CA file of the second
    writeFileSync(
      ops,
      'probes:\n' +
        '  - { name: a, url: "https://a.example/${MT_T_UNSET}" }\n' +
        '  - { name: b, url: "https://b.example/", tls: { caFile: ./b.pem } }\n' +
        '  - { name: c, url: "https://c.example/${MT_T_UNSET}", tls: { caFile: ./c.pem } }\n',
    );
    expect(issuesOf()).toEqual([
      'probes[0].url: names ${MT_T_UNSET}, which is not set',
      `probes[1].tls.caFile: ${gone('b.pem')}`,
      'probes[2].url: names ${MT_T_UNSET}, which is not set',
      `probes[2].tls.caFile: ${gone('c.pem')}`,
    ]);
    // one that does not: the sections as the file has them (probes, then backup), a field missing (no name) after the
    // probe's others, a key the file lacks after those it has
    writeFileSync(
      ops,
      'probes:\n' +
        '  - { name: a, url: "https://a.example/", tls: { caFile: ./a.pem } }\n' +
        '  - { url: "https://b.example/", timeoutMs: 5, tls: { caFile: ./b.pem } }\n' +
        'backup: { jobs: 0 }\n',
    );
    expect(issuesOf()).toEqual([
      `probes[0].tls.caFile: ${gone('a.pem')}`,
      expect.stringMatching(/^probes\[1\]\.timeoutMs: Too small/),
      `probes[1].tls.caFile: ${gone('b.pem')}`,
      expect.stringMatching(/^probes\[1\]\.name: /),
      'backup.jobs: Too small: expected number to be >=1',
    ]);
  });

  it('a device or a directory named by mistake is refused at once, never read without end', () => {
    expect(configError({ OPS_CONFIG: '/dev/zero' }).issues).toEqual(['/dev/zero: not a regular file']);
    expect(configError({ OPS_CONFIG: dir }).issues).toEqual([`${dir}: not a regular file`]);
  });

  it('a file that does not parse says so', () => {
    expect(configError({ OPS_CONFIG: file('broken.json', '{"backup": ') }).message).toMatch(/not valid JSON/);
  });

  it('a .json file that does not parse: one line with the line and column, no excerpt of the file', () => {
    const yaml = configError({ OPS_CONFIG: file('yaml.json', 'probes:\n  - name: x\n') });
    expect(yaml.issues).toEqual([
      `${dir}/yaml.json: not valid JSON: Unexpected token 'p' at line 1, column 1 (YAML? an operator file named .json must be JSON: name it .yaml or .yml)`,
    ]);
    const comma = configError({ OPS_CONFIG: file('comma.json', '{\n  "backup": { "jobs": 2, }\n}') });
    expect(comma.issues).toEqual([
      `${dir}/comma.json: not valid JSON: Expected double-quoted property name at line 2, column 26`,
    ]);
  });

  it("a YAML file that does not parse: one line with the line and column, not the parser's excerpt of the file", () => {
    const err = configError({ OPS_CONFIG: file('broken.yaml', 'retention:\n  minKeep: 3\nprobes: [\n') });
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]).not.toContain('\n');
    expect(err.issues[0]).toMatch(/broken\.yaml: .* at line \d+, column \d+$/);
  });
});

describe('secrets never appear in configuration errors', () => {
  it.each([
    ['DATABASE_URL', 'mysql://admin:Sup3rS3cret!@db/x', 'Sup3rS3cret!'],
    ['SLACK_WEBHOOK_URL', 'hooks.slack.com/services/T000/B000/XyZsecretTOKEN', 'XyZsecretTOKEN'],
    ['VERIFY_DATABASE_URL', 'not-a-url-with-pw-Hunter22', 'Hunter22'],
    ['DATABASE_URL', 'postgres//admin:NoScheme77@db:5432/mt', 'NoScheme77'],
    ['DATABASE_URL', 'mysql://admin:p%40ss%2Fword9@db/x', 'p@ss/word9'],
    ['SLACK_WEBHOOK_URL', 'https//hooks.slack.com/services/T1/B1/brokenScheme42', 'brokenScheme42'],
    ['SLACK_WEBHOOK_URL', 'T1/B1/justTheToken55', 'justTheToken55'],
  ])('%s', (name, value, secret) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain(name);
    expect(err.message).not.toContain(secret);
    expect(err.issues.join('\n')).not.toContain(secret);
  });
});

describe('secrets in an operator file never appear in its errors', () => {
  it('a parse error quoting a credentialed URL', () => {
    for (const [name, text] of [
      ['leak.json', '{"probes": [{"name": "db", "url": "postgres://ops:FileSecret88@db/x"} oops'],
      ['leak2.json', 'postgres://ops:FileSecret88@db/x'],
      ['leak.yaml', 'url: https://ops:FileSecret88@db/x\n  - x: ['],
      ['leak.conf', '{"probes": [{"name": "db", "url": "postgres://ops:FileSecret88@db/x"} oops'],
    ] as const) {
      const err = configError({ OPS_CONFIG: file(name, text) });
      expect(err.issues, name).toHaveLength(1);
      expect(err.message, name).not.toContain('FileSecret88');
    }
  });
});

describe('the operator file found by its name when OPS_CONFIG is unset', () => {
  const yaml = 'probes:\n  targets:\n    - name: from-yaml\n      url: http://127.0.0.1:9/health\n';
  it.each(['ops.config.yaml', 'ops.config.yml'])(
    '%s in the working folder is read (the name says YAML)',
    async (name) => {
      const dir = tempDir('mt-config-default-');
      writeFileSync(join(dir, name), yaml);
      const cli = await runCli(['config', '--json'], { env: { OPS_CONFIG: undefined }, cwd: dir });
      expect(cli.code).toBe(0);
      const shown = JSON.parse(cli.stdout) as { file: string };
      expect(shown.file).toBe(join(dir, name));
      expect(cli.stdout).toContain('from-yaml');
    },
  );

  it('two of them is a question for the operator: exit 2, naming both', async () => {
    const dir = tempDir('mt-config-default-');
    writeFileSync(join(dir, 'ops.config.json'), '{}');
    writeFileSync(join(dir, 'ops.config.yaml'), yaml);
    const cli = await runCli(['config'], { env: { OPS_CONFIG: undefined }, cwd: dir });
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain(
      'OPS_CONFIG: ./ops.config.json and ./ops.config.yaml are both here: set OPS_CONFIG to the one to use',
    );
  });

  it('none of them: the defaults', async () => {
    const cli = await runCli(['config', '--json'], {
      env: { OPS_CONFIG: undefined },
      cwd: tempDir('mt-config-default-'),
    });
    expect(cli.code).toBe(0);
    expect((JSON.parse(cli.stdout) as { file: string }).file).toBe('(defaults)');
  });
});
