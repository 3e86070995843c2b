import { describe, it, expect } from 'vitest';
import { runCli } from '../support/cli';

describe('mt-ops CLI', () => {
  it('prints help and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: mt-ops');
  });

  it('rejects an unknown flag with exit 2 and a one-line reason', async () => {
    const r = await runCli(['--no-such-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain("unknown option '--no-such-flag'");
  });
});
