/**
 * The Scheduler jobs of infra/, played in-process with croner: the same cron and time zone (or the operator file's
 * `schedules` override, keyed by the function a job triggers), one run at a time per job (a tick that finds the
 * previous run still going is skipped, with a warning), none once stopping.
 */
import { Cron } from 'croner';
import type { Config } from '../../shared/config/load';
import type { Logger } from '../../shared/log/logger';
import { errorMessage } from '../../shared/errors';
import { scheduleOverrides } from './wiring';
import type { Delivery, Job } from './delivery';
import type { Work } from './work';

export interface PlannedSchedule {
  job: Job;
  cron: string;
  timeZone: string;
  /** true when the operator file overrides the declared cron. */
  overridden: boolean;
}

/**
 * Each job that reaches a function, with its effective cron: the operator file's override (keyed by job name, or by
 * the function when it has one job; see scheduleOverrides) or the declared one. A key matching nothing is refused.
 */
export function plannedSchedules(jobs: readonly Job[], schedules: Config['file']['schedules']): PlannedSchedule[] {
  const overrides = scheduleOverrides([...jobs], schedules);
  return jobs
    .filter((job) => job.function)
    .map((job) => {
      const override = overrides.get(job.name);
      return {
        job,
        cron: override?.cron ?? job.cron,
        timeZone: override?.timeZone ?? job.timeZone,
        overridden: Boolean(override),
      };
    });
}

export interface RunningSchedule extends PlannedSchedule {
  next(): Date | null;
}

export function startSchedules(
  planned: readonly PlannedSchedule[],
  delivery: Delivery,
  work: Work,
  logger: Logger,
): { schedules: RunningSchedule[]; stop(): void } {
  const crons: Cron[] = [];
  const schedules = planned.map((p, jobIndex) => {
    /** When the run in progress started (one run at a time per job: a tick meanwhile is skipped, and said). */
    let runningSince: Date | undefined;
    const skipped = (self: Cron) => {
      if (work.stopping) return;
      const since = runningSince ? ` (running since ${runningSince.toISOString()})` : '';
      // croner calls this just after the tick it skips, and self.currentRun() is still the run that is going: the
      // skipped tick is the schedule's latest time at or before now (previousRuns looks strictly before its date).
      const tick = self.previousRuns(1, new Date(Date.now() + 1))[0] ?? new Date();
      logger.warn(
        { job: p.job.name, skippedAt: tick.toISOString() },
        `scheduled ${p.job.name} skipped: its previous run is still going${since}`,
      );
    };
    const cron = new Cron(p.cron, { timezone: p.timeZone, protect: skipped }, async (self: Cron) => {
      if (work.stopping) return;
      // A Pub/Sub message id is a decimal string: the run's time in ms and the job's position make it unique.
      const messageId = `${(self.currentRun() ?? new Date()).getTime()}${String(jobIndex).padStart(2, '0')}`;
      runningSince = new Date();
      try {
        await delivery.trigger(p.job, messageId);
      } catch (err) {
        logger.error({ err, job: p.job.name }, `scheduled ${p.job.name} could not be triggered: ${errorMessage(err)}`);
      } finally {
        runningSince = undefined;
      }
    });
    crons.push(cron);
    return { ...p, next: () => cron.nextRun() };
  });
  return {
    schedules,
    stop() {
      for (const c of crons) c.stop();
    },
  };
}
