/**
 * The one place probe events are built and published: a firing alert when a probe crosses its failure threshold
 * (again, escalated, when its failures grow more severe), the matching resolved alert when it crosses its success
 * threshold, and the same pair for SLO burn-rate incidents. Generic `alert` events: the fan-out routes them by
 * severity and labels without knowing about probes. A failed publish is logged as one warning and never fails the run.
 */
import type { EventBus, OpsEventInput } from '../bus/events';
import type { Logger } from '../log/logger';
import { errorMessage } from '../errors';
import { redactString } from '../log/redact';
import { IGNORE_MAINTENANCE_LABEL } from '../alerts/config';
import type { ProbeConfig } from './config';
import type { ProbeOutcome, ProbeRunResult } from './run';
import type { RetiredProbe, RetireResult } from './retired';

const MAX_EVIDENCE = 10;

function links(config: ProbeConfig, url: string | undefined): Array<{ title: string; url: string }> {
  return config.kind === 'http' && url && !url.includes('${')
    ? [{ title: 'probe target', url: redactString(url) }]
    : [];
}

export interface AlertOptions {
  /**
   * The routing's `ignoreMaintenanceLabel` (default `ignore_maintenance`): set to "true" on the alerts of a probe with
   * `ignoreMaintenance`, so that the fan-out sends them during a maintenance window as the probe pages during it.
   */
  ignoreMaintenanceLabel?: string;
}

/** The alert events of one outcome (none, one, or two when an incident and an SLO incident change together). */
export function alertEvents(
  env: string,
  config: ProbeConfig,
  outcome: ProbeOutcome,
  time: string,
  options: AlertOptions = {},
): OpsEventInput[] {
  const events: OpsEventInput[] = [];
  const labels: Record<string, string> = { ...config.labels, probe: config.name, kind: config.kind, env };
  if (config.ignoreMaintenance) labels[options.ignoreMaintenanceLabel ?? IGNORE_MAINTENANCE_LABEL] = 'true';
  const link = links(config, config.url);
  const t = outcome.transition;
  if (t) {
    const r = t.result;
    const evidence = [...r.failed.map((f) => f.message), ...(r.redirects ?? []).map((x) => `redirect: ${x}`)].slice(
      0,
      MAX_EVIDENCE,
    );
    if (t.kind === 'fire') {
      events.push({
        type: 'alert',
        severity: t.incident.severity,
        env,
        time,
        status: 'firing',
        fingerprint: t.incident.fingerprint,
        // down only when its failures count against availability; a lesser failure (a certificate's warning) is
        // said as the check it fails, the target still answering
        title: r.availabilityFailure
          ? `${config.name} is down${t.escalated ? ` (now ${t.incident.severity})` : ''}`
          : redactString(
              `${config.name} fails a ${t.incident.severity} check: ${r.failed[0]?.condition ?? 'a condition'}`,
            ),
        summary: redactString(
          `${config.failureThreshold} consecutive failed probe(s) of ${config.name}: ${r.failed[0]?.message ?? r.error ?? 'failed'}` +
            (r.status !== undefined ? ` (HTTP ${r.status}, ${r.latencyMs} ms)` : ''),
        ),
        evidence: evidence.map(redactString),
        labels,
        links: link,
        startsAt: t.incident.startsAt,
        source: 'probe',
      });
    } else {
      events.push({
        type: 'alert',
        severity: t.incident.severity,
        env,
        time,
        status: 'resolved',
        fingerprint: t.incident.fingerprint,
        title: `${config.name} is up again`,
        summary: `${config.successThreshold} consecutive good probe(s) of ${config.name}`,
        labels,
        links: link,
        startsAt: t.incident.startsAt,
        endsAt: t.endsAt,
        source: 'probe',
      });
    }
  }
  const slo = outcome.slo;
  if (slo) {
    const firing = slo.change === 'fire';
    events.push({
      type: 'alert',
      severity: slo.incident.severity,
      env,
      time,
      status: firing ? 'firing' : 'resolved',
      fingerprint: slo.incident.fingerprint,
      title: firing
        ? `${config.name}: error budget burning (${config.slo.availability}% objective)`
        : `${config.name}: error budget burn back to normal`,
      summary: firing ? (slo.burn.reason ?? '') : 'no burn-rate rule holds any more',
      evidence: Object.entries(slo.burn.rates).map(([w, rate]) => `burn rate ${w}: ${rate.toFixed(2)}`),
      labels: { ...labels, slo: 'availability' },
      links: link,
      startsAt: slo.incident.startsAt,
      ...(firing ? {} : { endsAt: slo.at }),
      source: 'probe',
    });
  }
  return events;
}

/**
 * The resolve of each incident a probe no longer configured had open (retired.ts): at the incident's own severity, so
 * it reaches every receiver its firing did, saying that the probe was removed, not that the target recovered.
 */
