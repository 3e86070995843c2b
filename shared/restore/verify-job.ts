import type { ObjectStore } from '../storage/types';
import type { EventBus } from '../bus/events';
import type { Logger } from '../log/logger';
import { resolveBackup } from '../backup/catalog';
import { verifyBackup, recordVerify } from '../backup/verify';
import type { VerifyRecord } from '../backup/manifest';
import { errorMessage } from '../errors';
import type { Deadline } from '../deadline';
import { redactString } from '../log/redact';
import { runRestoreDrill, DrillEnvironmentError, DrillSetupError, type RestoreDrillResult } from './drill';

/**
 * The scheduled verify (weekly by default): the newest complete backup's checksums, then, when a scratch database
 * is configured (VERIFY_DATABASE_URL), the restore drill into it. Records verify.json beside the backup and
 * publishes verify.succeeded (info) or verify.failed (critical) with the details.
 */
export interface VerifyJobOptions {
  store: ObjectStore;
  env: string;
  bus: EventBus;
  logger: Logger;
  /** The scratch database of the restore drill; no drill when absent. */
  verifyDatabaseUrl?: string;
  /** Operator switch (config verify.restoreDrill); default true. */
  restoreDrill?: boolean;
  now?: () => Date;
  /** The run's time limit: at its stop time the verify stops, records nothing, and verify.failed names the limit. */
  deadline?: Deadline;
}

export interface VerifyJobResult {
  record?: VerifyRecord;
  drill?: RestoreDrillResult;
  ok: boolean;
}

export async function verifyNewestAndReport(options: VerifyJobOptions): Promise<VerifyJobResult> {
  const { store, env, bus, logger } = options;
  const now = options.now ?? (() => new Date());
  let backupId: string | undefined;
  try {
    const entry = await resolveBackup(store, env, 'latest');
    const manifest = entry.manifest;
    backupId = manifest.id;
    const signal = options.deadline?.signal;
    const record = await verifyBackup(store, manifest, { record: false, now, ...(signal ? { signal } : {}) });
    let drill: RestoreDrillResult | undefined;
    let drillNotRun: string | undefined;
    if (record.ok && options.verifyDatabaseUrl && options.restoreDrill !== false) {
      // A drill that cannot be set up (VERIFY_DATABASE_URL wrong or unreachable) is not held against the backup.
      drill = await runRestoreDrill({ store, manifest, databaseUrl: options.verifyDatabaseUrl, ...(signal ? { signal } : {}) }).catch((err: unknown) => {
        if (!(err instanceof DrillSetupError || err instanceof DrillEnvironmentError)) throw err;
        drillNotRun = `restore drill not run: ${redactString(err.message)}`;
        logger.warn({ env, backupId }, drillNotRun);
        return undefined;
      });
      if (drill) {
        record.restoreDrill = { ok: drill.ok, database: drill.database, details: drill.details };
        if (!drill.ok) record.ok = false;
      }
    }
    // the limit reached after the last check: nothing is recorded that the run did not finish
    signal?.throwIfAborted();
    await recordVerify(store, env, record);
    const time = now().toISOString();
    if (record.ok) {
      const details = [`${manifest.tables.length} tables, ${manifest.totals.rows} rows: checksums match`, ...(drill ? drill.details : [drillNotRun ?? 'no restore drill (VERIFY_DATABASE_URL not set)'])].join('; ');
      logger.info({ env, backupId, drill: Boolean(drill) }, `verify succeeded: ${details}`);
      await bus.publish({ type: 'verify.succeeded', severity: 'info', env, time, backupId: manifest.id, restoreDrill: Boolean(drill), details });
    } else {
      const reason = [...record.problems, ...(drill && !drill.ok ? drill.details.map((d) => `restore drill: ${d}`) : [])].join('; ');
      logger.error({ env, backupId }, `verify failed: ${reason}`);
      await bus.publish({ type: 'verify.failed', severity: 'critical', env, time, backupId: manifest.id, reason: redactString(reason) });
    }
    return { record, ...(drill ? { drill } : {}), ok: record.ok };
  } catch (err) {
    const reason = redactString(errorMessage(err));
    logger.error({ env, backupId, err }, `verify failed: ${reason}`);
    await bus.publish({ type: 'verify.failed', severity: 'critical', env, time: now().toISOString(), ...(backupId ? { backupId } : {}), reason });
    return { ok: false };
  }
}
