/** `mt-ops probe` and `mt-ops uptime`: run the probes once, or show their recorded uptime and SLOs. */
import { InvalidArgumentError, type Command } from 'commander';
import { withStoreOptions } from '../options';
import { commandContext, noteMissingBucket, readOnlyContext } from '../context';
import { table } from '../progress';
import { describeBus, openBus } from '../../bus/open';
import { keepInOutbox } from '../../bus/outbox';
import { count } from '../../format';
import { OpsError, UsageError } from '../../errors';
import { interruptSignal, interruptedBecause } from '../signals';
import { probeJob, configuredProbes } from '../../probes/job';
import { unsetReferences } from '../../probes/config';
import { readUptime, selectProbes, type UptimeSummary } from '../../probes/plan';
import { probeKeys } from '../../probes/state';
import { redactString } from '../../log/redact';
import { pool } from '../../pool';
import { formatBudgetLeft } from '../../probes/slo';
import { isWarning, type ProbeOutcome } from '../../probes/run';
import { activeWindow } from '../../maintenance/window';
import { FileStore } from '../../storage/file-store';

interface ProbeFlags {
  bucket?: string;
  env?: string;
  once?: boolean;
  only?: string[];
  json?: boolean;
  timeLimit?: number;
}

function timeLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 3600)
    throw new InvalidArgumentError('must be a whole number of seconds from 1 to 3600');
  return n;
}

function names(value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('must be a comma-separated list of probe names');
  return items;
}

const pct = (v: number | undefined) => (v === undefined ? '-' : `${(v * 100).toFixed(v >= 0.9995 && v < 1 ? 3 : 2)}%`);
const dashes = (n: number): string[] => Array.from({ length: n }, () => '-');
const ms = (v: number | undefined) => (v === undefined ? '-' : v === Infinity ? '>10s' : `${Math.round(v)} ms`);

function outcomeJson(o: ProbeOutcome, s: UptimeSummary | undefined) {
  return {
    name: o.name,
    ok: o.result.ok,
    warning: isWarning(o),
    state: o.status,
    status: o.result.status,
    latencyMs: o.result.latencyMs,
    timings: o.result.timings,
    failed: o.result.failed.map((f) => ({ severity: f.severity, message: f.message })),
    error: o.result.error,
    redirects: o.result.redirects,
    excerpt: o.result.excerpt,
    details: o.result.details,
    skipped: o.skipped,
    writeError: o.writeError,
    configError: o.configError,
    uptime24h: s?.uptime['24h'].uptime,
    uptime30d: s?.uptime['30d'].uptime,
    p95Ms: s?.uptime['24h'].p95,
    budgetLeft: s?.budgetLeft,
  };
}