export function retiredEvents(env: string, probe: RetiredProbe, time: string): OpsEventInput[] {
  return probe.incidents.map((incident) => ({
    type: 'alert',
    severity: incident.severity,
    env,
    time,
    status: 'resolved',
    fingerprint: incident.fingerprint,
    title: `${probe.name} is no longer probed: removed from the configuration`,
    summary:
      `${probe.name} is not in the operator file any more, so nothing would ever resolve its ` +
      `${incident.slo ? 'error budget incident' : 'incident'}: closed now, without knowing whether the target recovered`,
    labels: {
      probe: probe.name,
      ...(probe.kind ? { kind: probe.kind } : {}),
      env,
      ...(incident.slo ? { slo: 'availability' } : {}),
    },
    startsAt: incident.startsAt,
    endsAt: probe.at,
    source: 'probe',
  }));
}

export interface ReportResult {
  /** Events the bus took (Pub/Sub, or the in-process bus's subscribers). */
  published: number;
  /**
   * Events the bus could not deliver and handed to its fallback instead (openBus's onUndelivered: in the CLI and the
   * functions, the bucket's outbox, whose next flush publishes them; it logs each one itself).
   */
  undelivered: number;
  /** Events whose publish threw (logged as a warning each). */
  failed: number;
}

/**
 * Publishes the run's alert events and logs one line per probe that failed, then the run's line (at info, for Cloud
 * Logging; at debug when `quiet`: a caller that says the counts itself); never throws.
 */
export async function reportProbes(
  bus: EventBus,
  logger: Logger,
  run: ProbeRunResult,
  configs: readonly ProbeConfig[],
  options: { quiet?: boolean } & AlertOptions = {},
): Promise<ReportResult> {
  const byName = new Map(configs.map((c) => [c.name, c]));
  const time = new Date().toISOString();
  const { counts, publish } = publisher(bus, logger);
  for (const outcome of run.outcomes) {
    const config = byName.get(outcome.name);
    if (!config) continue;
    if (outcome.stateProblem) logger.warn({ probe: outcome.name }, outcome.stateProblem);
    if (outcome.writeError) logger.warn({ probe: outcome.name }, outcome.writeError);
    if (outcome.configError) {
      logger.error({ probe: outcome.name }, outcome.configError);
      continue; // a configuration error pages no one: no alert event
    }
    for (const event of alertEvents(run.env, config, outcome, time, options)) await publish(event, outcome.name);
  }
  // probes the run's time limit skipped, warnings and results the bucket did not keep are neither passed nor failed:
  // counted beside them when there are any (the CLI's closing line says them the same way); so are the probes not due
  // (the schedule's run only), or a run where nothing was due would read as one with no probes
  const { passed, failed: probesFailed, warnings, skipped, notRecorded } = run;
  const notDue = run.notDue.length;
  logger[options.quiet ? 'debug' : 'info'](
    {
      passed,
      failed: probesFailed,
      warnings,
      skipped,
      notRecorded,
      notDue,
      durationMs: run.durationMs,
      published: counts.published,
      undelivered: counts.undelivered,
    },
    `probes: ${passed} passed, ${probesFailed} failed` +
      (warnings > 0 ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : '') +
      (skipped > 0 ? `, ${skipped} skipped` : '') +
      (notRecorded > 0 ? `, ${notRecorded} not recorded` : '') +
      (notDue > 0 ? `, ${notDue} not due` : ''),
  );
  return counts;
}

/**
 * Publishes the resolves of the incidents the retire pass closed (retired.ts), one warning line per retired probe and
 * one per problem; never throws.
 */
export async function reportRetired(
  bus: EventBus,
  logger: Logger,
  env: string,
  retired: RetireResult,
): Promise<ReportResult> {
  const time = new Date().toISOString();
  const { counts, publish } = publisher(bus, logger);
  for (const problem of retired.problems) logger.warn(problem);
  for (const probe of retired.retired) {
    logger.warn(
      { probe: probe.name, fingerprints: probe.incidents.map((i) => i.fingerprint) },
      `probe ${probe.name} is no longer configured: its open incident(s) resolved (${probe.incidents.map((i) => i.fingerprint).join(', ')})`,
    );
    for (const event of retiredEvents(env, probe, time)) await publish(event, probe.name);
  }
  return counts;
}

/** Publishing alert events one by one, counting what the bus took, handed to its fallback, or refused. */
function publisher(bus: EventBus, logger: Logger) {
  const counts: ReportResult = { published: 0, undelivered: 0, failed: 0 };
  const publish = async (event: OpsEventInput, probe: string) => {
    try {
      // a bus that could not deliver it (and handed it to its fallback, the outbox) resolves with no message id
      if (await bus.publish(event)) counts.published++;
      else counts.undelivered++;
    } catch (err) {
      counts.failed++;
      logger.warn(
        { probe, fingerprint: 'fingerprint' in event ? event.fingerprint : undefined },
        `could not publish the alert for ${probe}: ${errorMessage(err)}`,
      );
    }
  };
  return { counts, publish };
}
