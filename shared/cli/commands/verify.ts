/** `mt-ops verify`: the verify job on one backup (checksums, and the restore drill with --restore-into). */
import type { Command } from 'commander';
import { databaseUrlFlag } from '../options';
import { withStoreOptions } from '../options';
import { commandContext } from '../context';
import { openBus } from '../../bus/open';
import { verifyJob, verifyOptions } from '../../restore/verify-job';
import { createProgress, formatDuration } from '../progress';
import { count } from '../../format';
import { OpsError } from '../../errors';
import { interruptSignal, interruptedBecause } from '../signals';

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
    .description(
      'Re-read every object of a backup and check sha256, size and row count against its manifest; optionally restore it into a scratch database',
    )
    .argument('[id]', 'backup id, or "latest"', 'latest')
    .option(
      '--restore-into <url>',
      'restore drill: restore into this scratch database and compare every table (rows and content hash)',
      databaseUrlFlag('--restore-into'),
    )
    .option('--template <name>', 'create the scratch database from this template database first (and drop it after)')
    .option('--json', 'print the verify record as JSON')
    .option('--no-progress', 'no progress output')
    .addHelpText(
      'after',
      '\nExit: 0 when the checks pass and the result is recorded beside the backup; 1 when a check fails, or when the\nresult could not be recorded (printed first, then one line saying so); 2 for bad input.',
    )
    .action(async (id: string, flags: VerifyFlags) => {
      const ctx = commandContext(flags);
      // SIGINT/SIGTERM: the checks stop, nothing is recorded (a drill's scratch database is rolled back or dropped)
      const interrupt = interruptSignal();
      const options = verifyOptions(
        { ...ctx, signal: interrupt },
        {
          trigger: 'manual',
          id,
          restoreInto: flags.restoreInto,
          template: flags.template,
        },
      );
      const progress = createProgress(process.stderr, flags.progress && !flags.json);
      const bus = openBus(ctx.config, { logger: ctx.logger });
      try {
        const result = await verifyJob(
          // At the default level the failure is our own output and one line on stderr; at debug the log line too.
          { bus, logger: ctx.logger, logFailure: ctx.logger.isLevelEnabled('debug') },
          {
            ...options,
            onTable: (check, index, total) => {
              progress.update(index / total, `${index}/${total} ${check.table}`);
              if (!check.ok) progress.line(`  MISMATCH ${check.table}`);
            },
            onDrillStart: () => progress.line(`restore drill into a scratch database...`),
          },
        ).catch((err: unknown) => {
          throw interruptedBecause(interrupt, (sig) => `verify stopped by ${sig}: nothing recorded`) ?? err;
        });
        const { record, manifest } = result as Required<Pick<typeof result, 'record' | 'manifest'>> & typeof result;
        if (result.drill?.ok)
          progress.line(
            `restore drill: ${count(result.drill.tables.length, 'table')} ${result.drill.tables.length === 1 ? 'matches' : 'match'} (rows and content) in ${formatDuration(result.drill.durationMs)}`,
          );
        progress.done();
        if (flags.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
        else if (record.ok) {
          process.stdout.write(
            `backup ${manifest.id} verified: ${count(manifest.tables.length, 'table')}, ${count(manifest.totals.rows, 'row')}${manifest.largeObjects ? `, ${count(manifest.largeObjects.count, 'large object')}` : ''}, checksums match${record.restoreDrill ? ', restore drill passed' : ''}\n`,
          );
        } else {
          process.stdout.write(
            `backup ${manifest.id} FAILED verification:\n${record.problems.map((p) => `  ${p}`).join('\n')}\n`,
          );
        }
        // the result first (above), then whether it could be recorded: exit 0 only when both went well
        const notRecorded = result.recordError
          ? `the verify record could not be written: ${result.recordError}`
          : undefined;
        if (!record.ok) {
          if (notRecorded) process.stderr.write(`mt-ops: ${notRecorded}\n`);
          throw new OpsError(
            `backup ${manifest.id} failed verification (${record.problems.length} problems)`,
            'verify_failed',
          );
        }
        if (notRecorded)
          throw new OpsError(`backup ${manifest.id} verified, but ${notRecorded}`, 'verify_not_recorded');
      } finally {
        progress.done();
        await bus.close();
      }
    });
}
