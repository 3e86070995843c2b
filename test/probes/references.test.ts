/**
 * A probe naming a `${VAR}` that is not set is a configuration error: refused at load by whatever runs the probes (the
 * CLI, the probe function, `npm start`, `mt-ops config`: exit 2 with the field path), and, if the environment changes
 * under a running instance, a run-time configuration error that records no sample and pages no one.
 */
import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { probeJob } from '../../shared/probes/job';
import { readState } from '../../shared/probes/plan';
import { runtimeFromEnvironment } from '../../shared/functions/runtime';
import { UsageError } from '../../shared/errors';
import { ProbeSchema, defaultProbes, unsetReferences } from '../../shared/probes/config';
import { configuredProbes } from '../../shared/probes/job';
import { runProbes } from '../../shared/probes/run';
import { createTestDatabase } from '../support/database';

/** A run of probe `api` in env `prod` that finds its configuration bad: `message`, no alert, no sample recorded. */
async function expectRefusedAtRun(rt: ReturnType<typeof testRuntime>, message: string): Promise<void> {
  const { run } = await probeJob(rt, { all: true, only: ['api'] });
  expect(run.outcomes.map((o) => o.configError)).toEqual([message]);
  expect(rt.bus.published).toHaveLength(0);
  const { state } = await readState(rt.store, 'prod', 'api', new Date().toISOString());
  expect(state.samples).toBe(0);
}

const file = {
  probes: [
    { name: 'ok', url: 'http://127.0.0.1:9/health' },
    {
      name: 'api',
      url: 'http://127.0.0.1:9/${MT_TEST_UNSET_TOKEN}',
      headers: { Authorization: 'Bearer ${MT_TEST_UNSET_TOKEN}' },
      failureThreshold: 1,
    },
  ],
};

function operatorFile(): { dir: string; path: string } {
  const dir = tempDir('mt-probe-ref-');
  const path = join(dir, 'ops.json');
  writeFileSync(path, JSON.stringify(file));
  return { dir, path };
}

describe('a probe naming an unset ${VAR}', () => {
  it.each([['probe'], ['config']])(
    'mt-ops %s refuses it: exit 2, one line per reference with the field path',
    async (cmd) => {
      const { dir, path } = operatorFile();
      const cli = await runCli([cmd], {
        env: { OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket`, MT_TEST_UNSET_TOKEN: undefined },
      });
      expect(cli.code, cli.stderr).toBe(2);
      expect(cli.stderr).toContain('probes[1].url: names ${MT_TEST_UNSET_TOKEN}, which is not set');
      expect(cli.stderr).toContain('probes[1].headers.Authorization: names ${MT_TEST_UNSET_TOKEN}, which is not set');
      expect(cli.stdout).toBe('');
    },
  );

  it('the probe function refuses to start; a function that runs no probe does not care', () => {
    const { dir, path } = operatorFile();
    const saved = { ...process.env };
    Object.assign(process.env, { OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket` });
    delete process.env.MT_TEST_UNSET_TOKEN;
    try {
      expect(() => runtimeFromEnvironment('probe', { check: unsetReferences })()).toThrow(UsageError);
      expect(() => runtimeFromEnvironment('probe', { check: unsetReferences })()).toThrow(
        /probes\[1\]\.url: names \$\{MT_TEST_UNSET_TOKEN\}, which is not set/,
      );
      expect(() => runtimeFromEnvironment('backup')()).not.toThrow();
    } finally {
      process.env = saved;
    }
  });

  it('at run time (the environment changed): a configuration error, logged in one line, no sample, no alert', async () => {
    const { dir, path } = operatorFile();
    const rt = testRuntime({ OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket`, OPS_ENV: 'prod' });
    const { run } = await probeJob(rt, { all: true, only: ['api'] });
    expect(run.outcomes).toHaveLength(1);
    expect(run.outcomes[0]!.configError).toBe(
      'configuration error in probe api: url names ${MT_TEST_UNSET_TOKEN}, which is not set; headers.Authorization names ${MT_TEST_UNSET_TOKEN}, which is not set',
    );
    expect(rt.bus.published).toHaveLength(0);
    const lines = rt.logs.filter((l) => l.includes('configuration error in probe api'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).severity ?? JSON.parse(lines[0]!).level).toBeTruthy();
    const { state } = await readState(rt.store, 'prod', 'api', new Date().toISOString());
    expect(state.samples).toBe(0);
    expect(state.incident).toBeUndefined();
  });
});

describe('a reference mistyped (lower case, spaces, unclosed)', () => {
  it.each([['probe'], ['config']])(
    'mt-ops %s refuses it with the field path and the reference as written (it would be sent as written)',
    async (cmd) => {
      const dir = tempDir('mt-probe-ref-typo-');
      const path = join(dir, 'ops.yaml');
      writeFileSync(
        path,
        [
          'probes:',
          '  - name: api',
          '    url: "http://127.0.0.1:9/${api_path}"',
          '    method: POST',
          '    body: \'{"k": "${ MT_TEST_SET_TOKEN }"}\'',
          '    headers:',
          '      Authorization: "Bearer ${MT_TEST_SET_TOKEN"',
          '      X-Ok: "${MT_TEST_SET_TOKEN}"',
        ].join('\n'),
      );
      const cli = await runCli([cmd], {
        env: { OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket`, MT_TEST_SET_TOKEN: 'set-token-value' },
      });
      expect(cli.code, cli.stderr).toBe(2);
      const why = 'is not a reference to an environment variable (${NAME}, NAME of capitals, digits and _)';
      expect(cli.stderr).toContain(`probes[0].url: "\${api_path}" ${why}`);
      expect(cli.stderr).toContain(`probes[0].headers.Authorization: "\${MT_TEST_SET_TOKEN" ${why}`);
      expect(cli.stderr).toContain(`probes[0].body: "\${ MT_TEST_SET_TOKEN }" ${why}`);
      expect(cli.stderr).not.toContain('X-Ok');
      expect(cli.stderr).not.toContain('set-token-value');
      expect(cli.stdout).toBe('');
    },
  );
});

