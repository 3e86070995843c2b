/**
 * With --json, a failure prints the error object on stdout too (the HTTP API's shape), beside its one line on stderr
 * and its exit code, for every command that takes --json (main.ts): a script reading stdout gets the error, not empty
 * input. `config` and `backup` did it on their own; the others printed nothing on stdout.
 */
import { describe, it, expect } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, operatorFileEnv, type CliResult } from '../support/cli';

/** The error object on stdout, its `error` the text of the one stderr line. */
function expectJsonFailure(r: CliResult, exit: number, code: string): { error: string; issues: string[] } {
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(exit);
  const shown = JSON.parse(r.stdout);
  expect(shown).toMatchObject({ error: expect.any(String), issues: expect.any(Array), code });
  expect(r.stderr).toBe(`mt-ops: ${shown.error}\n`);
  return shown;
}

describe('--json failures', () => {
  it('a bad configuration: every command that takes --json prints the error object on stdout, exit 2', async () => {
    const env = operatorFileEnv({ probes: [{ name: 'x', url: 'http://127.0.0.1:9/', severity: 'urgent' }] });
    const event = join(env.OPS_CONFIG, '..', 'event.json');
    writeFileSync(event, '{}');
    const commands = [
      ['probe'],
      ['uptime'],
      ['list'],
      ['verify'],
      ['cleanup', '--dry-run'],
      ['restore'],
      ['alerts', 'log'],
      ['alerts', 'status'],
      ['alerts', 'send', '--file', event],
      ['silence', 'list'],
      ['infra', 'plan', '--project', 'my-project-1', '--region', 'us-central1'],
      ['config'],
    ];
    for (const args of commands) {
      const r = await runCli([...args, '--json'], { env });
      const shown = expectJsonFailure(r, 2, 'usage');
      expect(shown.issues, args.join(' ')).toEqual([expect.stringMatching(/probes\[0\]\.severity: Invalid option/)]);
      // without --json, stdout stays empty
      expect((await runCli(args, { env })).stdout, args.join(' ')).toBe('');
    }
  }, 120_000);

  it("a bad flag (commander's own check): the error object too, its text the stderr line's, exit 2", async () => {
    const env = operatorFileEnv({ probes: [{ name: 'x', url: 'http://127.0.0.1:9/' }] });
    const limit = await runCli(['probe', '--json', '--time-limit', '0'], { env });
    expect(expectJsonFailure(limit, 2, 'usage').error).toBe(
      "option '--time-limit <seconds>' argument '0' is invalid. must be a whole number of seconds from 1 to 3600",
    );
    expect(expectJsonFailure(await runCli(['alerts', 'log', '--nope', '--json'], { env }), 2, 'usage').error).toBe(
      "unknown option '--nope'",
    );
    // --json after `--` is no flag
    expect((await runCli(['list', '--nope', '--', '--json'], { env })).stdout).toBe('');
  });

  it('a report printed before the command fails (exit 1) is all of stdout: no error object after it', async () => {
    const env = operatorFileEnv({ probes: [{ name: 'api', url: 'http://127.0.0.1:9/' }] });
    // a folder where the state document should be: the report is printed, then exit 1: stdout is that report alone
    mkdirSync(join(env.BACKUP_BUCKET.slice('file://'.length), 'prod/.state/probes/api.json'), { recursive: true });
    const uptime = await runCli(['uptime', '--json'], { env });
    expect(uptime.code).toBe(1);
    expect(JSON.parse(uptime.stdout)).toEqual([
      expect.objectContaining({ name: 'api', unreadable: expect.any(String) }),
    ]);
  });
});