export function registerProbeCommands(program: Command): void {
  withStoreOptions(program.command('probe'))
    .description('Run every probe once (or --only some), record the results and print them; exits 1 if any probe fails')
    .option('--once', 'run each probe once and exit (the default)')
    .option('--only <names>', 'only these probes (comma-separated names)', names)
    .option('--json', 'print JSON')
    .option(
      '--time-limit <seconds>',
      'end the run within this many seconds; probes not started by then are skipped (default 55, within the minute schedule)',
      timeLimit,
    )
    .action(async (flags: ProbeFlags) => {
      const ctx = commandContext(flags, { check: unsetReferences });
      // a bucket URL naming a file is bad input (one line, exit 2, as `mt-ops uptime` says it), not every probe FAIL.
      // A folder's question only: a GCS bucket cannot name a file, and asking it would wait out the client's retries
      // (about a minute when it does not answer), before the run and its time limit even start
      if (ctx.store instanceof FileStore)
        await ctx.store.stat(probeKeys.state(ctx.env, 'probe')).catch((err: unknown) => {
          if (err instanceof UsageError) throw err;
        });
      // without an event bus (nothing in this process delivers alerts), a threshold this run crosses would page no
      // one, and the recorded state would not cross it again: its alert waits in the bucket's outbox instead, for the
      // next run of any function (the scheduled probe, every minute) to publish
      let kept = 0;
      const bus = openBus(ctx.config, {
        logger: ctx.logger,
        noSubscriber: true,
        onUndelivered: keepInOutbox(ctx.store, ctx.env, ctx.logger, { saved: () => kept++, quiet: true }),
      });
      // SIGINT/SIGTERM: one line and 130/143 (the probes are short; those recorded before it stay recorded)
      const interrupt = interruptSignal();
      const stopped = new Promise<never>((_resolve, reject) =>
        interrupt.addEventListener('abort', () =>
          reject(
            interruptedBecause(
              interrupt,
              (sig) => `probe stopped by ${sig}: results not printed (those already recorded are kept)`,
            ),
          ),
        ),
      );
      stopped.catch(() => {}); // raced below; never unhandled
      try {
        const { run } = await Promise.race([
          probeJob(
            { ...ctx, bus },
            {
              only: flags.only,
              all: true,
              summaries: true,
              // the closing line below says the run's counts: its log line (for Cloud Logging) only at debug
              quiet: true,
              ...(flags.timeLimit ? { deadlineMs: flags.timeLimit * 1000 } : {}),
            },
          ),
          stopped,
        ]);
        // failures (warnings apart) fail the command; results not recorded (the bucket refused the write, or the
        // state could not be read), each already logged as a warning by the report, are said once more below
        const { failed, warnings, skipped, notRecorded } = run;
        const summaries = new Map(run.outcomes.filter((o) => o.summary).map((o) => [o.name, o.summary!]));
        if (flags.json) {
          process.stdout.write(
            `${JSON.stringify({ passed: run.passed, failed, warnings, skipped, notRecorded, durationMs: run.durationMs, probes: run.outcomes.map((o) => outcomeJson(o, summaries.get(o.name))) }, null, 2)}\n`,
          );
        } else {
          const rows = run.outcomes.map((o) => {
            const s = summaries.get(o.name);
            // a row with no condition to show says why it has no sample (its state unreadable, no time left)
            const failed =
              o.configError ??
              (o.result.failed.length > 0
                ? o.result.failed.map((f) => f.message).join('; ')
                : (o.result.error ?? (o.writeError ? `not recorded: ${o.writeError}` : '')));
            return [
              o.name,
              o.skipped ? 'SKIPPED' : o.configError ? 'CONFIG' : o.result.ok ? 'ok' : isWarning(o) ? 'WARN' : 'FAIL',
              // said in the row itself, failed or not: a failure not recorded raises no alert (why: the log line)
              o.writeError && !o.skipped ? 'not recorded' : (o.status ?? '-'),
              o.result.status === undefined ? '-' : String(o.result.status),
              ms(o.result.latencyMs),
              pct(s?.uptime['24h'].uptime),
              pct(s?.uptime['30d'].uptime),
              ms(s?.uptime['24h'].p95),
              formatBudgetLeft(s?.budgetLeft),
              failed.length > 160 ? `${failed.slice(0, 160)}...` : failed,
            ];
          });
          process.stdout.write(
            `${table(['PROBE', 'RESULT', 'STATE', 'STATUS', 'LATENCY', 'UPTIME 24H', 'UPTIME 30D', 'P95 24H', 'BUDGET LEFT', 'FAILED CONDITIONS'], rows)}\n`,
          );
          process.stdout.write(
            `${run.passed} passed, ${failed} failed${warnings > 0 ? `, ${count(warnings, 'warning')}` : ''}${skipped > 0 ? `, ${skipped} skipped` : ''}${notRecorded > 0 ? `, ${notRecorded} not recorded` : ''}\n`,
          );
        }
        if (run.outcomes.length === 0 && run.notDue.length === 0)
          process.stderr.write(
            `mt-ops: no probes: the operator file's probes list is empty (remove it for the defaults)\n`,
          );
        // a probe in a maintenance window: which window, until when, and what that means for its samples
        const inWindow = run.outcomes.filter((o) => o.status === 'maintenance').map((o) => o.name);
        const window = inWindow.length > 0 ? activeWindow(ctx.config.file.maintenance ?? [], new Date()) : undefined;
        if (window)
          process.stderr.write(
            `mt-ops: maintenance window ${JSON.stringify(window.name)} until ${window.end.toISOString()}: the samples of ${inWindow.join(', ')} are recorded as maintenance (no alert, no error budget spent)\n`,
          );
        if (kept > 0)
          process.stderr.write(
            `mt-ops: ${count(kept, 'alert event')} kept in the bucket's outbox: the next run of any function publishes ${kept === 1 ? 'it' : 'them'}; ${describeBus(bus.choice)}\n`,
          );
        // not a pass either: probes the run had no time to start (or cut short), results the bucket did not keep. Each
        // said whether or not something graver also happened (the line thrown below, which ends the run, would hide
        // it): not recorded, then skipped, then failed
        const lost = `${count(notRecorded, 'result')} not recorded (see above)`;
        const cut = `${count(skipped, 'probe')} skipped: the run's time limit came first (before ${skipped === 1 ? 'it' : 'they'} could start, or before ${skipped === 1 ? 'its' : 'their'} own timeout)`;
        if (notRecorded > 0 && (failed > 0 || skipped > 0)) process.stderr.write(`mt-ops: ${lost}\n`);
        if (skipped > 0 && failed > 0) process.stderr.write(`mt-ops: ${cut}\n`);
        if (failed > 0) throw new OpsError(`${failed} probe(s) failed`, 'probe_failed');
        if (skipped > 0) throw new OpsError(cut, 'probe_failed');
        if (notRecorded > 0) throw new OpsError(lost, 'probe_failed');
      } finally {
        await bus.close();
      }
    });

  withStoreOptions(program.command('uptime'))
    .description(
      'Print uptime (1h, 24h, 7d, 30d), latency and SLO error budget per probe from the recorded state, without probing',
    )
    .option('--only <names>', 'only these probes (comma-separated names)', names)
    .option('--json', 'print JSON')
    .action(async (flags: ProbeFlags) => {
      const ctx = readOnlyContext(flags);
      await noteMissingBucket(ctx.store);
      const probes = selectProbes(configuredProbes(ctx.config), flags.only);
      const now = new Date();
      const reads = await pool(probes, 16, (p) =>
        readUptime(ctx.store, ctx.env, p, now, ctx.config.file.maintenance ?? []),
      );
      const reports = reads.map((r) => r.report);
      if (flags.json) process.stdout.write(`${JSON.stringify(reports, (_k, v) => (v === Infinity ? null : v), 2)}\n`);
      else {
        const rows = reports.map((s) => {
          const unreadable = s.unreadable === undefined ? '' : `unreadable: ${s.unreadable}`;
          // no figures for a state that could not be read: not those of a probe that never ran
          if (!('uptime' in s))
            return [
              s.name,
              ...dashes(7),
              `- / ${s.latencyObjectiveMs} ms`,
              `${s.objective}%`,
              ...dashes(2),
              unreadable,
            ];
          const alert = s.sloIncident
            ? `${s.sloIncident.severity}: ${s.burn.reason ?? 'burning'}`
            : s.incident
              ? `${s.incident.severity} since ${s.incident.startsAt}`
              : '';
          return [
            s.name,
            s.status,
            s.lastRunAt ? s.lastRunAt.replace(/\.\d+Z$/, 'Z') : 'never',
            pct(s.uptime['1h'].uptime),
            pct(s.uptime['24h'].uptime),
            pct(s.uptime['7d'].uptime),
            pct(s.uptime['30d'].uptime),
            pct(s.uptime['30d'].unknown),
            `${ms(s.uptime['24h'].p95)} / ${s.latencyObjectiveMs} ms`,
            `${s.objective}%`,
            formatBudgetLeft(s.budgetLeft),
            `${s.burn.rates['1h'].toFixed(1)} / ${s.burn.rates['6h'].toFixed(1)} / ${s.burn.rates['3d'].toFixed(1)}`,
            [alert, unreadable].filter(Boolean).join('; '),
          ];
        });
        process.stdout.write(
          `${table(['PROBE', 'STATE', 'LAST RUN (UTC)', '1H', '24H', '7D', '30D', 'UNKNOWN 30D', 'P95 24H / OBJECTIVE', 'SLO', 'BUDGET LEFT', 'BURN 1H/6H/3D', 'ALERT'], rows)}\n`,
        );
      }
      // each probe whose state could not be used, one line each (the report itself went to stdout), then exit 1
      const unreadable = reads.filter((r) => r.problem);
      for (const { report, problem } of unreadable)
        process.stderr.write(
          `mt-ops: ${redactString(`state of probe ${report.name} ${problem!.readFailed ? 'could not be read' : 'unreadable'} (${report.unreadable}): ${problem!.key}`)}\n`,
        );
      if (unreadable.length > 0)
        throw new OpsError(
          unreadable.length === 1
            ? 'the state of 1 probe is unreadable (see above)'
            : `the states of ${unreadable.length} probes are unreadable (see above)`,
          'state_unreadable',
        );
    });
}
