/** A failure is one line at the default level (stacks only at debug): the CLI's stderr. */
import { describe, it, expect } from 'vitest';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';

describe('a failing backup', () => {
  const env = () => ({
    DATABASE_URL: 'postgres://ops:pw@127.0.0.1:1/x',
    BACKUP_BUCKET: `file://${tempDir()}`,
    OPS_CONFIG: '',
  });

  it('prints one line at the default level (info): the reason, no JSON log line with stacks', async () => {
    const run = await runCli(['backup', '--no-progress'], { env: { ...env(), LOG_LEVEL: 'info' } });
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      'mt-ops: cannot connect to the database: connect ECONNREFUSED 127.0.0.1:1',
    ]);
  });

  it('shows the stacks at debug', async () => {
    const run = await runCli(['backup', '--no-progress'], { env: { ...env(), LOG_LEVEL: 'debug' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('"stack"');
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe(
      'mt-ops: cannot connect to the database: connect ECONNREFUSED 127.0.0.1:1',
    );
  });
});
