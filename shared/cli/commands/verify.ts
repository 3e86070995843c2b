import type { Command } from 'commander';
import { commandContext } from '../context';
import { resolveBackup } from '../../backup/catalog';
import { verifyBackup } from '../../backup/verify';
import { createProgress } from '../progress';
import { OpsError } from '../../errors';

interface VerifyFlags {
  bucket?: string;
  env?: string;
  json?: boolean;
  progress: boolean;
}

export function registerVerifyCommand(program: Command): Command {
  return program
    .command('verify')
    .description('Re-read every object of a backup and check sha256, size and row count against its manifest')
    .argument('[id]', 'backup id, or "latest"', 'latest')
    .option('--bucket <url>', 'bucket URL (default: BACKUP_BUCKET)')
    .option('--env <name>', 'environment name (default: OPS_ENV)')
    .option('--json', 'print the verify record as JSON')
    .option('--no-progress', 'no progress output')
    .action(async (id: string, flags: VerifyFlags) => {
      const ctx = commandContext(flags);
      const entry = await resolveBackup(ctx.store, ctx.env, id);
      const manifest = entry.manifest!;
      const progress = createProgress(process.stderr, flags.progress && !flags.json);
      const record = await verifyBackup(ctx.store, manifest, {
        onTable: (check, index, total) => {
          progress.update(index / total, `${index}/${total} ${check.table}`);
          if (!check.ok) progress.line(`  MISMATCH ${check.table}`);
        },
      });
      progress.done();
      if (flags.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
      else if (record.ok) {
        process.stdout.write(`backup ${manifest.id} verified: ${manifest.tables.length} tables, ${manifest.totals.rows} rows, checksums match\n`);
      } else {
        process.stdout.write(`backup ${manifest.id} FAILED verification:\n${record.problems.map((p) => `  ${p}`).join('\n')}\n`);
      }
      if (!record.ok) throw new OpsError(`backup ${manifest.id} failed verification (${record.problems.length} problems)`, 'verify_failed');
    });
}
