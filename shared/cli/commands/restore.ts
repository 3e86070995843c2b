/** `mt-ops restore`: a backup or legacy file into a database, all or nothing, with a plan and confirmation. */
import type { Command } from 'commander';
import { withStoreOptions } from '../options';
import { existsSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { requireDatabaseUrl } from '../../config/load';
import { resolveBackup } from '../../backup/catalog';
import { BACKUP_ID_PATTERN, legacyKeys } from '../../backup/layout';
import { commandContext } from '../context';
import { interruptSignal, interruptedBecause } from '../signals';
import { nonNegativeNumber, tableList, databaseUrlFlag } from '../options';
import { createProgress, formatBytes } from '../progress';
import type { Logger } from '../../log/logger';
import { UsageError, truncate } from '../../errors';
import {
  backupSource,
  legacySource,
  planRestore,
  refusal,
  restore,
  type RestoreOptions,
  type RestorePlan,
  type RestoreSource,
} from '../../restore/restore';
import { formatPlan, formatResult, recoveryInWords } from '../../restore/plan';
import { largeObjectsOverwrite } from '../../restore/large-objects';

interface RestoreFlags {
  databaseUrl?: string;
  bucket?: string;
  env?: string;
  tables?: string[];
  yes?: boolean;
  cascade?: boolean;
  safetyBackup: boolean;
  allowSchemaDrift?: boolean;
  fireTriggers?: boolean;
  refreshMaterializedViews?: boolean;
  includeAuth?: boolean;
  dryRun?: boolean;
  lockTimeout?: number;
  json?: boolean;
  progress: boolean;
}

export function registerRestoreCommand(program: Command): void {
  withStoreOptions(program.command('restore'))
    .description(
      'Restore a backup (or a legacy database_backup_*.json[.gz] file) into an existing schema, all or nothing',
    )
    .argument(
      '[source]',
      'backup id, "latest", a legacy file\'s key as list shows it, or the path of a legacy file',
      'latest',
    )
    .option('--database-url <url>', 'target PostgreSQL URL (default: DATABASE_URL)', databaseUrlFlag('--database-url'))
    .option('--tables <s.t,...>', 'restore only these tables', tableList('--tables'))
    .option('--yes', 'overwrite restored tables that hold rows without asking')
    .option(
      '--cascade',
      'also empty tables that are not restored but reference restored ones (refused without it, naming them)',
    )
    .option('--no-safety-backup', 'do not take a backup of the target first')
    .option('--allow-schema-drift', 'restore the common columns when the target schema differs')
    .option(
      '--fire-triggers',
      'let user triggers fire and check foreign keys row by row (slower; by default a role that may loads with session_replication_role = replica and checks each key once)',
    )
    .option(
      '--refresh-materialized-views',
      'refresh every materialized view after the load (default: those populated in the backup; the others are left unpopulated)',
    )
    .option('--no-refresh-materialized-views', 'leave every materialized view as it is')
    .option('--include-auth', 'legacy files: restore auth_users into the auth.users columns that exist')
    .option(
      '--lock-timeout <seconds>',
      'wait at most this long for a locked table, then stop naming the session holding it (default 30)',
      nonNegativeNumber,
    )
    .option('--dry-run', 'print the plan and change nothing')
    .option('--json', 'print JSON')
    .option('--no-progress', 'no progress output')
    .action(async (arg: string, flags: RestoreFlags) => {
      const started = Date.now();
      const ctx = commandContext(flags);
      const databaseUrl = requireDatabaseUrl(ctx.config, flags.databaseUrl, '--database-url');
      const source = await resolveSource(arg, flags, ctx);
      const progress = createProgress(process.stderr, flags.progress && !flags.json);
      const memory = memoryLog(ctx.logger);
      const options: RestoreOptions = {
        databaseUrl,
        source,
        tables: flags.tables,
        yes: Boolean(flags.yes),
        cascade: Boolean(flags.cascade),
        allowSchemaDrift: Boolean(flags.allowSchemaDrift),
        fireTriggers: Boolean(flags.fireTriggers),
        refreshMaterializedViews: flags.refreshMaterializedViews,
        safetyBackup: flags.safetyBackup ? { store: ctx.store, env: ctx.env } : false,
        confirm: confirmOnTty,
        lockTimeoutSeconds: flags.lockTimeout,
        onProgress: (p) => {
          memory.phase(p.phase === 'table' ? `load ${p.table}${p.done ? ' done' : ''}` : p.phase);
          if (p.phase === 'safety-backup') {
            if (p.backupId) progress.line(`safety backup taken: ${p.backupId} (label pre-restore)`);
            else progress.line('taking a safety backup of the target...');
          } else if (p.phase === 'table') {
            const rate = formatBytes(p.bytes);
            progress.update(
              p.total ? (p.index + (p.done ? 1 : 0)) / p.total : 1,
              `${p.index + (p.done ? 1 : 0)}/${p.total} tables  ${p.table} ${p.rows} rows ${rate}`,
            );
          } else if (p.phase === 'committing') progress.update(1, 'committing');
        },
      };
      if (flags.dryRun) {
        const plan = await planRestore(options);
        if (flags.json) process.stdout.write(`${JSON.stringify(planJson(plan), null, 2)}\n`);
        else process.stdout.write(`${formatPlan(plan)}\n`);
        const refused = refusal(plan.preflight);
        if (refused) throw refused;
        return;
      }
      const interrupt = interruptSignal();
      try {
        const result = await restore({ ...options, signal: interrupt }).catch((err: unknown) => {
          throw (
            interruptedBecause(interrupt, (sig) => `restore stopped by ${sig}: rolled back, the target is unchanged`) ??
            err
          );
        });
        progress.done();
        const total = Date.now() - started;
        if (flags.json) {
          process.stdout.write(
            `${JSON.stringify({ status: 'restored', database: result.plan.database, source: result.plan.source, safetyBackupId: result.safetyBackupId, tables: result.tables, rows: result.rows, bytes: result.bytes, sequences: result.sequences, ...(result.largeObjects ? { largeObjects: result.largeObjects } : {}), rebuiltIndexes: result.rebuiltIndexes, timings: result.timings, durationMs: result.durationMs, totalMs: total, recovery: recoveryInWords(total), notes: result.plan.notes }, null, 2)}\n`,
          );
        } else process.stdout.write(`${formatResult(result, total)}\n`);
      } finally {
        memory.stop();
        progress.done();
      }
    });
}

/**
 * At debug level (LOG_LEVEL=debug): the process's memory every 50 ms and at each phase change, tagged with the phase
 * (plan, load <table>, load <table> done: index builds and key checks, sequences, committing). rss against heapUsed
 * (JS objects) and arrayBuffers (Buffers: stream chunks, zlib output, garbage not yet collected) says where a peak
 * comes from.
 */
function memoryLog(logger: Logger): { phase(p: string): void; stop(): void } {
  if (!logger.isLevelEnabled('debug')) return { phase: () => {}, stop: () => {} };
  let phase = 'plan';
  const mb = (n: number) => Math.round(n / 1e5) / 10;
  const log = () => {
    const m = process.memoryUsage();
    logger.debug(
      {
        phase,
        rssMb: mb(m.rss),
        heapUsedMb: mb(m.heapUsed),
        heapTotalMb: mb(m.heapTotal),
        externalMb: mb(m.external),
        arrayBuffersMb: mb(m.arrayBuffers),
      },
      'memory',
    );
  };
  log();
  const timer = setInterval(log, 50);
  timer.unref();
  return {
    phase: (p) => {
      if (p === phase) return;
      phase = p;
      log();
    },
    stop: () => clearInterval(timer),
  };
}

async function resolveSource(
  arg: string,
  flags: RestoreFlags,
  ctx: ReturnType<typeof commandContext>,
): Promise<RestoreSource> {
  if (arg === 'latest' || BACKUP_ID_PATTERN.test(arg)) {
    if (flags.includeAuth) throw new UsageError('--include-auth applies to legacy files only');
    const entry = await resolveBackup(ctx.store, ctx.env, arg);
    return backupSource(ctx.store, entry.manifest);
  }
  const includeAuth = Boolean(flags.includeAuth);
  // A legacy key as `list` shows it: a local file of that name wins, else the object in the bucket (streamed).
  const inStore = existsSync(arg) ? undefined : legacyKeys(ctx.env, arg);
  if (inStore) {
    for (const key of inStore) {
      if (await ctx.store.stat(key)) return legacySource({ path: key, open: () => ctx.store.get(key), includeAuth });
    }
    throw new UsageError(
      `no legacy backup ${arg} in ${ctx.store.url} (looked for ${inStore.join(' and ')}) nor a local file of that name`,
    );
  }
  if (/\.json(\.gz)?$/i.test(arg) || arg.includes('/') || existsSync(arg)) {
    if (!existsSync(arg) || !statSync(arg).isFile()) throw new UsageError(`no such legacy backup file: ${arg}`);
    return legacySource({ path: arg, includeAuth });
  }
  throw new UsageError(
    `${JSON.stringify(arg)} is neither a backup id (like 20261129T030000Z-7f3a), "latest", nor a legacy file path`,
  );
}

/** On a TTY, typing the database's name confirms overwriting tables that hold rows. */
async function confirmOnTty(plan: RestorePlan): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    if (plan.preflight.overwrites.length > 0) {
      process.stderr.write(
        `${plan.preflight.overwrites.length} table(s) in ${plan.database} hold rows and will be overwritten:\n  ${plan.preflight.overwrites.join('\n  ')}\n`,
      );
    }
    const lo = largeObjectsOverwrite(plan.largeObjects);
    if (lo) process.stderr.write(`${plan.database} holds ${lo}\n`);
    const answer = (await rl.question(`type the database name (${plan.database}) to continue: `)).trim();
    if (answer === plan.database) return true;
    // declined: say so (the caller's "pass --yes" is for when no one could be asked)
    throw new UsageError(
      `not confirmed (the answer was ${JSON.stringify(truncate(answer, 40))}, not the database's name): nothing changed`,
    );
  } finally {
    rl.close();
  }
}

function planJson(plan: RestorePlan) {
  const p = plan.preflight;
  return {
    database: plan.database,
    source: plan.source,
    tables: p.tables.map((t) => ({ table: t.key, rows: plan.rows[t.key] ?? 0, columns: t.columns })),
    truncate: p.truncate,
    overwrites: p.overwrites,
    cascade: p.cascade,
    deferred: p.order.deferred,
    sequences:
      plan.sequences === 'recorded'
        ? p.sequences.map((s) => ({ sequence: `${s.schema}.${s.name}`, lastValue: s.lastValue, isCalled: s.isCalled }))
        : 'max(id)',
    materializedViews: plan.materializedViews.map((v) => ({ view: v.key, action: v.action, why: v.why })),
    safetyBackup: plan.safetyBackup,
    ...(plan.largeObjects
      ? { largeObjects: { ...plan.largeObjects, existing: plan.largeObjects.existing.length } }
      : {}),
    drift: p.drift,
    notes: plan.notes,
    problems: p.problems,
  };
}
