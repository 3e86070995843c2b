/**
 * The probe run's log line: Cloud Logging's record of each scheduled run (the function, `npm start`), at info, counting
 * the probes not due too; `mt-ops probe` says the same counts in its closing line, so it logs the line at debug only.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { startTargets, type Targets } from '../support/probe-targets';
import { tempDir } from '../support/temp';

let targets: Targets;
beforeAll(async () => {
  targets = await startTargets();
});
afterAll(async () => targets.close());

/** The variables of an operator file with these probes, in a folder of its own with the bucket beside it. */
function setup(file: object) {
  const dir = tempDir('mt-probe-log-');
  const path = join(dir, 'ops.json');
  writeFileSync(path, JSON.stringify(file));
  return {
    OPS_CONFIG: path,
    BACKUP_BUCKET: `file://${dir}/bucket`,
    OPS_ENV: 'prod',
    GOOGLE_CLOUD_PROJECT: '',
    PUBSUB_EMULATOR_HOST: '',
  };
}

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
        published: 0,
        undelivered: 1, // s503's alert, kept in the outbox: no event bus here
      }),
    ]);
  });
});