describe('a header or url that could never be sent (the probe would fail, and page, at every run)', () => {
  it.each([['probe'], ['config']])(
    'mt-ops %s refuses it at load with the field path, the value not shown',
    async (cmd) => {
      const dir = tempDir('mt-probe-ref-unsendable-');
      const path = join(dir, 'ops.yaml');
      writeFileSync(
        path,
        [
          'probes:',
          '  - name: api',
          '    url: "http://127.0.0.1:9/health"',
          '    headers:',
          '      Authorization: "Bearer ${MT_TEST_EURO_TOKEN}"',
          '      X-Literal: "price \\u20ac"',
          '      "X Spaced": "v"',
          '      X-Latin1: "tökén ${MT_TEST_LATIN1_TOKEN}"',
          '  - { name: target, url: "${MT_TEST_TARGET_URL}" }',
          '  - { name: ftp, url: "${MT_TEST_FTP_URL}" }',
        ].join('\n'),
      );
      const cli = await runCli([cmd], {
        env: {
          OPS_CONFIG: path,
          BACKUP_BUCKET: `file://${dir}/bucket`,
          MT_TEST_EURO_TOKEN: 'euro-token-€',
          MT_TEST_LATIN1_TOKEN: 'ünï-ok',
          MT_TEST_TARGET_URL: 'not a url',
          MT_TEST_FTP_URL: 'ftp://127.0.0.1/x',
        },
      });
      expect(cli.code, cli.stderr).toBe(2);
      const why = 'a character not allowed in a header (a control character, or one beyond Latin-1)';
      const issues = cli.stderr
        .split('\n')
        .filter((l) => l.startsWith(`  ${path}: `))
        .map((l) => l.slice(path.length + 4));
      expect(issues).toEqual([
        `probes[0].headers.Authorization: names \${MT_TEST_EURO_TOKEN}, whose value holds ${why}`,
        `probes[0].headers.X-Literal: holds ${why}`,
        "probes[0].headers.X Spaced: not a header name (letters, digits and !#$%&'*+-.^_`|~)",
        'probes[1].url: is not a valid URL once its variables are replaced (http:// or https://)',
        'probes[2].url: is not a valid URL once its variables are replaced (http:// or https://)',
      ]);
      expect(cli.stderr).not.toContain('euro-token');
      expect(cli.stdout).toBe('');
    },
  );

  it('at run time (the environment changed): a configuration error, no sample, no alert', async () => {
    const dir = tempDir('mt-probe-ref-unsendable-rt-');
    const path = join(dir, 'ops.json');
    writeFileSync(
      path,
      JSON.stringify({
        probes: [{ name: 'api', url: 'http://127.0.0.1:9/', headers: { 'X-Key': '${MT_TEST_CTRL_TOKEN}' } }],
      }),
    );
    process.env.MT_TEST_CTRL_TOKEN = 'ok-value';
    const rt = testRuntime({ OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket`, OPS_ENV: 'prod' });
    process.env.MT_TEST_CTRL_TOKEN = 'abc\u0001def';
    try {
      await expectRefusedAtRun(
        rt,
        'configuration error in probe api: headers.X-Key holds a character not allowed in a header (a control character, or one beyond Latin-1) once its variables are replaced',
      );
    } finally {
      delete process.env.MT_TEST_CTRL_TOKEN;
    }
  });
});

describe('a ${VAR} in a header whose value holds a line break', () => {
  const crlf = {
    probes: [
      { name: 'ok', url: 'http://127.0.0.1:9/health' },
      { name: 'api', url: 'http://127.0.0.1:9/health', headers: { Authorization: 'Bearer ${MT_TEST_CRLF_TOKEN}' } },
    ],
  };
  const env = (dir: string, path: string) => ({
    OPS_CONFIG: path,
    BACKUP_BUCKET: `file://${dir}/bucket`,
    MT_TEST_CRLF_TOKEN: 'abc123\r\nX-Injected: 1',
  });
  function crlfFile(): { dir: string; path: string } {
    const dir = tempDir('mt-probe-crlf-');
    const path = join(dir, 'ops.json');
    writeFileSync(path, JSON.stringify(crlf));
    return { dir, path };
  }

  it.each([['probe'], ['config']])(
    'mt-ops %s refuses it: exit 2 with the field path, the value not shown',
    async (cmd) => {
      const { dir, path } = crlfFile();
      const cli = await runCli([cmd], { env: env(dir, path) });
      expect(cli.code, cli.stderr).toBe(2);
      expect(cli.stderr).toContain(
        'probes[1].headers.Authorization: names ${MT_TEST_CRLF_TOKEN}, whose value holds a line break (not allowed in a header)',
      );
      expect(cli.stderr).not.toContain('abc123');
      expect(cli.stdout).toBe('');
    },
  );

  it('at run time (the environment changed): a configuration error, no sample, no alert', async () => {
    const { dir, path } = crlfFile();
    const rt = testRuntime({ OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket`, OPS_ENV: 'prod' });
    process.env.MT_TEST_CRLF_TOKEN = 'abc123\r\nX-Injected: 1';
    try {
      await expectRefusedAtRun(
        rt,
        'configuration error in probe api: headers.Authorization holds a line break once its variables are replaced',
      );
    } finally {
      delete process.env.MT_TEST_CRLF_TOKEN;
    }
  });
});

describe('a postgres probe with no url while DATABASE_URL is not set', () => {
  const pgFile = { probes: [{ name: 'pgnourl', kind: 'postgres' }] };
  const issue = 'probes[0].url: not given, so the postgres probe uses ${DATABASE_URL}, which is not set';
  function pgOperatorFile(): { dir: string; path: string } {
    const dir = tempDir('mt-probe-pg-ref-');
    const path = join(dir, 'ops.json');
    writeFileSync(path, JSON.stringify(pgFile));
    return { dir, path };
  }

  it.each([['probe'], ['config']])('mt-ops %s refuses it: exit 2 with the field path', async (cmd) => {
    const { dir, path } = pgOperatorFile();
    const cli = await runCli([cmd], {
      env: { OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket`, DATABASE_URL: undefined },
    });
    expect(cli.code, cli.stderr).toBe(2);
    expect(cli.stderr).toContain(issue);
    expect(cli.stdout).toBe('');
  });

  it('the probe function refuses to start; with DATABASE_URL set it starts and the probe connects', async () => {
    const { dir, path } = pgOperatorFile();
    const saved = { ...process.env };
    Object.assign(process.env, { OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket` });
    delete process.env.DATABASE_URL;
    try {
      expect(() => runtimeFromEnvironment('probe', { check: unsetReferences })()).toThrow(issue);
    } finally {
      process.env = saved;
    }
    const db = await createTestDatabase();
    Object.assign(process.env, { OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket`, DATABASE_URL: db.url });
    try {
      expect(() => runtimeFromEnvironment('probe', { check: unsetReferences })()).not.toThrow();
    } finally {
      process.env = saved;
    }
    {
      const rt = testRuntime({ OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket`, DATABASE_URL: db.url });
      expect(unsetReferences(rt.config.file, pgFile, { DATABASE_URL: db.url })).toEqual([]);
      const run = await runProbes(rt.store, 'prod', configuredProbes(rt.config), {
        all: true,
        environment: { DATABASE_URL: db.url },
      });
      expect(run.outcomes.map((o) => [o.name, o.result.ok, o.result.error, o.configError])).toEqual([
        ['pgnourl', true, undefined, undefined],
      ]);
    }
  });

  it('at run time (DATABASE_URL gone since the load): a configuration error, no sample, no alert, however often', async () => {
    const { dir, path } = pgOperatorFile();
    const rt = testRuntime({ OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket`, OPS_ENV: 'prod' });
    const probes = configuredProbes(rt.config);
    for (let i = 0; i < 4; i++) {
      const run = await runProbes(rt.store, 'prod', probes, { all: true, environment: {} });
      expect(run.outcomes.map((o) => o.configError)).toEqual([
        'configuration error in probe pgnourl: url not given, so the postgres probe uses ${DATABASE_URL}, which is not set',
      ]);
      expect(run.outcomes[0]!.status).toBeUndefined();
      expect(run.outcomes[0]!.transition).toBeUndefined();
    }
    const { state } = await readState(rt.store, 'prod', 'pgnourl', new Date().toISOString());
    expect(state.samples).toBe(0);
    expect(state.incident).toBeUndefined();
  });
});

/** `mt-ops CMD` on the operator file at `path` with DATABASE_URL and the test's variable unset: exit 2, nothing on stdout; its issues. */
async function refused(cmd: string, dir: string, path: string): Promise<string[]> {
  const cli = await runCli([cmd], {
    env: {
      OPS_CONFIG: path,
      BACKUP_BUCKET: `file://${dir}/bucket`,
      DATABASE_URL: undefined,
      MT_TEST_NOPE_VAR: undefined,
    },
  });
  expect(cli.code, cli.stderr).toBe(2);
  expect(cli.stdout).toBe('');
  return cli.stderr
    .split('\n')
    .filter((l) => l.startsWith(`  ${path}: `))
    .map((l) => l.slice(path.length + 4));
}

describe('every configuration problem at once: unset references beside schema and condition errors', () => {
  it.each([['config'], ['probe']])(
    'mt-ops %s lists them all in one run (exit 2), a probe with errors of its own included',
    async (cmd) => {
      const dir = tempDir('mt-probe-ref-all-');
      const path = join(dir, 'ops.json');
      writeFileSync(
        path,
        JSON.stringify({
          backup: { jobs: 0 },
          probes: [
            { name: 'api', url: 'http://127.0.0.1:9/${MT_TEST_NOPE_VAR}' },
            { name: 'pg', kind: 'postgres' },
            { name: 'cond', url: 'http://127.0.0.1:9/', conditions: ['[STATUS] === 200'] },
            { name: 'both', url: 'http://127.0.0.1:9/', headers: { 'X-Key': '${MT_TEST_NOPE_VAR}' }, timeoutMs: 5 },
          ],
        }),
      );
      const issues = await refused(cmd, dir, path);
      // in the file's order, whichever check found them
      expect(issues).toEqual([
        'backup.jobs: Too small: expected number to be >=1',
        'probes[0].url: names ${MT_TEST_NOPE_VAR}, which is not set',
        'probes[1].url: not given, so the postgres probe uses ${DATABASE_URL}, which is not set',
        expect.stringMatching(/^probes\[2\]\.conditions\[0\]: invalid condition "\[STATUS\] === 200"/),
        'probes[3].headers.X-Key: names ${MT_TEST_NOPE_VAR}, which is not set',
        expect.stringMatching(/^probes\[3\]\.timeoutMs: /),
      ]);
    },
  );

  it("a probe's bad URL, a timeout beyond its interval and a duplicate name, beside a bad severity or a field of the wrong type", async () => {
    const dir = tempDir('mt-probe-ref-all-refine-');
    const path = join(dir, 'ops.yaml');
    writeFileSync(
      path,
      [
        'probes:',
        '  - { name: a, url: "not a url", severity: urgent }',
        '  - { name: a, url: "http://127.0.0.1:9/", method: FETCH }',
        '  - { name: b, kind: postgres, url: "mysql://x", labels: 5 }',
        '  - { name: c, url: "http://127.0.0.1:9/", timeoutMs: 30000, intervalSeconds: 10, slo: 1 }',
        '  - 7',
      ].join('\n'),
    );
    expect(await refused('config', dir, path)).toEqual([
      'probes[0].url: Invalid URL: must be http:// or https://',
      'probes[0].severity: Invalid option: expected one of "critical"|"warning"|"info"',
      'probes[1].name: duplicate probe name a',
      expect.stringMatching(/^probes\[1\]\.method: Invalid option/),
      'probes[2].url: must be a postgres:// URL or ${DATABASE_URL}',
      expect.stringMatching(/^probes\[2\]\.labels: Invalid input/),
      'probes[3].timeoutMs: must be at most intervalSeconds x 1000 (10000 here)',
      expect.stringMatching(/^probes\[3\]\.slo: Invalid input/),
      'probes[4]: Invalid input: expected object, received number',
    ]);
  });

  it('the { concurrency, targets } form, in YAML: the paths as written', async () => {
    const dir = tempDir('mt-probe-ref-all-yaml-');
    const path = join(dir, 'ops.yaml');
    writeFileSync(
      path,
      [
        'probes:',
        '  concurrency: 0',
        '  targets:',
        '    - { name: api, url: "http://127.0.0.1:9/", body: "${MT_TEST_NOPE_VAR}", method: POST }',
        '    - just text',
        '    - { name: pg, kind: postgres, url: 5 }',
        '    - { name: pg2, kind: postgres }',
      ].join('\n'),
    );
    const issues = await refused('config', dir, path);
    expect(issues.filter((i) => /not set/.test(i))).toEqual([
      'probes.targets[0].body: names ${MT_TEST_NOPE_VAR}, which is not set',
      'probes.targets[3].url: not given, so the postgres probe uses ${DATABASE_URL}, which is not set',
    ]);
    expect(issues.some((i) => i.startsWith('probes.concurrency: '))).toBe(true);
    expect(issues.some((i) => i.startsWith('probes.targets[1]'))).toBe(true);
    expect(issues.some((i) => i.startsWith('probes.targets[2].url'))).toBe(true);
  });
});

describe('timeoutMs and intervalSeconds', () => {
  it('a timeout longer than the interval is refused at load with the field path (exit 2); equal is fine', async () => {
    const dir = tempDir('mt-probe-timeout-');
    const path = join(dir, 'ops.json');
    writeFileSync(
      path,
      JSON.stringify({
        probes: [
          { name: 'long', url: 'http://127.0.0.1:9/', timeoutMs: 50_000, intervalSeconds: 10 },
          { name: 'equal', url: 'http://127.0.0.1:9/', timeoutMs: 10_000, intervalSeconds: 10 },
          { name: 'default-timeout', url: 'http://127.0.0.1:9/', intervalSeconds: 10 },
        ],
      }),
    );
    const cli = await runCli(['config'], { env: { OPS_CONFIG: path, BACKUP_BUCKET: `file://${dir}/bucket` } });
    expect(cli.code, cli.stderr).toBe(2);
    expect(cli.stderr).toBe(
      `mt-ops: invalid configuration:\n  ${path}: probes[0].timeoutMs: must be at most intervalSeconds x 1000 (10000 here)\n`,
    );
  });

  it('the defaults stay valid: the default timeout fits the shortest interval, and the default probes parse', () => {
    expect(ProbeSchema.safeParse({ name: 'a', url: 'http://x/', intervalSeconds: 10 }).success).toBe(true);
    expect(ProbeSchema.safeParse({ name: 'a', url: 'http://x/', timeoutMs: 60_000 }).success).toBe(true);
    expect(
      ProbeSchema.safeParse({ name: 'a', url: 'http://x/', timeoutMs: 60_001, intervalSeconds: 120 }).success,
    ).toBe(false);
    expect(defaultProbes({ DATABASE_URL: 'postgres://x@127.0.0.1/db' }).map((p) => p.name)).toEqual([
      'api-health',
      'api-health-full',
      'database',
      'backup-freshness',
    ]);
    expect(defaultProbes({}).map((p) => p.name)).not.toContain('database');
  });
});
