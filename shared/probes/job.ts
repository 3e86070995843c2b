/** The probe job, as the function handler and the CLI both run it: configuration to options once, then plan -> run -> report. */
import type { Config } from '../config/load';
import type { EventBus } from '../bus/events';
import type { Logger } from '../log/logger';
import type { ObjectStore } from '../storage/types';
import { PROBE_CONCURRENCY, probesOf, type ProbeConfig } from './config';
import { planProbes } from './plan';
import { runProbes, type ProbeRunResult, type RunOptions } from './run';
import { reportProbes, type ReportResult } from './report';

export interface ProbeJobDeps {
  config: Config;
  store: ObjectStore;
  env: string;
  bus: EventBus;
  logger: Logger;
}

export interface ProbeJobOptions extends Pick<RunOptions, 'concurrency' | 'deadlineMs' | 'now'> {
  only?: string[];
  /** Every selected probe, due or not (the CLI); otherwise only those whose interval has passed (the schedule). */
  all?: boolean;
}

/** The probes this configuration runs: the operator file's, or the defaults. */
export function configuredProbes(config: Config): ProbeConfig[] {
  return probesOf(config.file.probes, config.env);
}

export async function probeJob(deps: ProbeJobDeps, options: ProbeJobOptions = {}): Promise<{ run: ProbeRunResult; report: ReportResult; probes: ProbeConfig[] }> {
  const probes = configuredProbes(deps.config);
  const now = options.now ?? (() => new Date());
  const planned = await planProbes(deps.store, deps.env, probes, { now: now(), only: options.only, all: options.all });
  for (const p of planned) if (p.problem) deps.logger.warn({ probe: p.probe.config.name }, p.problem);
  const concurrency = options.concurrency ?? deps.config.file.probes?.concurrency ?? PROBE_CONCURRENCY.default;
  const run = await runProbes(deps.store, deps.env, planned, { concurrency, deadlineMs: options.deadlineMs, maintenance: deps.config.file.maintenance, now });
  const report = await reportProbes(deps.bus, deps.logger, run, probes);
  return { run, report, probes };
}
