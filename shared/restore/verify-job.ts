/**
 * The verify job as the scheduled function and `mt-ops verify` both run it: the configuration or the flags mapped to
 * options once (`verifyOptions`), then run (`runVerify`: a backup's checksums, then the restore drill into a scratch
 * database when one is given, and verify.json recorded beside the backup) -> report (`reportVerify`: the one place
 * verify.succeeded / verify.failed are built and published). Both paths write the same record.
 */
import { count } from '../format';
import type { Config } from '../config/load';
import type { ObjectStore } from '../storage/types';
import type { EventBus } from '../bus/events';
import type { Logger } from '../log/logger';
import { resolveBackup } from '../backup/catalog';
import { verifyBackup, recordVerify, type TableCheck } from '../backup/verify';
import type { Manifest, VerifyRecord } from '../backup/manifest';
import { InterruptedError, UsageError, errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { withDeadlineSignal, type Deadline } from '../deadline';
import { runRestoreDrill, DrillEnvironmentError, DrillSetupError, type RestoreDrillResult } from './drill';

export interface VerifyOptions {
  store: ObjectStore;
  env: string;
  /** A backup id, or `latest` (the newest complete backup that is not a safety backup). */
  id: string;
  /**
   * `scheduled`: every failure is reported and the job answers ok: false, and a drill that cannot be set up (the
   * configured scratch database wrong or unreachable) is skipped, noted, not held against the backup.
   * `manual`: bad input (an unknown id, a scratch database that does not exist or is not empty) and an unreachable
   * scratch server are thrown for the operator, with nothing recorded or published.
   */
  trigger: 'manual' | 'scheduled';
  /** The restore drill's scratch database; no drill when absent (`noDrill` says why). */
  drill?: { databaseUrl: string; template?: string };
  noDrill?: string;
  onTable?: (check: TableCheck, index: number, total: number) => void;
  onDrillStart?: () => void;
  /** The run's time limit: at its stop time the verify stops, records nothing, and verify.failed names the limit. */
  deadline?: Deadline;
  /**
   * The runtime's stop (`npm start` on SIGINT/SIGTERM): the verify stops at once (a read in flight is cut off),
   * records nothing and publishes nothing; the job rethrows the InterruptedError (an event is redelivered later).
   */
  signal?: AbortSignal;
  /** Called once the backup is found (`latest` resolved). */
  onResolved?: (manifest: Manifest) => void;
  now?: () => Date;
}

/** What one verify did: the record written to verify.json, and the drill's result when it ran. */
export interface VerifyRun {
  manifest: Manifest;
  record: VerifyRecord;
  drill?: RestoreDrillResult;
  /** Why no drill ran (not asked for, or could not be set up). */
  drillNotRun?: string;
  /** A drill was asked for but could not be set up (the schedule's scratch database is wrong or unreachable). */
  drillSkipped?: boolean;
  /** verify.json could not be written (by hand only: on the schedule that throws): why, scrubbed. */
  recordError?: string;
}

export interface VerifyJobResult {
  manifest?: Manifest;
  record?: VerifyRecord;
  drill?: RestoreDrillResult;
  /** The result could not be recorded beside the backup (by hand only): why. */
  recordError?: string;
  ok: boolean;
}

/**
 * The one mapping to verify options: the schedule verifies `latest` with the drill into VERIFY_DATABASE_URL
 * (unless `verify.restoreDrill` is false); the CLI verifies the id it is given, with the drill into --restore-into.
 */
export function verifyOptions(
  deps: { config: Config; store: ObjectStore; env: string; signal?: AbortSignal },
  request: { trigger: 'scheduled' } | { trigger: 'manual'; id: string; restoreInto?: string; template?: string },
): VerifyOptions {
  const base = { store: deps.store, env: deps.env, ...(deps.signal ? { signal: deps.signal } : {}) };
  if (request.trigger === 'manual') {
    if (request.template && !request.restoreInto) throw new UsageError('--template needs --restore-into');
    return {
      ...base,
      id: request.id,
      trigger: 'manual',
      ...(request.restoreInto
        ? { drill: { databaseUrl: request.restoreInto, template: request.template } }
        : { noDrill: 'no restore drill (no --restore-into)' }),
    };
  }
  const url = deps.config.env.VERIFY_DATABASE_URL;
  const enabled = deps.config.file.verify.restoreDrill;
  return {
    ...base,
    id: 'latest',
    trigger: 'scheduled',
    ...(url && enabled
      ? { drill: { databaseUrl: url } }
      : {
          noDrill: url
            ? 'no restore drill (verify.restoreDrill is false)'
            : 'no restore drill (VERIFY_DATABASE_URL not set)',
        }),
  };
}

/** Checksums, then the drill (only when they match), then verify.json. Throws when the backup cannot be read at all. */
export async function runVerify(options: VerifyOptions): Promise<VerifyRun> {
  const { store, env } = options;
  const manifest = (await resolveBackup(store, env, options.id)).manifest;
  options.onResolved?.(manifest);
  const signal = withDeadlineSignal(options.signal, options.deadline);
  signal?.throwIfAborted();
  const record = await verifyBackup(store, manifest, {
    record: false,
    now: options.now,
    onTable: options.onTable,
    ...(signal ? { signal } : {}),
  });
  let drill: RestoreDrillResult | undefined;
  let drillNotRun = options.drill ? undefined : options.noDrill;
  let drillSkipped = false;
  if (record.ok && options.drill) {
    options.onDrillStart?.();
    drill = await runRestoreDrill({
      store,
      manifest,
      databaseUrl: options.drill.databaseUrl,
      template: options.drill.template,
      ...(signal ? { signal } : {}),
    }).catch((err: unknown) => {
      // A drill that cannot be set up says nothing about the backup; on the schedule it is noted and skipped.
      if (options.trigger === 'manual' || !(err instanceof DrillSetupError || err instanceof DrillEnvironmentError))
        throw err;
      drillNotRun = `restore drill not run: ${redactString(err.message)}`;
      drillSkipped = true;
      return undefined;
    });
    if (drill) {
      record.restoreDrill = { ok: drill.ok, database: drill.database, details: drill.details };
      if (!drill.ok) {
        record.ok = false;
        record.problems.push(...drill.details.map((d) => `restore drill: ${d}`));
      }
    }
  }
  // the limit reached after the last check: nothing is recorded that the run did not finish
  signal?.throwIfAborted();
  let recordError: string | undefined;
  try {
    await recordVerify(store, env, record);
  } catch (err) {
    // by hand, the result is the operator's still (printed, then one line saying it was not recorded); on the
    // schedule an unrecorded verify fails the run as before
    if (options.trigger !== 'manual') throw err;
    recordError = redactString(errorMessage(err));
  }
  return {
    manifest,
    record,
    ...(recordError ? { recordError } : {}),
    ...(drill ? { drill } : {}),
    ...(drillNotRun ? { drillNotRun } : {}),
    ...(drillSkipped ? { drillSkipped } : {}),
  };
}

export interface VerifyReportDeps {
  bus: EventBus;
  logger: Logger;
  /** false when the caller prints the failure itself (the CLI's one line at the default level). */
  logFailure?: boolean;
}

/** The one place verify events are built and published, with their log lines. */
export async function reportVerify(
  deps: VerifyReportDeps,
  outcome: { env: string; trigger: VerifyOptions['trigger']; now?: () => Date } & (
    { run: VerifyRun } | { error: unknown; backupId?: string }
  ),
): Promise<void> {
  const { bus, logger, logFailure = true } = deps;
  const { env } = outcome;
  const time = (outcome.now ?? (() => new Date()))().toISOString();
  if ('error' in outcome) {
    // Stopped with the process (a server shutting down): nothing was checked to the end, so nothing is reported; the
    // job rethrows and its caller says so in one line (npm start: "... stopped: interrupted by SIGTERM").
    if (outcome.error instanceof InterruptedError) return;
    // An operator's bad input, or their scratch server unreachable: theirs to fix, nothing said about the backup.
    if (
      outcome.trigger === 'manual' &&
      (outcome.error instanceof UsageError || outcome.error instanceof DrillEnvironmentError)
    )
      return;
    const reason = redactString(errorMessage(outcome.error));
    const backupId = outcome.backupId;
    if (logFailure) logger.error({ env, backupId, err: outcome.error }, `verify failed: ${reason}`);
    await bus.publish({
      type: 'verify.failed',
      severity: 'critical',
      env,
      time,
      ...(backupId ? { backupId } : {}),
      reason,
    });
    return;
  }
  const { manifest, record, drill, drillNotRun, drillSkipped } = outcome.run;
  const backupId = manifest.id;
  if (drillSkipped) logger.warn({ env, backupId }, drillNotRun);
  if (record.ok) {
    const details = [
      `${count(manifest.tables.length, 'table')}, ${count(manifest.totals.rows, 'row')}: checksums match`,
      ...(drill ? drill.details : [drillNotRun ?? 'no restore drill']),
    ].join('; ');
    logger.info({ env, backupId, drill: Boolean(drill) }, `verify succeeded: ${details}`);
    await bus.publish({
      type: 'verify.succeeded',
      severity: 'info',
      env,
      time,
      backupId,
      restoreDrill: Boolean(drill),
      details,
    });
  } else {
    const reason = record.problems.join('; ');
    if (logFailure) logger.error({ env, backupId }, `verify failed: ${reason}`);
    await bus.publish({
      type: 'verify.failed',
      severity: 'critical',
      env,
      time,
      backupId,
      reason: redactString(reason),
    });
  }
}

/** One verify: run, then report. See VerifyOptions.trigger for what is thrown and what is reported. */
export async function verifyJob(deps: VerifyReportDeps, options: VerifyOptions): Promise<VerifyJobResult> {
  let run: VerifyRun;
  let backupId: string | undefined;
  try {
    run = await runVerify({ ...options, onResolved: (m) => ((backupId = m.id), options.onResolved?.(m)) });
  } catch (error) {
    // A failure after the backup was found names it (a failed read, a failed record).
    await reportVerify(deps, { env: options.env, trigger: options.trigger, now: options.now, error, backupId });
    if (options.trigger === 'manual' || error instanceof InterruptedError) throw error;
    return { ok: false };
  }
  await reportVerify(deps, { env: options.env, trigger: options.trigger, now: options.now, run });
  return {
    manifest: run.manifest,
    record: run.record,
    ...(run.drill ? { drill: run.drill } : {}),
    ...(run.recordError ? { recordError: run.recordError } : {}),
    ok: run.record.ok,
  };
}
