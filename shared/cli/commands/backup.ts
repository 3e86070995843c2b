/** `mt-ops backup`: the backup job with progress on stderr and the id (or JSON) on stdout. */
import type { Command } from 'commander';
import { withStoreOptions } from '../options';
import { openBus } from '../../bus/open';
import { backupJob, backupOptions } from '../../backup/job';
import { Label } from '../../backup/request';
import { UsageError } from '../../errors';
import { jsonFailure } from '../failure';
import { commandContext } from '../context';
import { interruptSignal, interruptedBecause } from '../signals';
import { commaList, positiveInt, tableList, databaseUrlFlag } from '../options';
import { createProgress, formatBytes, formatDuration } from '../progress';
import { keys } from '../../backup/layout';
import { count } from '../../format';
import type { ObjectStore } from '../../storage/types';

interface BackupFlags {
  databaseUrl?: string;
  bucket?: string;
  env?: string;
  schemas?: string[];
  excludeTables?: string[];
  label?: string;
  jobs?: number;
  json?: boolean;
  progress: boolean;
}

export function registerBackupCommand(program: Command): void {
  withStoreOptions(program.command('backup'))
    .description('Take a consistent backup of the database into the bucket; prints the backup id')
    .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL)', databaseUrlFlag('--database-url'))
    .option('--schemas <a,b>', 'only these schemas (e.g. public,auth)', commaList)
    .option('--exclude-tables <s.t,...>', 'leave these tables out', tableList('--exclude-tables'))
    .option('--label <text>', 'a label recorded in the manifest (printable, at most 200 characters)', labelFlag)
    .option('--jobs <n>', 'parallel connections (one shared snapshot)', positiveInt)
    .option('--json', 'print a JSON summary instead of the id')
    .option('--no-progress', 'no progress output')
    .action(
      withJsonError(async (flags: BackupFlags) => {
        const ctx = commandContext(flags);
        const options = backupOptions(ctx, {
          request: {
            databaseUrl: flags.databaseUrl,
            label: flags.label,
            schemas: flags.schemas,
            excludeTables: flags.excludeTables,
            jobs: flags.jobs,
          },
          fields: { schemas: '--schemas', excludeTables: '--exclude-tables', databaseUrl: '--database-url' },
          trigger: { kind: 'manual' },
        });
        const progress = createProgress(process.stderr, flags.progress && !flags.json);
        const bus = openBus(ctx.config, { logger: ctx.logger });
        const started = Date.now();
        const interrupt = interruptSignal();
        let bytesSoFar = 0;
        try {
          const result = await backupJob(
            // At the default level the failure is our one line on stderr; at debug the log line (with stacks) too.
            { bus, logger: ctx.logger, logFailure: ctx.logger.isLevelEnabled('debug') },
            {
              ...options,
              signal: interrupt,
              onProgress: (p) => {
                if (p.phase === 'started') progress.line(`backup ${p.backupId}: ${count(p.tables, 'table')}`);
                if (p.phase === 'table') {
                  const elapsed = (Date.now() - started) / 1000;
                  if (p.done) {
                    bytesSoFar += p.rawBytes;
                    progress.line(`  ${p.table}: ${count(p.rows, 'row')}, ${formatBytes(p.rawBytes)}`);
                  }
                  const rate = formatBytes((bytesSoFar + (p.done ? 0 : p.rawBytes)) / Math.max(elapsed, 0.001));
                  progress.update(
                    p.total ? p.index / p.total : 1,
                    `${p.index}/${p.total} tables  ${p.table} ${p.rows} rows  ${rate}/s`,
                  );
                }
              },
            },
          ).catch((err: unknown) => {
            throw (
              interruptedBecause(
                interrupt,
                (sig) => `backup stopped by ${sig}: nothing kept (its objects removed), lease released`,
              ) ?? err
            );
          });
          progress.done();
          if (result.status === 'busy') {
            const message = `another backup of env ${ctx.env} is running (${result.holder}, lease until ${result.until}); nothing done`;
            if (flags.json)
              process.stdout.write(
                `${JSON.stringify({ status: 'busy', holder: result.holder, until: result.until })}\n`,
              );
            else process.stderr.write(`mt-ops: ${message}\n`);
            return;
          }
          if (result.status === 'duplicate') {
            process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${result.backupId}\n`);
            return;
          }
          const m = result.manifest;
          if (flags.json) {
            process.stdout.write(
              `${JSON.stringify({ status: 'completed', id: m.id, env: m.env, label: m.label, startedAt: m.startedAt, finishedAt: m.finishedAt, durationMs: Date.now() - started, totals: m.totals, bucketBytes: await bucketBytes(ctx.store, m.env, m.id), ...(m.largeObjects ? { largeObjects: { count: m.largeObjects.count, rawBytes: m.largeObjects.rawBytes, compressedBytes: m.largeObjects.compressedBytes } } : {}), bucket: ctx.store.url })}\n`,
            );
          } else {
            // The bucket figure is what `list` shows as SIZE (every object of the backup, manifest included); the table
            // data figure is the manifest's compressed total, and raw is the COPY text before gzip.
            const inBucket = await bucketBytes(ctx.store, m.env, m.id);
            progress.line(
              `backup ${m.id} complete: ${count(m.totals.tables, 'table')}, ${count(m.totals.rows, 'row')}, ${formatBytes(inBucket)} in the bucket (table data ${formatBytes(m.totals.compressedBytes)} compressed, ${formatBytes(m.totals.rawBytes)} raw)${m.largeObjects ? `, ${count(m.largeObjects.count, 'large object')} (${formatBytes(m.largeObjects.rawBytes)})` : ''} in ${formatDuration(Date.now() - started)}`,
            );
            process.stdout.write(`${m.id}\n`);
          }
        } finally {
          progress.done();
          await bus.close();
        }
      }),
    );
}

/**
 * With --json, a failure is a JSON object on stdout too (jsonFailure: the HTTP API's error shape, with backup's
 * `status`): `{"status":"failed","error":"...","issues":[...],"code":"..."}`; the one line on stderr and the exit code
 * as always.
 */
function withJsonError(action: (flags: BackupFlags) => Promise<void>): (flags: BackupFlags) => Promise<void> {
  return async (flags) => {
    try {
      await action(flags);
    } catch (err) {
      if (flags.json) process.stdout.write(`${JSON.stringify({ status: 'failed', ...jsonFailure(err) })}\n`);
      throw err;
    }
  };
}

/** Bytes of every object of a backup, as `list` counts them (SIZE). */
async function bucketBytes(store: ObjectStore, env: string, id: string): Promise<number> {
  let bytes = 0;
  for await (const object of store.list(keys.backupPrefix(env, id))) bytes += object.size;
  return bytes;
}

/** --label checked by the same rule as the HTTP body's label. */
function labelFlag(value: string): string {
  const result = Label.safeParse(value);
  if (!result.success) throw new UsageError(`--label: ${result.error.issues.map((i) => i.message).join('; ')}`);
  return value;
}
