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

describe('a configuration error about a secret-named variable', () => {
  it('reads as written: the masking of `token: value` shapes does not eat the first word of our own reason', async () => {
    const run = await runCli(['config'], { env: { OPS_API_TOKEN: 'short-Tok3n', OPS_CONFIG: '' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('OPS_API_TOKEN: at least 16 characters');
    expect(run.stderr).not.toContain('short-Tok3n');
  });

  it('a secret in the operator file that its error quotes (an unknown key) is still masked', async () => {
    const dir = tempDir();
    const file = `${dir}/ops.json`;
    (await import('node:fs')).writeFileSync(file, '{"postgres://ops:FileSecret88@db/x": 1}');
    const run = await runCli(['config'], { env: { OPS_CONFIG: file } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Unrecognized key/);
    expect(run.stderr).not.toContain('FileSecret88');
  });
});
