import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('mt-ops CLI', () => {
  it('prints help and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: mt-ops');
    for (const command of ['backup', 'list', 'verify', 'restore', 'export', 'cleanup', 'config'])
      expect(r.stdout).toContain(command);
  });

  it('runs through npx from the project, with no build step', () => {
    const r = spawnSync('npx', ['--offline', 'mt-ops', '--version'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(`${root}/package.json`, 'utf8')).version);
  });

  it.each(['backup', 'list', 'verify', 'restore', 'export', 'cleanup', 'config'])(
    'every subcommand has --help: %s',
    async (command) => {
      const r = await runCli([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: mt-ops ${command}`);
    },
  );

  it('rejects an unknown flag with exit 2 and a one-line reason', async () => {
    const r = await runCli(['--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain("unknown option '--no-such-flag'");
  });

  it('rejects an unknown command with exit 2', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});

describe('--bucket and --env are checked on every command that works on the bucket', () => {
  it.each(['backup', 'list', 'verify', 'restore', 'cleanup'])('%s', async (command) => {
    const env = await runCli([command, '--env', 'prod/../staging']);
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/--env/);
    const bucket = await runCli([command, '--bucket', 's3://elsewhere']);
    expect(bucket.code).toBe(2);
    expect(bucket.stderr).toMatch(/--bucket/);
  });
});

describe('mt-ops config', () => {
  const env = {
    SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/hookSecret123',
    DATABASE_URL: 'postgres://ops:dbSecret456@db/mt',
    OPS_CONFIG: '',
  };

  it('prints the validated configuration as YAML, secrets masked', async () => {
    const r = await runCli(['config'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^env:$/m);
    expect(r.stdout).toMatch(/^ {2}OPS_ENV: local$/m);
    expect(r.stdout).not.toMatch(/hookSecret123|dbSecret456/);
  });

  it('--json prints JSON, secrets masked', async () => {
    const r = await runCli(['config', '--json'], { env });
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout);
    expect(shown.config.retention.policy).toEqual({ keepWithinDays: 30, keepMonthly: 12 });
    expect(r.stdout).not.toMatch(/hookSecret123|dbSecret456/);
  });

  it("shows the probes that run: the defaults when the file names none (said so), else the file's", async () => {
    const r = await runCli(['config', '--json'], { env: { ...env, APP_BASE_URL: 'https://app.example.test' } });
    expect(r.code).toBe(0);
    const { probes } = JSON.parse(r.stdout).config;
    expect(probes.concurrency).toBe(50);
    expect(probes.targetsFrom).toMatch(/^the defaults/);
    expect(probes.targets.map((p: { name: string; kind: string }) => `${p.name} ${p.kind}`)).toEqual([
      'api-health http',
      'api-health-full http',
      'database postgres',
      'backup-freshness backup-freshness',
    ]);
    expect(probes.targets[0].url).toBe('https://app.example.test/health');
    expect(probes.targets[2].url).toBe('${DATABASE_URL}'); // the reference, never the URL with its password
    const file = join(tempDir('mt-config-probes-'), 'ops.yaml');
    writeFileSync(file, 'probes:\n  concurrency: 7\n  targets:\n    - { name: mine, url: "http://127.0.0.1:9/" }\n');
    const own = JSON.parse((await runCli(['config', '--json'], { env: { ...env, OPS_CONFIG: file } })).stdout).config;
    expect(own.probes.concurrency).toBe(7);
    expect(own.probes.targetsFrom).toBeUndefined();
    expect(own.probes.targets.map((p: { name: string }) => p.name)).toEqual(['mine']);
  });

  it('a bad configuration exits 2 naming the variable', async () => {
    const r = await runCli(['config'], { env: { ...env, OPS_ENV: 'Not Valid' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/OPS_ENV: /);
  });

  it('--json on a bad configuration: its problems as JSON on stdout too, the same stderr and exit 2, secrets masked', async () => {
    const file = join(tempDir('mt-config-bad-json-'), 'ops.json');
    writeFileSync(
      file,
      JSON.stringify({
        backup: { jobs: 0 },
        probes: [{ name: 'a', url: 'https://a.example/${MT_T_UNSET}', headers: { 'X-Api-Key': 'fileKey789' } }],
      }),
    );
    // a secret in a bad value, and a reason about a secret-named variable that a mask must not eat
    const bad = {
      ...env,
      OPS_CONFIG: file,
      SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T0/B0/hookSecret123',
      OPS_API_TOKEN: 'tooShortTok9',
      MT_T_UNSET: '',
    };
    const text = await runCli(['config'], { env: bad });
    const r = await runCli(['config', '--json'], { env: bad });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe(text.stderr);
    expect(JSON.parse(r.stdout)).toEqual({
      error: text.stderr.slice('mt-ops: '.length, -1),
      issues: [
        'SLACK_WEBHOOK_URL: Invalid URL',
        expect.stringMatching(/^OPS_API_TOKEN: at least 16 characters/),
        `${file}: backup.jobs: Too small: expected number to be >=1`,
        `${file}: probes[0].url: names \${MT_T_UNSET}, which is not set`,
      ],
      code: 'usage',
    });
    expect(r.stdout).not.toMatch(/hookSecret123|dbSecret456|tooShortTok9|fileKey789/);
    // a problem found after the load (a schedule override no job matches) too
    const schedules = join(tempDir('mt-config-schedules-'), 'ops.yaml');
    writeFileSync(schedules, 'schedules:\n  backpu: { cron: "0 3 * * *" }\n');
    const late = await runCli(['config', '--json'], { env: { ...env, OPS_CONFIG: schedules } });
    expect(late.code).toBe(2);
    expect(JSON.parse(late.stdout)).toMatchObject({
      error: expect.stringMatching(/^schedules: backpu: no scheduled job triggers this function/),
      code: 'usage',
    });
  });

  it('a schedule override keyed by no function or job is refused, as npm start refuses it', async () => {
    const file = join(tempDir('mt-config-schedules-'), 'ops.yaml');
    writeFileSync(file, 'schedules:\n  backpu: { cron: "0 3 * * *" }\n');
    const r = await runCli(['config'], { env: { ...env, OPS_CONFIG: file } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^mt-ops: schedules: backpu: no scheduled job triggers this function/);
  });
});
