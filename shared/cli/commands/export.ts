/** `mt-ops export`: a backup as a legacy JSON file. */
import { count } from '../../format';
import type { Command } from 'commander';
import { withStoreOptions } from '../options';
import { commandContext } from '../context';
import { resolveBackup } from '../../backup/catalog';
import { UsageError } from '../../errors';
import { formatBytes } from '../progress';
import { exportLegacy } from '../../restore/legacy-export';

interface ExportFlags {
  bucket?: string;
  env?: string;
  format: string;
  out?: string;
  json?: boolean;
}

export function registerExportCommand(program: Command): void {
  withStoreOptions(program.command('export'))
    .description(
      "Write a backup's public tables as a legacy database_backup_YYYYMMDD_HHMMSS.json.gz, readable by today's tools",
    )
    .argument('<id>', 'backup id, or "latest"')
    .option('--format <format>', 'output format: legacy-json', 'legacy-json')
    .option('--out <path>', 'output file, or a directory to write database_backup_YYYYMMDD_HHMMSS.json.gz into')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: ExportFlags) => {
      if (flags.format !== 'legacy-json')
        throw new UsageError(`--format: unknown format ${JSON.stringify(flags.format)}; expected legacy-json`);
      if (!flags.out) throw new UsageError('--out: required (a file or a directory)');
      const ctx = commandContext(flags);
      const entry = await resolveBackup(ctx.store, ctx.env, id);
      const result = await exportLegacy({ store: ctx.store, manifest: entry.manifest, out: flags.out });
      const lo = entry.manifest.largeObjects?.count ?? 0;
      if (flags.json)
        process.stdout.write(
          `${JSON.stringify({ backupId: entry.manifest.id, ...result, ...(lo ? { largeObjectsNotExported: lo } : {}) }, null, 2)}\n`,
        );
      else {
        process.stderr.write(
          `exported ${count(result.tables.length, 'public table')}, ${count(result.rows, 'row')} of backup ${entry.manifest.id} (${formatBytes(result.bytes)})\n`,
        );
        if (lo)
          process.stderr.write(
            `not exported: ${lo} large objects (the legacy format has no place for them; restore the backup itself to get them)\n`,
          );
        process.stdout.write(`${result.path}\n`);
      }
    });
}
