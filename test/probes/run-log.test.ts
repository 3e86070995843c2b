/**
 * The probe run's log line: Cloud Logging's record of each scheduled run (the function, `npm start`), at info, counting
 * the probes not due too; `mt-ops probe` says the same counts in its closing line, so it logs the line at debug only.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { operatorFileEnv, runCli } from '../support/cli';
import { startTargets, type Targets } from '../support/probe-targets';
import { startLocalRuntime } from '../support/local-runtime';
import { testRuntime } from '../support/runtime';
import { tempDir } from '../support/temp';
import { probeJob } from '../../shared/probes/job';
import { probeEventHandler } from '../../functions/probe/handlers';

let targets: Targets;
beforeAll(async () => {
  targets = await startTargets();
});
afterAll(async () => targets.close());

/** The variables of an operator file with these probes (support/cli.ts). */
const setup = (file: object) => operatorFileEnv(file, 'mt-probe-log-');

/** The JSON log records among these lines (stderr, or a captured logger's lines). */
const records = (lines: string | string[]) =>
  (typeof lines === 'string' ? lines.split('\n') : lines)
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const runLines = (lines: string | string[]) =>
  records(lines).filter((r) => typeof r.message === 'string' && r.message.startsWith('probes: '));

/** One probe that passes, one that fails (and fires at once). */
const passAndFail = () => ({
  probes: [
    { name: 'ok', url: `${targets.url}/health` },
    { name: 's503', url: `${targets.url}/unhealthy`, failureThreshold: 1 },
  ],
});

/** A function runtime (the in-process bus, its log lines captured at info) for this operator file. */
function runtimeWith(file: object) {
  const env = setup(file);
  return testRuntime({ BACKUP_BUCKET: env.BACKUP_BUCKET, OPS_CONFIG: env.OPS_CONFIG, OPS_ENV: 'prod' });
}

describe('mt-ops probe', () => {
  it('at the default level the counts are said once, by the closing line: no log line repeats them', async () => {
    const env = setup(passAndFail());
    // LOG_LEVEL unset: the configuration's default, info
    const r = await runCli(['probe'], { env: { ...env, LOG_LEVEL: undefined } });
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed');
    expect(`${r.stdout}\n${r.stderr}`.match(/\d+ passed, \d+ failed/g)).toHaveLength(1);
    expect(runLines(r.stderr)).toEqual([]);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('mt-ops: 1 probe(s) failed');
    // --json: the counts in the JSON only, nothing on stderr for a run that passes
    const json = await runCli(['probe', '--only', 'ok', '--json'], { env: { ...env, LOG_LEVEL: undefined } });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ passed: 1, failed: 0 });
    expect(json.stderr).toBe('');
  });

  it("at debug the run's line is there, its fields as the function logs them", async () => {
    const env = setup(passAndFail());
    const r = await runCli(['probe'], { env: { ...env, LOG_LEVEL: 'debug' } });
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed');
    expect(runLines(r.stderr)).toEqual([
      expect.objectContaining({
        severity: 'DEBUG',
        message: 'probes: 1 passed, 1 failed',
        passed: 1,
        failed: 1,
        notDue: 0,
        published: 0,
        undelivered: 1, // s503's alert, kept in the outbox: no event bus here
      }),
    ]);
  });
});

describe('the scheduled run', () => {
  it('counts the probes not due: a run where nothing was due says so, in the message and its fields', async () => {
    const rt = runtimeWith({
      probes: [
        { name: 'often', url: `${targets.url}/health`, intervalSeconds: 60 },
        { name: 'rarely', url: `${targets.url}/health`, intervalSeconds: 600 },
      ],
    });
    const at = (m: number) => () => new Date(Date.parse('2026-11-29T10:00:00Z') + m * 60_000);
    await probeJob(rt, { now: at(0) });
    await probeJob(rt, { now: at(1) });
    await probeJob(rt, { only: ['rarely'], now: at(2) });
    expect(runLines(rt.logs).map((r) => [r.severity, r.message, r.notDue])).toEqual([
      ['INFO', 'probes: 2 passed, 0 failed', 0],
      ['INFO', 'probes: 1 passed, 0 failed, 1 not due', 1],
      ['INFO', 'probes: 0 passed, 0 failed, 1 not due', 1],
    ]);
  });

  it('the probe function logs it at info, as before, with the count of those not due', async () => {
    const rt = runtimeWith({ probes: [{ name: 'rarely', url: `${targets.url}/health`, intervalSeconds: 600 }] });
    const handler = probeEventHandler(() => rt);
    const tick = (id: string) => handler({ id, data: { message: { data: '', messageId: id } } } as never);
    expect(await tick('1')).toMatchObject({ passed: 1, notDue: 0 });
    expect(await tick('2')).toMatchObject({ passed: 0, notDue: 1 });
    expect(runLines(rt.logs)).toEqual([
      expect.objectContaining({ severity: 'INFO', message: 'probes: 1 passed, 0 failed', notDue: 0 }),
      expect.objectContaining({ severity: 'INFO', message: 'probes: 0 passed, 0 failed, 1 not due', notDue: 1 }),
    ]);
  });

  it('npm start: its scheduled probe run logs the line at info, counting those not due', async () => {
    const cwd = tempDir('mt-probe-log-local-');
    writeFileSync(
      join(cwd, 'ops.config.json'),
      JSON.stringify({
        // the minute schedule every second: the probe is due at the first run only
        schedules: { probe: { cron: '* * * * * *' } },
        probes: [{ name: 'rarely', url: `${targets.url}/health`, intervalSeconds: 600 }],
      }),
    );
    const run = await startLocalRuntime(cwd, { LOG_LEVEL: 'info', OPS_API_TOKEN: 'test-token-0123456789abcdef' });
    try {
      const deadline = Date.now() + 20_000;
      while (!runLines(run.logs()).some((r) => r.notDue === 1)) {
        if (Date.now() > deadline) throw new Error(`no run with a probe not due: ${run.logs()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await run.stop();
    }
    const lines = runLines(run.logs());
    expect(lines[0]).toMatchObject({ severity: 'INFO', message: 'probes: 1 passed, 0 failed', notDue: 0 });
    expect(lines.find((r) => r.notDue === 1)).toMatchObject({
      severity: 'INFO',
      message: 'probes: 0 passed, 0 failed, 1 not due',
    });
  });
});
