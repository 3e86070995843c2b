/** `mt-ops cleanup`: the retention job by the configured policy or the one given by flags. */
import type { Command } from 'commander';
import { withStoreOptions } from '../options';
import { InvalidArgumentError } from 'commander';
import { commandContext } from '../context';
import { interruptSignal, interruptedBecause } from '../signals';
import { nonNegativeInt, nonNegativeNumber } from '../options';
import { formatBytes, table } from '../progress';
import type { RetentionResult } from '../../retention/run';
import { retentionJob, retentionOptions } from '../../retention/job';
import { openBus } from '../../bus/open';
import { checkPolicy, POLICY_RULES } from '../../retention/policy';
import type { RetentionPolicy } from '../../retention/policy';
import { OpsError, UsageError } from '../../errors';

interface CleanupFlags {
  bucket?: string;
  env?: string;
  dryRun?: boolean;
  json?: boolean;
  keepLast?: number;
  keepWithinDays?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  minKeep?: number;
}

/** Policy flags replace the configured policy for this run (they are not merged with it). */
export function policyFromFlags(n: string | undefined, flags: CleanupFlags): RetentionPolicy | undefined {
  const policy: RetentionPolicy = {};
  for (const key of POLICY_RULES) if (flags[key] !== undefined) policy[key] = flags[key];
  if (n !== undefined) {
    if (!/^\d+$/.test(n))
      throw new UsageError(`cleanup N: ${JSON.stringify(n)} must be a non-negative integer (keep the N newest)`);
    if (policy.keepLast !== undefined && policy.keepLast !== Number(n)) {
      throw new UsageError(
        `contradictory: cleanup ${n} means --keep-last ${n}, but --keep-last ${policy.keepLast} was given too`,
      );
    }
    policy.keepLast = Number(n);
  }
  if (Object.keys(policy).length === 0) return undefined;
  checkPolicy(policy);
  return policy;
}

export function registerCleanupCommand(program: Command): void {
  withStoreOptions(program.command('cleanup'))
    .description('Remove old backups by the retention policy (configured, or given here); never the last good one')
    .argument('[n]', 'shortcut for --keep-last N (as db_tools.sh cleanup N)')
    .option('--dry-run', 'show what would be removed, remove nothing')
    .option('--keep-last <n>', 'keep the N newest', nonNegativeInt)
    .option('--keep-within-days <d>', 'keep all within D days of the newest backup', nonNegativeNumber)
    .option('--keep-hourly <n>', 'keep the newest of each of the last N hours', nonNegativeInt)
    .option('--keep-daily <n>', 'keep the newest of each of the last N days', nonNegativeInt)
    .option('--keep-weekly <n>', 'keep the newest of each of the last N ISO weeks', nonNegativeInt)
    .option('--keep-monthly <n>', 'keep the newest of each of the last N months', nonNegativeInt)
    .option('--keep-yearly <n>', 'keep the newest of each of the last N years', nonNegativeInt)
    .option('--min-keep <n>', 'floor: at least N backups remain (default from config: 3)', (v: string) => {
      const n = nonNegativeInt(v);
      if (n < 1) throw new InvalidArgumentError('must be at least 1');
      return n;
    })
    .option('--json', 'print JSON')
    .action(async (n: string | undefined, flags: CleanupFlags) => {
      const flagPolicy = policyFromFlags(n, flags);
      const ctx = commandContext(flags);
      const bus = openBus(ctx.config, { logger: ctx.logger });
      const result = await retentionJob(
        // At the default level a failure is our own output and one line on stderr; at debug the log line too.
        {
          bus,
          store: ctx.store,
          env: ctx.env,
          trigger: 'manual',
          logger: ctx.logger,
          logFailure: ctx.logger.isLevelEnabled('debug'),
        },
        retentionOptions(ctx.config, {
          policy: flagPolicy,
          minKeep: flags.minKeep,
          dryRun: flags.dryRun,
          signal: interruptSignal(),
        }),
      ).finally(() => bus.close());
      if (result.stopped) {
        const done = result.outcomes.filter((o) => o.status === 'removed').length;
        throw interruptedBecause(
          interruptSignal(),
          (sig) => `cleanup stopped by ${sig}: ${done} backup(s) removed, every other one left whole`,
        );
      }
      process.stdout.write(flags.json ? `${JSON.stringify(toJson(result), null, 2)}\n` : render(result));
      if (result.failed > 0)
        throw new OpsError(
          `${result.failed} backup(s) could not be removed; they are intact or partly removed and will be retried on the next run`,
        );
    });
}

function toJson(r: RetentionResult) {
  const outcome = new Map(r.outcomes.map((o) => [o.id, o]));
  const row = (
    backup: (typeof r.plan.orphans)[number]['backup'],
    kind: string,
    remove: boolean,
    reasons: string[],
  ) => ({
    id: backup.id,
    kind,
    time: backup.time.toISOString(),
    bytes: backup.bytes,
    action: remove ? 'remove' : 'keep',
    reasons,
    outcome: outcome.get(backup.id),
  });
  return {
    env: r.plan.env,
    dryRun: r.dryRun,
    backups: [
      ...r.plan.decisions.map((d) => row(d.backup, d.backup.kind, !d.keep, d.reasons)),
      ...r.plan.safety.map((d) =>
        row(d.backup, 'safety', !d.keep, d.keep ? d.reasons : ['safety backup, past its retention']),
      ),
      ...r.plan.orphans.map((o) => row(o.backup, o.backup.kind, o.remove, [o.reason])),
    ],
    totals: {
      kept: r.kept,
      removed: r.removed,
      orphansRemoved: r.orphansRemoved,
      temporaryRemoved: r.temporaryRemoved,
      temporaryBytes: r.temporaryBytes,
      skipped: r.skipped,
      failed: r.failed,
      bytesFreed: r.bytesFreed,
    },
  };
}

function render(r: RetentionResult): string {
  const j = toJson(r);
  // temporary objects a killed writer left (the file store's .tmp/), past the orphan grace period
  const temporary = `${r.temporaryRemoved} temporary object${r.temporaryRemoved === 1 ? '' : 's'} removed${r.temporaryRemoved > 0 ? ` (${formatBytes(r.temporaryBytes)})` : ''}`;
  if (j.backups.length === 0) return `no backups for env ${r.plan.env}${r.dryRun ? '' : `; ${temporary}`}\n`;
  const rows = j.backups.map((b) => {
    const status = b.outcome ? ` (${b.outcome.status}${b.outcome.reason ? `: ${b.outcome.reason}` : ''})` : '';
    return [
      b.id,
      b.time.slice(0, 19).replace('T', ' '),
      b.kind,
      formatBytes(b.bytes),
      (r.dryRun && b.action === 'remove' ? 'would remove' : b.action.toUpperCase()) + status,
      b.reasons.join(', '),
    ];
  });
  const t = j.totals;
  const verb = r.dryRun ? 'would free' : 'freed';
  return `${table(['ID', 'TIME (UTC)', 'KIND', 'SIZE', 'ACTION', 'REASONS'], rows)}\n\n${t.kept} kept, ${r.dryRun ? j.backups.filter((b) => b.action === 'remove').length + ' to remove' : `${t.removed} removed, ${t.orphansRemoved} orphans removed, ${temporary}`}, ${t.skipped} skipped (held), ${t.failed} failed; ${verb} ${formatBytes(t.bytesFreed)}${r.dryRun ? ' (dry run: nothing removed)' : ''}\n`;
}
