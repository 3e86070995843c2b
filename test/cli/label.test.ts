/** Labels: one rule (printable, at most 200 characters) for the CLI and the HTTP body. */
import { describe, it, expect } from 'vitest';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';
import { Label, BackupRequestSchema } from '../../shared/backup/request';

const BAD: Array<[string, string]> = [
  ['an ANSI escape', '\x1b[31mred\x1b[0m'],
  ['a newline', 'two\nlines'],
  ['a NUL', 'a\u0000b'],
  ['a bidi override', 'abc\u202edcba'],
  ['300 characters', 'x'.repeat(300)],
];

describe('labels', () => {
  // (a NUL cannot be passed in argv at all)
  it.each(BAD.filter(([name]) => name !== 'a NUL'))(
    'the CLI refuses %s with exit 2 before touching anything',
    async (_name, label) => {
      const run = await runCli(['backup', '--label', label], {
        env: { DATABASE_URL: 'postgres://u:p@127.0.0.1:1/x', BACKUP_BUCKET: `file://${tempDir()}`, OPS_CONFIG: '' },
      });
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^mt-ops: --label: (printable text only|at most 200 characters)/);
    },
  );

  it.each(BAD)('the HTTP body refuses %s with the same rule', (_name, label) => {
    expect(BackupRequestSchema.safeParse({ label }).success).toBe(false);
    expect(Label.safeParse(label).success).toBe(false);
  });

  it('accepts printable text, accents and emoji included, up to 200 characters', () => {
    for (const label of ['before-season', 'Saison 2026 – été ⚽', 'x'.repeat(200)])
      expect(Label.safeParse(label).success).toBe(true);
  });
});
