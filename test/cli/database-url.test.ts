/** One validation for every source of a database URL: --database-url, DATABASE_URL, VERIFY_DATABASE_URL, --restore-into. */
import { describe, it, expect } from 'vitest';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';

const BAD: Array<[string, string]> = [
  ['not a url', 'must be a postgres:// or postgresql:// URL'],
  ['mysql://ops:pw-secret@db/x', 'must be a postgres:// or postgresql:// URL'],
  ['postgres://ops:pw-secret@db:99999/x', 'port must be a number from 1 to 65535'],
];

describe.each(BAD)('%s', (url, reason) => {
  const env = () => ({ BACKUP_BUCKET: `file://${tempDir()}`, OPS_CONFIG: '', DATABASE_URL: '' });
  it.each([
    ['backup --database-url', ['backup', '--database-url', url], '--database-url'],
    ['restore --dry-run --database-url', ['restore', 'latest', '--dry-run', '--database-url', url], '--database-url'],
    ['verify --restore-into', ['verify', 'latest', '--restore-into', url], '--restore-into'],
  ])('%s: exit 2 with the reason, the password never shown', async (_name, args, flag) => {
    const run = await runCli(args, { env: env() });
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(`mt-ops: ${flag}: ${reason}`);
  });

  it.each(['DATABASE_URL', 'VERIFY_DATABASE_URL'])('%s: exit 2 with the reason', async (name) => {
    const run = await runCli(['restore', 'latest', '--dry-run'], { env: { ...env(), [name]: url } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${name}: ${reason}`);
    expect(run.stderr).not.toContain('pw-secret');
  });
});
