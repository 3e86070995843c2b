/** The probe job, as the function handler and the CLI both run it: configuration to options once, then plan -> run -> report. */
import type { Config } from '../config/load';
import type { EventBus } from '../bus/events';
import type { Logger } from '../log/logger';
import type { ObjectStore } from '../storage/types';
import { PROBE_CONCURRENCY, probesOf, type ProbeConfig } from './config';
import { runProbes, type ProbeRunResult, type RunOptions } from './run';
import { reportProbes, reportRetired, type ReportResult } from './report';
import { retireDue, retireIncidents } from './retired';

export interface ProbeJobDeps {
  config: Config;
  store: ObjectStore;
  env: string;
  bus: EventBus;
  logger: Logger;
}

export interface ProbeJobOptions extends Pick<RunOptions, 'concurrency' | 'deadlineMs' | 'now' | 'summaries'> {
  only?: string[];
  /** Every selected probe, due or not (the CLI); otherwise only those whose interval has passed (the schedule). */
  all?: boolean;
  /** The caller says the run's counts itself (the CLI's closing line): the run's log line at debug, not info. */
  quiet?: boolean;
  /**
   * Resolve the open incidents of probes no longer configured (retired.ts): the scheduled run only, whose operator
   * file is the deployed one (`mt-ops probe` may be run by hand with another file against the same bucket).
   */
  retire?: boolean;
}

/** The probes this configuration runs: the operator file's, or the defaults. */
export function configuredProbes(config: Config): ProbeConfig[] {
  return probesOf(config.file.probes, config.env);
}

/** Plan, run and record each due probe (planned inside the run: memory bounded by the concurrency), then report. */
export async function probeJob(
  deps: ProbeJobDeps,
  options: ProbeJobOptions = {},
): Promise<{ run: ProbeRunResult; report: ReportResult; probes: ProbeConfig[] }> {
  const probes = configuredProbes(deps.config);
  const concurrency = options.concurrency ?? deps.config.file.probes?.concurrency ?? PROBE_CONCURRENCY.default;
  const run = await runProbes(deps.store, deps.env, probes, {
    only: options.only,
    all: options.all,
    concurrency,
    deadlineMs: options.deadlineMs,
    maintenance: deps.config.file.maintenance,
    now: options.now,
    summaries: options.summaries,
  });
  // the run's alerts first: the retire pass reads the bucket again (a listing and a read per unknown probe), and a
  // bucket that stops answering then must not hold back (or, past the function's timeout, lose) what the run fired
  const report = await reportProbes(deps.bus, deps.logger, run, probes, {
    quiet: options.quiet,
    ignoreMaintenanceLabel: deps.config.file.routing.ignoreMaintenanceLabel,
  });
  const names = probes.map((p) => p.name);
  const now = options.now?.() ?? new Date();
  if (options.retire && retireDue(deps.store, names, now)) {
    const retired = await reportRetired(
      deps.bus,
      deps.logger,
      deps.env,
      await retireIncidents(deps.store, deps.env, names, now),
    );
    report.published += retired.published;
    report.undelivered += retired.undelivered;
    report.failed += retired.failed;
  }
  return { run, report, probes };
}
