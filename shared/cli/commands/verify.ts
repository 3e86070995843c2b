import type { Command } from 'commander';
import { databaseUrlFlag } from '../options';
import { withStoreOptions } from '../options';
import { commandContext } from '../context';
import { resolveBackup } from '../../backup/catalog';
import { recordVerify, verifyBackup } from '../../backup/verify';
import { runRestoreDrill } from '../../restore/drill';
import { createProgress, formatDuration } from '../progress';
import { OpsError, UsageError } from '../../errors';

interface VerifyFlags {
  bucket?: string;
  env?: string;
  json?: boolean;
  progress: boolean;
  restoreInto?: string;
  template?: string;
}

export function registerVerifyCommand(program: Command): Command {
  return withStoreOptions(program.command('verify'))
    .description('Re-read every object of a backup and check sha256, size and row count against its manifest; optionally restore it into a scratch database')
    .argument('[id]', 'backup id, or "latest"', 'latest')
    .option('--restore-into <url>', 'restore drill: restore into this scratch database and compare every table (rows and content hash)', databaseUrlFlag('--restore-into'))
    .option('--template <name>', 'create the scratch database from this template database first (and drop it after)')
    .option('--json', 'print the verify record as JSON')
    .option('--no-progress', 'no progress output')
    .action(async (id: string, flags: VerifyFlags) => {
      if (flags.template && !flags.restoreInto) throw new UsageError('--template needs --restore-into');
      const ctx = commandContext(flags);
      const entry = await resolveBackup(ctx.store, ctx.env, id);
      const manifest = entry.manifest;
      const progress = createProgress(process.stderr, flags.progress && !flags.json);
      const record = await verifyBackup(ctx.store, manifest, {
        record: false,
        onTable: (check, index, total) => {
          progress.update(index / total, `${index}/${total} ${check.table}`);
          if (!check.ok) progress.line(`  MISMATCH ${check.table}`);
        },
      });
      if (flags.restoreInto && record.ok) {
        progress.line(`restore drill into a scratch database...`);
        const drill = await runRestoreDrill({ store: ctx.store, manifest, databaseUrl: flags.restoreInto, template: flags.template });
        record.restoreDrill = { ok: drill.ok, database: drill.database, details: drill.details };
        if (!drill.ok) {
          record.ok = false;
          record.problems.push(...drill.details.map((d) => `restore drill: ${d}`));
        } else progress.line(`restore drill: ${drill.tables.length} tables match (rows and content) in ${formatDuration(drill.durationMs)}`);
      }
      await recordVerify(ctx.store, ctx.env, record);
      progress.done();
      if (flags.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
      else if (record.ok) {
        process.stdout.write(
          `backup ${manifest.id} verified: ${manifest.tables.length} tables, ${manifest.totals.rows} rows${manifest.largeObjects ? `, ${manifest.largeObjects.count} large objects` : ''}, checksums match${record.restoreDrill ? ', restore drill passed' : ''}\n`,
        );
      } else {
        process.stdout.write(`backup ${manifest.id} FAILED verification:\n${record.problems.map((p) => `  ${p}`).join('\n')}\n`);
      }
      if (!record.ok) throw new OpsError(`backup ${manifest.id} failed verification (${record.problems.length} problems)`, 'verify_failed');
    });
}
