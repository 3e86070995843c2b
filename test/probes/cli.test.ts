/** `mt-ops probe` and `mt-ops uptime` as an operator runs them (a child process), and the function's start-up check. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  truncateSync,
  writeFileSync,
  symlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli, runAsNobody, canDropPrivileges, operatorFileEnv } from '../support/cli';
import { functionRuntime } from '../../shared/functions/runtime';
import { loadConfig } from '../../shared/config/load';
import type { MemoryBus } from '../../shared/bus/memory-bus';
import { tempDir } from '../support/temp';
import { startTargets, startTlsTarget, type Targets } from '../support/probe-targets';
import { startFakeGcs } from '../support/fake-gcs';

let targets: Targets;
beforeAll(async () => {
  targets = await startTargets();
});
afterAll(async () => targets.close());

/** A test's temp folder (its config file, its bucket) readable by anyone: what nobody may write is then root's alone. */
function openToAll(path: string): void {
  chmodSync(path, 0o755);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory()) openToAll(join(path, entry.name));
    else chmodSync(join(path, entry.name), 0o644);
  }
}

const setup = (file: object) => operatorFileEnv(file, 'mt-probe-cli-');

describe('mt-ops probe', () => {
  it('an empty probes list is no probes (never the defaults, which would probe an APP_BASE_URL nobody meant): said, exit 0', async () => {
    for (const probes of [[], { targets: [] }]) {
      const env = setup({ probes });
      const r = await runCli(['probe'], { env: { ...env, APP_BASE_URL: `${targets.url}/nothing-here` } });
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('0 passed, 0 failed');
      expect(r.stderr).toBe(
        "mt-ops: no probes: the operator file's probes list is empty (remove it for the defaults)\n",
      );
      expect(r.code).toBe(0);
    }
  });

  it('mt-ops config: a condition whose literal is a ${VAR} secret value is masked; an empty list says none', async () => {
    const env = setup({
      probes: [
        {
          name: 'api',
          url: `${targets.url}/health`,
          headers: { 'X-Key': '${MT_T_CONFIG_SECRET}' },
          conditions: ['[BODY].status == config-secret-value-42'],
        },
      ],
    });
    const r = await runCli(['config', '--json'], { env: { ...env, MT_T_CONFIG_SECRET: 'config-secret-value-42' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('config-secret-value-42');
    expect(r.stdout).toContain('[BODY].status == ***');
    const none = await runCli(['config', '--json'], { env: setup({ probes: [] }) });
    expect(JSON.parse(none.stdout).config.probes).toMatchObject({
      targetsFrom: 'none (the operator file lists no probes)',
      targets: [],
    });
  });

  it('in a maintenance window: says which window and until when, and what that means for the samples', async () => {
    const env = setup({
      probes: [
        { name: 'api', url: `${targets.url}/unhealthy`, conditions: ['[STATUS] == 200'] },
        { name: 'ignores', url: `${targets.url}/health`, ignoreMaintenance: true },
      ],
      // a window starting every minute, for a minute: always open
      maintenance: [{ name: 'always', cron: '* * * * *', durationMinutes: 1, timeZone: 'UTC' }],
    });
    const r = await runCli(['probe', '--once'], { env });
    expect(r.stdout).toMatch(/^api\s+FAIL\s+maintenance\s/m);
    expect(r.stderr).toMatch(
      /^mt-ops: maintenance window "always" until \d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z: the samples of api are recorded as maintenance \(no alert, no error budget spent\)$/m,
    );
    expect(r.code).toBe(1); // the target did fail: a script still sees it
  });

  it('all pass: a table, "N passed, 0 failed", exit 0', async () => {
    const env = setup({
      probes: [
        { name: 'api', url: `${targets.url}/health` },
        { name: 'api-full', url: `${targets.url}/healthy`, conditions: ['[BODY].status == healthy'] },
      ],
    });
    const r = await runCli(['probe', '--once'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^PROBE\s+RESULT\s+STATE\s+STATUS\s+LATENCY\s+UPTIME 24H\s+UPTIME 30D\s+P95 24H\s+BUDGET LEFT\s+FAILED CONDITIONS/,
    );
    expect(r.stdout).toMatch(/^api\s+ok\s+up\s+200\s+\d+ ms\s+100\.00%\s+100\.00%\s+\d+ ms\s+100\.00%/m);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('2 passed, 0 failed');
  });

  it('a bucket URL naming a file: one line and exit 2 (bad input), as uptime says it, not every probe FAIL', async () => {
    const env = setup({ probes: [{ name: 'api', url: `${targets.url}/health` }] });
    const file = join(tempDir('mt-probe-cli-file-'), 'not-a-folder');
    writeFileSync(file, 'x');
    for (const command of ['probe', 'uptime']) {
      const r = await runCli([command], { env: { ...env, BACKUP_BUCKET: `file://${file}` } });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`mt-ops: bucket file://${file}: ${file} is a file, not a folder\n`);
    }
    // a path that goes round a loop of symbolic links: the same, before any probe runs
    const loop = join(tempDir('mt-probe-cli-loop-'), 'a');
    symlinkSync(`${loop}-b`, loop);
    symlinkSync(loop, `${loop}-b`);
    for (const command of ['probe', 'uptime']) {
      const r = await runCli([command], { env: { ...env, BACKUP_BUCKET: `file://${loop}/bucket` } });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `mt-ops: bucket file://${loop}/bucket: the path ${loop}/bucket goes round a loop of symbolic links\n`,
      );
    }
  });

  it('an https target named by its IP address: trusted through its CA, nothing on stderr (no SNI deprecation warning)', async () => {
    const tls = await startTlsTarget(30);
    try {
      const env = setup({ probes: [{ name: 'ip', url: tls.url, tls: { caFile: tls.caFile } }] });
      const r = await runCli(['probe'], { env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^ip\s+ok\s+up\s+200\s/m);
      // the certificate is still checked against the name: one for the address does not serve localhost
      const other = setup({
        probes: [{ name: 'ip', url: tls.url.replace('127.0.0.1', 'localhost'), tls: { caFile: tls.caFile } }],
      });
      const wrong = await runCli(['probe', '--json'], { env: other });
      expect(wrong.code).toBe(1);
      expect(JSON.parse(wrong.stdout).probes[0].error).toMatch(
        /^TLS: certificate not trusted \(ERR_TLS_CERT_ALTNAME_INVALID\)$/,
      );
    } finally {
      await tls.close();
    }
  });

  it("a probe whose state cannot be read: its row is the target's answer (not a FAIL), the sample not recorded and said so; the others run", async () => {
    const env = setup({
      probes: [
        { name: 'api', url: `${targets.url}/health` },
        { name: 'web', url: `${targets.url}/health` },
      ],
    });
    // a folder where the state document should be: reading it fails (EISDIR), whoever runs the command
    mkdirSync(join(env.BACKUP_BUCKET.slice('file://'.length), 'prod/.state/probes/api.json'), { recursive: true });
    const r = await runCli(['probe'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^api\s+ok\s+not recorded\s+200\s+\d+ ms\s.*not recorded: reading the state of api: /m);
    expect(r.stdout).toMatch(/^web\s+ok\s+up\s/m);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('2 passed, 0 failed, 1 not recorded');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      severity: 'WARNING',
      probe: 'api',
      message: expect.stringMatching(/^reading the state of api: \S.*; this sample is not recorded$/),
    });
    expect(lines[1]).toBe('mt-ops: 1 result not recorded (see above)');
  });

  it('a threshold crossed by hand with no event bus: its alert waits in the outbox (one line says so), and the next function run publishes it once', async () => {
    const env = setup({
      probes: [
        { name: 'ok', url: `${targets.url}/health` },
        { name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 2 },
      ],
    });
    const bucket = env.BACKUP_BUCKET.slice('file://'.length);
    const outbox = () => {
      const dir = join(bucket, 'prod', '.outbox');
      return existsSync(dir) ? readdirSync(dir).map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8'))) : [];
    };
    const first = await runCli(['probe'], { env });
    expect(first.code).toBe(1);
    expect(first.stderr).toBe('mt-ops: 1 probe(s) failed\n'); // below the threshold: nothing to send
    expect(outbox()).toEqual([]);
    const second = await runCli(['probe'], { env });
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      "mt-ops: 1 alert event kept in the bucket's outbox: the next run of any function publishes it; events: in-process bus (neither OPS_EVENTS=pubsub, EVENTS_TOPIC nor PUBSUB_EMULATOR_HOST is set)\n" +
        'mt-ops: 1 probe(s) failed\n',
    );
    expect(outbox()).toMatchObject([
      { type: 'alert', status: 'firing', severity: 'critical', fingerprint: 'probe/prod/api', title: 'api is down' },
    ]);
    // the state says down now, so a third failure crosses nothing: no second copy
    const third = await runCli(['probe'], { env });
    expect(third.stderr).toBe('mt-ops: 1 probe(s) failed\n');
    expect(outbox()).toHaveLength(1);
    // the next run of any function (the scheduled probe in `npm start` or in the cloud) publishes it, then removes it
    const runtime = functionRuntime(loadConfig({ ...process.env, ...env }), 'probe');
    const published: unknown[] = [];
    (runtime.bus.inner as MemoryBus).subscribe((m) => {
      published.push(m.event);
    });
    await runtime.flushOutbox!();
    expect(published).toMatchObject([{ type: 'alert', status: 'firing', fingerprint: 'probe/prod/api' }]);
    expect(outbox()).toEqual([]);
  });

  it("the run's log line (at debug) counts an alert kept in the outbox as undelivered, not as published", async () => {
    const env = setup({ probes: [{ name: 'api', url: `${targets.url}/unhealthy`, failureThreshold: 1 }] });
    const r = await runCli(['probe'], { env: { ...env, LOG_LEVEL: 'debug' } });
    expect(r.code).toBe(1);
    const logged = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((l) => l.message === 'probes: 0 passed, 1 failed');
    expect(logged).toMatchObject({ severity: 'DEBUG', published: 0, undelivered: 1 });
  });

  it('a bucket that refuses the writes (403): the probes pass but the run does not, saying what was not recorded', async () => {
    const gcs = await startFakeGcs();
    try {
      const env = {
        ...setup({ probes: [{ name: 'api', url: `${targets.url}/health` }] }),
        BACKUP_BUCKET: 'gs://refusing-bucket/ops',
        GCS_API_ENDPOINT: gcs.url,
      };
      gcs.failNext({ method: 'POST', pathIncludes: '/upload/', count: 1000, status: 403 });
      const r = await runCli(['probe'], { env });
      expect(r.code).toBe(1);
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 0 failed, 1 not recorded');
      const lines = r.stderr.trimEnd().split('\n');
      // said once (the report's warning), then the closing line
      expect(lines).toHaveLength(2);
      expect(JSON.parse(lines[0]!)).toMatchObject({
        severity: 'WARNING',
        probe: 'api',
        message: expect.stringMatching(
          /^writing the state of api: storage write of prod\/\.state\/probes\/api\.json failed/,
        ),
      });
      expect(lines.at(-1)).toBe('mt-ops: 1 result not recorded (see above)');
    } finally {
      await gcs.close();
    }
  });

  it("a GCS bucket that does not answer (503 to every read): --time-limit still bounds the command, not the client retries, and the row still shows the target's answer", async () => {
    const gcs = await startFakeGcs();
    try {
      const env = {
        ...setup({ probes: [{ name: 'api', url: `${targets.url}/health` }] }),
        BACKUP_BUCKET: 'gs://unanswering-bucket/ops',
        GCS_API_ENDPOINT: gcs.url,
      };
      gcs.failNext({ method: 'GET', count: 100_000, status: 503 });
      const started = Date.now();
      const r = await runCli(['probe', '--time-limit', '2'], { env, timeoutMs: 120_000 });
      const tookMs = Date.now() - started;
      expect(r.code, r.stderr).toBe(1);
      // the target answered while its state was still being read: its answer (it showed SKIPPED with no status)
      expect(r.stdout).toMatch(/^api\s+ok\s+not recorded\s+200\s+\d+ ms\s.*not recorded: not finished within/m);
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 0 failed, 1 not recorded');
      expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('mt-ops: 1 result not recorded (see above)');
      // 2 s, 3 s more for the state, and the CLI's start; the GCS client's retries of a read last about half a minute
      expect(tookMs).toBeLessThan(15_000);
    } finally {
      await gcs.close();
    }
  }, 150_000);

  it('a bucket that refuses the writes and a failing probe: both said (closing line and stderr), exit 1', async () => {
    const gcs = await startFakeGcs();
    try {
      const env = {
        ...setup({
          probes: [
            { name: 'healthy', url: `${targets.url}/health` },
            { name: 's503', url: `${targets.url}/unhealthy` },
          ],
        }),
        BACKUP_BUCKET: 'gs://refusing-bucket/ops',
        GCS_API_ENDPOINT: gcs.url,
      };
      gcs.failNext({ method: 'POST', pathIncludes: '/upload/', count: 1000, status: 403 });
      const r = await runCli(['probe'], { env });
      expect(r.code).toBe(1);
      expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed, 2 not recorded');
      // each row says so in its STATE, the failing one too (its cell shows its failed conditions)
      for (const name of ['healthy', 's503'])
        expect(r.stdout.split('\n').find((l) => l.startsWith(`${name} `))).toMatch(/^\S+\s+(ok|FAIL)\s+not recorded\s/);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(4); // each warning, then both closing lines
      expect(
        lines
          .slice(0, 2)
          .map((l) => JSON.parse(l).probe)
          .sort(),
      ).toEqual(['healthy', 's503']);
      expect(lines.slice(2)).toEqual(['mt-ops: 2 results not recorded (see above)', 'mt-ops: 1 probe(s) failed']);
      const json = await runCli(['probe', '--json'], { env });
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ passed: 1, failed: 1, notRecorded: 2 });
      // the run's log line (at debug) counts them too
      const logged = (await runCli(['probe'], { env: { ...env, LOG_LEVEL: 'debug' } })).stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
        .find((l) => l.message.startsWith('probes: '));
      expect(logged).toMatchObject({ message: 'probes: 1 passed, 1 failed, 2 not recorded', notRecorded: 2 });
    } finally {
      await gcs.close();
    }
  });

  it.skipIf(!canDropPrivileges)(
    'a bucket folder nobody may write: the closing line and stderr say how many results were not recorded',
    async () => {
      const env = setup({
        probes: [
          { name: 'healthy', url: `${targets.url}/health` },
          { name: 's503', url: `${targets.url}/unhealthy` },
        ],
      });
      mkdirSync(env.BACKUP_BUCKET.slice('file://'.length));
      openToAll(dirname(env.OPS_CONFIG));
      const one = await runAsNobody(['probe', '--only', 'healthy'], env);
      expect(one.code).toBe(1);
      expect(one.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 0 failed, 1 not recorded');
      expect(one.stderr.trimEnd().split('\n').at(-1)).toBe('mt-ops: 1 result not recorded (see above)');
      const two = await runAsNobody(['probe', '--only', 'healthy,s503'], env);
      expect(two.code).toBe(1);
      expect(two.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed, 2 not recorded');
      expect(two.stderr.trimEnd().split('\n').slice(-2)).toEqual([
        'mt-ops: 2 results not recorded (see above)',
        'mt-ops: 1 probe(s) failed',
      ]);
    },
  );

  it('--time-limit: probes the run had no time to start are counted as skipped, and the run does not pass', async () => {
    const hang = { url: `${targets.url}/hang`, timeoutMs: 1000 };
    const env = setup({
      probes: {
        concurrency: 1,
        targets: [
          { name: 'ok', url: `${targets.url}/health` },
          { name: 'h1', ...hang },
          { name: 'h2', ...hang },
          { name: 'h3', ...hang },
        ],
      },
    });
    const r = await runCli(['probe', '--time-limit', '2'], { env });
    expect(r.code).toBe(1);
    // h1 had its whole timeout and failed; h2's was cut short by the time limit (no sample); h3 never started
    expect(r.stdout).toMatch(/^h1\s+FAIL\s+.*timed out after 1000 ms/m);
    expect(r.stdout).toMatch(
      /^h2\s+SKIPPED\s+.*the run's time limit \(2 s\) came before the probe's timeout \(1000 ms\)$/m,
    );
    expect(r.stdout).toMatch(/^h3\s+SKIPPED\s+.*skipped: the run ran out of time$/m);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed, 2 skipped');
    // both said: the skipped ones first (the failure's line, which ends the run, would hide them)
    expect(r.stderr).toBe(
      "mt-ops: 2 probes skipped: the run's time limit came first (before they could start, or before their own timeout)\n" +
        'mt-ops: 1 probe(s) failed\n',
    );
    const bad = await runCli(['probe', '--time-limit', '0'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--time-limit.*must be a whole number of seconds from 1 to 3600/);
  });

  it("--time-limit shorter than a probe's timeout: a slow target cut short is no failure, no state, no alert", async () => {
    const env = setup({
      probes: [
        { name: 'hang', url: `${targets.url}/hang` },
        { name: 'slow', url: `${targets.url}/slow?ms=1500`, failureThreshold: 1 },
        { name: 'healthy', url: `${targets.url}/health` },
      ],
    });
    const r = await runCli(['probe', '--time-limit', '1', '--only', 'hang,slow,healthy'], { env });
    expect(r.code).toBe(1);
    for (const name of ['hang', 'slow'])
      expect(r.stdout).toMatch(
        new RegExp(
          `^${name}\\s+SKIPPED\\s+-\\s+.*the run's time limit \\(1 s\\) came before the probe's timeout \\(10000 ms\\)$`,
          'm',
        ),
      );
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 0 failed, 2 skipped');
    expect(r.stderr).toBe(
      "mt-ops: 2 probes skipped: the run's time limit came first (before they could start, or before their own timeout)\n",
    );
    const bucket = env.BACKUP_BUCKET.slice('file://'.length);
    expect(existsSync(join(bucket, 'prod/.state/probes/slow.json'))).toBe(false);
    expect(existsSync(join(bucket, 'prod/.outbox'))).toBe(false);
  });

  it("a failure and a probe cut short by --time-limit in one run: stderr and the run's log line say both", async () => {
    const env = setup({
      probes: [
        { name: 'hang', url: `${targets.url}/hang`, timeoutMs: 500 },
        { name: 'slow', url: `${targets.url}/slow?ms=1500` },
      ],
    });
    const r = await runCli(['probe', '--time-limit', '1'], { env: { ...env, LOG_LEVEL: 'debug' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^hang\s+FAIL\s+.*timed out after 500 ms/m);
    expect(r.stdout).toMatch(/^slow\s+SKIPPED\s/m);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('0 passed, 1 failed, 1 skipped');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.filter((l) => !l.startsWith('{'))).toEqual([
      "mt-ops: 1 probe skipped: the run's time limit came first (before it could start, or before its own timeout)",
      'mt-ops: 1 probe(s) failed',
    ]);
    const logged = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(logged.find((l) => l.message.startsWith('probes: '))).toMatchObject({
      severity: 'DEBUG',
      message: 'probes: 0 passed, 1 failed, 1 skipped',
      passed: 0,
      failed: 1,
      skipped: 1,
    });
  });

  it('a probe failing only a condition below its own severity: WARN, counted as a warning, exit 0 (it is not down)', async () => {
    const lesser = { condition: '[STATUS] == 201', severity: 'warning' };
    const env = setup({
      probes: [
        { name: 'ok', url: `${targets.url}/health` },
        { name: 'cert', url: `${targets.url}/health`, conditions: ['[STATUS] == 200', lesser] },
        { name: 's503', url: `${targets.url}/unhealthy`, conditions: ['[STATUS] == 200', lesser] },
      ],
    });
    const r = await runCli(['probe', '--only', 'ok,cert'], { env });
    expect(r.stdout).toMatch(/^cert\s+WARN\s+.*\[STATUS\] == 201: got 200$/m);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 0 failed, 1 warning');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const json = await runCli(['probe', '--only', 'cert', '--json'], { env });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      passed: 0,
      failed: 0,
      warnings: 1,
      probes: [{ name: 'cert', ok: false, warning: true }],
    });
    // a failure at the probe's severity (both conditions fail) is still a FAIL, and fails the run
    const both = await runCli(['probe'], { env: { ...env, LOG_LEVEL: 'debug' } });
    expect(both.stdout).toMatch(/^s503\s+FAIL\s/m);
    expect(both.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed, 1 warning');
    // (cert's third warning crossed its threshold: its alert, a warning, waits in the outbox, said first)
    expect(both.stderr.trimEnd().split('\n').at(-1)).toBe('mt-ops: 1 probe(s) failed');
    expect(both.code).toBe(1);
    // the run's log line (at debug) counts them the same way
    const logged = both.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .find((l) => l.message.startsWith('probes: '));
    expect(logged).toMatchObject({ message: 'probes: 1 passed, 1 failed, 1 warning', failed: 1, warnings: 1 });
  });

  it('a degraded target: exit 1, the failed condition saying what it saw; --only and --json', async () => {
    const env = setup({
      probes: [
        { name: 'ok', url: `${targets.url}/health` },
        { name: 'full', url: `${targets.url}/degraded`, conditions: ['[STATUS] == 200', '[BODY].status == healthy'] },
      ],
    });
    const table = await runCli(['probe'], { env });
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/^full\s+FAIL\s+unknown\s+200\s+.*\[BODY\]\.status == healthy: got "degraded"$/m);
    expect(table.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed');
    expect(table.stderr).toBe('mt-ops: 1 probe(s) failed\n');
    const json = await runCli(['probe', '--only', 'full', '--json'], { env });
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({
      passed: 0,
      failed: 1,
      probes: [
        {
          name: 'full',
          ok: false,
          status: 200,
          failed: [{ severity: 'critical', message: '[BODY].status == healthy: got "degraded"' }],
        },
      ],
    });
    expect(out.probes[0].timings).toMatchObject({
      connectMs: expect.any(Number),
      ttfbMs: expect.any(Number),
      totalMs: expect.any(Number),
    });
  });

  it('bad configuration: exit 2 with the field path and the condition quoted', async () => {
    const env = setup({ probes: [{ name: 'api', url: `${targets.url}/health`, conditions: ['[STATUS] = 200'] }] });
    const r = await runCli(['probe'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'probes[0].conditions[0]: invalid condition "[STATUS] = 200": "=" is not an operator, use "==" (== != <= >= < >) at column 10 ("=")',
    );
    expect(r.stdout).toBe('');
  });

  it('an unknown --only name: exit 2 naming it', async () => {
    const env = setup({ probes: [{ name: 'api', url: `${targets.url}/health` }] });
    const r = await runCli(['probe', '--only', 'apii'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('mt-ops: unknown probe(s): apii (configured: api)\n');
  });
});

describe('mt-ops uptime', () => {
  it('reads the recorded state without probing', async () => {
    const env = setup({
      probes: [
        { name: 'api', url: `${targets.url}/health` },
        { name: 'never', url: `${targets.url}/health` },
      ],
    });
    expect((await runCli(['probe', '--only', 'api'], { env })).code).toBe(0);
    const r = await runCli(['uptime'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^api\s+up\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+100\.00%\s+100\.00%\s+100\.00%\s+100\.00%\s+0\.00%/m,
    );
    expect(r.stdout).toMatch(/^never\s+unknown\s+never\s+-/m);
    const json = JSON.parse((await runCli(['uptime', '--json'], { env })).stdout);
    expect(json[0]).toMatchObject({
      name: 'api',
      status: 'up',
      objective: 99.9,
      latencyObjectiveMs: 200,
      budgetLeft: 1,
    });
    expect(json[0].since).toMatch(/^\d{4}-/);
    // never run: no state, so no time since which it has been unknown (it said `since: <now>`), as the table says never
    expect(json[1]).toMatchObject({ name: 'never', status: 'unknown' });
    expect(json[1]).not.toHaveProperty('since');
    expect(json[1]).not.toHaveProperty('lastRunAt');
  });

  it('after a maintenance window: unknown, not the maintenance the last sample recorded (table and --json)', async () => {
    const probes = [{ name: 'mw', url: `${targets.url}/health` }];
    // a window starting every minute, for a minute: always open, so the sample is recorded as maintenance
    const env = setup({
      probes,
      maintenance: [{ name: 'always', cron: '* * * * *', durationMinutes: 1, timeZone: 'UTC' }],
    });
    expect((await runCli(['probe'], { env })).stdout).toMatch(/^mw\s+ok\s+maintenance\s/m);
    const during = await runCli(['uptime'], { env });
    expect(during.stdout).toMatch(/^mw\s+maintenance\s/m);
    // the same probe, its window now one that ended two minutes ago (daily, for a minute, three minutes ago)
    const start = new Date(Date.now() - 3 * 60_000);
    const cron = `${start.getUTCMinutes()} ${start.getUTCHours()} * * *`;
    writeFileSync(
      env.OPS_CONFIG,
      JSON.stringify({ probes, maintenance: [{ name: 'short-win', cron, durationMinutes: 1, timeZone: 'UTC' }] }),
    );
    const after = await runCli(['uptime'], { env });
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/^mw\s+unknown\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s/m);
    const json = await runCli(['uptime', '--json'], { env });
    expect(JSON.parse(json.stdout)[0]).toMatchObject({ name: 'mw', status: 'unknown' });
  });

  it('unreadable states (cut short, not JSON, empty): each row says so, one warning each, the others shown, exit 1', async () => {
    const env = setup({
      probes: [
        { name: 'healthy', url: `${targets.url}/health` },
        { name: 's503', url: `${targets.url}/unhealthy` },
        { name: 'degraded', url: `${targets.url}/degraded`, conditions: ['[BODY].status == healthy'] },
        { name: 'fine', url: `${targets.url}/health` },
      ],
    });
    for (let i = 0; i < 3; i++) await runCli(['probe'], { env });
    const states = join(env.BACKUP_BUCKET.slice('file://'.length), 'prod/.state/probes');
    truncateSync(join(states, 'healthy.json'), 700);
    writeFileSync(join(states, 's503.json'), 'garbage!!!');
    writeFileSync(join(states, 'degraded.json'), '');
    const r = await runCli(['uptime'], { env });
    expect(r.code).toBe(1);
    for (const name of ['healthy', 's503', 'degraded'])
      expect(r.stdout).toMatch(new RegExp(`^${name}\\s+-\\s+-\\s+-\\s+-\\s+-\\s+-\\s+-.*unreadable: not JSON$`, 'm'));
    expect(r.stdout).toMatch(/^fine\s+up\s+\d{4}-/m);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'mt-ops: state of probe healthy unreadable (not JSON): prod/.state/probes/healthy.json',
      'mt-ops: state of probe s503 unreadable (not JSON): prod/.state/probes/s503.json',
      'mt-ops: state of probe degraded unreadable (not JSON): prod/.state/probes/degraded.json',
      'mt-ops: the states of 3 probes are unreadable (see above)',
    ]);
    const json = await runCli(['uptime', '--json'], { env });
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout);
    expect(out.map((p: { name: string; unreadable?: string }) => [p.name, p.unreadable])).toEqual([
      ['healthy', 'not JSON'],
      ['s503', 'not JSON'],
      ['degraded', 'not JSON'],
      ['fine', undefined],
    ]);
    // an unreadable probe has no figures (not those of a probe that never ran)
    expect(out[0]).not.toHaveProperty('status');
    expect(out[0]).not.toHaveProperty('uptime');
    expect(out[3]).toMatchObject({ name: 'fine', status: 'up' });
    // a state that decodes but is not this probe's, or not a state at all
    writeFileSync(join(states, 'healthy.json'), readFileSync(join(states, 'fine.json')));
    writeFileSync(join(states, 's503.json'), '{"version":3}');
    const other = await runCli(['uptime', '--only', 'healthy,s503,fine'], { env });
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/^healthy\s+-\s.*unreadable: it is the state of "fine"$/m);
    expect(other.stdout).toMatch(/^s503\s+-\s.*unreadable: probe: .*expected string/m);
  });

  it('an unreadable hourly history: the figures of the hot state, said unreadable too, exit 1', async () => {
    const env = setup({ probes: [{ name: 'api', url: `${targets.url}/health` }] });
    expect((await runCli(['probe'], { env })).code).toBe(0);
    const bucket = env.BACKUP_BUCKET.slice('file://'.length);
    const hot = join(bucket, 'prod/.state/probes/api.json');
    // hours closed into the history (as a run an hour later does), whose document is then damaged
    const state = JSON.parse(readFileSync(hot, 'utf8'));
    writeFileSync(
      hot,
      JSON.stringify({ ...state, historyThrough: Math.floor(Date.now() / 3_600_000 - 3) * 3_600_000 }),
    );
    mkdirSync(join(bucket, 'prod/.state/probe-history'), { recursive: true });
    writeFileSync(join(bucket, 'prod/.state/probe-history/api.json'), '{"version":1');
    const r = await runCli(['uptime'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^api\s+up\s+\d{4}-.*100\.00%.*unreadable: hourly history damaged, figures without it$/m);
    expect(r.stderr).toBe(
      'mt-ops: state of probe api unreadable (hourly history damaged, figures without it): prod/.state/probe-history/api.json\n' +
        'mt-ops: the state of 1 probe is unreadable (see above)\n',
    );
  });

  it.skipIf(!canDropPrivileges)(
    'a state that cannot be read at all (permission): its row says why, the other probe is still shown, exit 1',
    async () => {
      const env = setup({
        probes: [
          { name: 'healthy', url: `${targets.url}/health` },
          { name: 's503', url: `${targets.url}/unhealthy` },
        ],
      });
      expect((await runCli(['probe'], { env })).code).toBe(1);
      openToAll(dirname(env.OPS_CONFIG));
      chmodSync(join(env.BACKUP_BUCKET.slice('file://'.length), 'prod/.state/probes/healthy.json'), 0o000);
      const r = await runAsNobody(['uptime', '--only', 'healthy,s503'], env);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^healthy\s+-\s+-\s.*unreadable: permission denied$/m);
      expect(r.stdout).toMatch(/^s503\s+unknown\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+0\.00%/m);
      expect(r.stderr).toBe(
        'mt-ops: state of probe healthy could not be read (permission denied): prod/.state/probes/healthy.json\n' +
          'mt-ops: the state of 1 probe is unreadable (see above)\n',
      );
      const json = await runAsNobody(['uptime', '--only', 'healthy,s503', '--json'], env);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject([
        { name: 'healthy', unreadable: 'permission denied' },
        { name: 's503', status: 'unknown' },
      ]);
      // a bad flag is still bad input
      expect((await runAsNobody(['uptime', '--bogus'], env)).code).toBe(2);
    },
  );
});

describe('functions/probe', () => {
  it('refuses to start on a bad probes section, with the path and the condition: one line, no stack, exit 2', () => {
    const env = setup({
      probes: [{ name: 'api', url: `${targets.url}/health`, conditions: ['len([BODY].items > 0'] }],
    });
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const r = spawnSync(process.execPath, [join(root, 'bin/run-ts.js'), join(root, 'functions/probe/index.ts')], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    // one structured line Cloud Logging reads as one entry, at error (LOG_LEVEL, silent here, cannot hide it)
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { severity: string; message: string };
    expect(line.severity).toBe('ERROR');
    expect(line.message).toMatch(/^probe refuses to start: /);
    expect(line.message).toContain(
      'probes[0].conditions[0]: invalid condition "len([BODY].items > 0": unclosed "(" at column 4',
    );
    expect(r.stderr).not.toMatch(/\bat .*\.(ts|js):\d+/);
  });
});
