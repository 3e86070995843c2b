/**
 * The retention job as the scheduled function and `mt-ops cleanup` both run it: the `retention` section mapped to
 * options once (`retentionOptions`), then plan and run (`runRetention`) -> report (`reportRetention`).
 */
import type { Config } from '../config/load';
import type { ObjectStore } from '../storage/types';
import type { Deadline } from '../deadline';
import type { RetentionPolicy } from './policy';
import { runRetention, type RetentionOptions, type RetentionResult } from './run';
import { reportRetention, type RetentionReportDeps } from './report';

/** The configured retention, with what the caller overrides (the CLI's policy flags replace the policy whole). */
export function retentionOptions(
  config: Config,
  request: { policy?: RetentionPolicy; minKeep?: number; dryRun?: boolean; signal?: AbortSignal } = {},
): RetentionOptions {
  const section = config.file.retention;
  return {
    policy: request.policy ?? section.policy,
    minKeep: request.minKeep ?? section.minKeep,
    safety: section.safety,
    orphanGraceHours: section.orphanGraceHours,
    concurrency: section.deleteConcurrency,
    dryRun: request.dryRun,
    signal: request.signal,
  };
}

/** One retention run: run, then report. Rethrows the run's error once it is reported. */
export async function retentionJob(
  deps: RetentionReportDeps & { store: ObjectStore; env: string; trigger: 'manual' | 'scheduled'; deadline?: Deadline },
  options: RetentionOptions,
): Promise<RetentionResult> {
  let result: RetentionResult;
  try {
    result = await runRetention(deps.store, deps.env, options);
  } catch (error) {
    await reportRetention(deps, { env: deps.env, trigger: deps.trigger, deadline: deps.deadline, error });
    throw error;
  }
  await reportRetention(deps, {
    env: deps.env,
    trigger: deps.trigger,
    deadline: deps.deadline,
    signal: options.signal,
    result,
  });
  return result;
}
