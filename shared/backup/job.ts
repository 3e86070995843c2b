/**
 * The backup job as the function handlers and the CLI both run it: the configuration mapped to options once
 * (`backupOptions`), then run -> report (`backupJob`).
 */
import type { Config } from '../config/load';
import { requireDatabaseUrl } from '../config/load';
import type { ObjectStore } from '../storage/types';
import { runBackup, type BackupOptions, type BackupResult } from './run';
import { reportBackup, type BackupReportDeps } from './report';
import type { BackupRequest } from './request';

export interface BackupJobInput {
  /** What the caller asked for (HTTP body, trigger message, CLI flags); the `backup` section fills in the rest. */
  request: BackupRequest & { jobs?: number; databaseUrl?: string };
  /** Where the request's scope lists came from, for error paths: `body`/`data` (`body.schemas`) or the CLI's flags. */
  fields: { schemas: string; excludeTables: string; /** the CLI's flag (none over HTTP) */ databaseUrl?: string };
  trigger: NonNullable<BackupOptions['trigger']>;
}

/** The one mapping from configuration (operator file, environment) and a request to the options of a backup. */
export function backupOptions(
  deps: {
    config: Config;
    store: ObjectStore;
    env: string;
    /** The runtime's stop (a server shutting down). */ signal?: AbortSignal;
  },
  input: BackupJobInput,
): BackupOptions {
  const section = deps.config.file.backup;
  const { request } = input;
  return {
    databaseUrl: requireDatabaseUrl(deps.config, request.databaseUrl, input.fields.databaseUrl),
    store: deps.store,
    env: deps.env,
    label: request.label,
    scope: {
      schemas: request.schemas ?? section.schemas,
      excludeTables: request.excludeTables ?? section.excludeTables,
    },
    scopeFields: {
      schemas: request.schemas ? input.fields.schemas : 'backup.schemas',
      excludeTables: request.excludeTables ? input.fields.excludeTables : 'backup.excludeTables',
    },
    jobs: request.jobs ?? section.jobs,
    compressionLevel: section.compressionLevel,
    leaseTtlMs: section.leaseTtlSeconds * 1000,
    statementTimeoutSeconds: section.statementTimeoutSeconds,
    trigger: input.trigger,
    ...(deps.signal ? { signal: deps.signal } : {}),
  };
}

/** One backup: run, then report (log and publish). Rethrows the run's error once it is reported. */
export async function backupJob(deps: BackupReportDeps, options: BackupOptions): Promise<BackupResult> {
  const { logger } = deps;
  const env = options.env;
  const trigger = (options.trigger ?? { kind: 'manual' }).kind;
  const started = Date.now();
  let result: BackupResult;
  try {
    result = await runBackup({
      ...options,
      onWarning: (message) => {
        logger.warn({ env }, message);
        options.onWarning?.(message);
      },
    });
  } catch (error) {
    await reportBackup(deps, { env, trigger, durationMs: Date.now() - started, deadline: options.deadline, error });
    throw error;
  }
  await reportBackup(deps, { env, trigger, durationMs: Date.now() - started, deadline: options.deadline, result });
  return result;
}
