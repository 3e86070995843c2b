/** Fan-out stage 2, normalise: our events, probe alerts and Cloud Monitoring incidents to the alert model. */
import type { OpsEvent } from '../bus/events';
import type { Severity } from '../bus/events';
import type { CmIncident, CmNotification, DecodedInput } from './decode';
import type { Alert, Normalised, Notice } from './model';

/**
 * Stage 2, normalise: every input becomes the one alert model (fingerprint, status, severity, ...) plus info
 * notices for the digest. Pure. A success closes the incident its failure opened (backup.succeeded resolves
 * `mt-ops/<env>/backup`), so resolves go out at once; a resolve for an incident nobody was told about is silent.
 */
export function normalise(input: Exclude<DecodedInput, { kind: 'poison' }>, env: string): Normalised {
  return input.kind === 'incident' ? normaliseIncident(input.notification, env) : normaliseEvent(input.event);
}

const none: Normalised = { alerts: [], notices: [] };

export function normaliseEvent(event: OpsEvent): Normalised {
  const base = {
    env: event.env,
    labels: { type: event.type },
    links: [] as Alert['links'],
    details: {} as Record<string, string>,
  };
  const suite = (
    job: string,
    status: Alert['status'],
    severity: Severity,
    title: string,
    summary: string,
    details: Record<string, string> = {},
  ): Alert => ({
    ...base,
    fingerprint: `mt-ops/${event.env}/${job}`,
    status,
    severity,
    title,
    summary,
    source: 'mt-ops',
    labels: { ...base.labels, job },
    startsAt: event.time,
    ...(status === 'resolved' ? { endsAt: event.time } : {}),
    details,
  });
  const notice = (title: string, summary: string): Notice => ({
    type: event.type,
    env: event.env,
    time: event.time,
    title,
    summary,
  });
  switch (event.type) {
    case 'backup.failed':
      return {
        alerts: [
          suite('backup', 'firing', event.severity, `Backup failed (${event.env})`, event.reason, {
            trigger: event.trigger,
            ...(event.table ? { table: event.table } : {}),
          }),
        ],
        notices: [],
      };
    case 'backup.succeeded':
      return {
        alerts: [
          suite('backup', 'resolved', 'critical', `Backup failed (${event.env})`, `backup ${event.backupId} completed`),
        ],
        notices: [
          notice(
            `Backup ${event.backupId}`,
            `${event.tables} tables, ${event.rows} rows, ${event.bytes} bytes in ${Math.round(event.durationMs / 1000)} s (${event.trigger})`,
          ),
        ],
      };
    case 'verify.failed':
      return {
        alerts: [
          suite(
            'verify',
            'firing',
            event.severity,
            `Verify failed (${event.env})`,
            event.reason,
            event.backupId ? { backupId: event.backupId } : {},
          ),
        ],
        notices: [],
      };
    case 'verify.succeeded':
      return {
        alerts: [
          suite('verify', 'resolved', 'critical', `Verify failed (${event.env})`, `backup ${event.backupId} verified`),
        ],
        notices: [
          notice(`Verify of ${event.backupId}`, `${event.restoreDrill ? 'with restore drill: ' : ''}${event.details}`),
        ],
      };
    case 'retention.failed':
      return {
        alerts: [suite('retention', 'firing', event.severity, `Retention cleanup failed (${event.env})`, event.reason)],
        notices: [],
      };
    case 'retention.completed':
      return {
        alerts: [
          suite('retention', 'resolved', 'warning', `Retention cleanup failed (${event.env})`, 'cleanup completed'),
        ],
        notices: [
          notice(
            'Cleanup',
            `${event.removed} removed, ${event.orphansRemoved} orphans removed, ${event.kept} kept, ${event.bytesFreed} bytes freed`,
          ),
        ],
      };
    case 'deployment.failed':
      return {
        alerts: [
          suite(
            'deployment',
            'firing',
            event.severity,
            `Deployment failed (${event.env})`,
            `step ${event.step}: ${event.reason}`,
            { project: event.project },
          ),
        ],
        // every deployment is in the digest, not only the one that opens the incident
        notices: [notice('Deployment failed', `${deployment(event)}: step ${event.step}: ${event.reason}`)],
      };
    case 'deployment.succeeded':
      return {
        alerts: [
          suite('deployment', 'resolved', 'warning', `Deployment failed (${event.env})`, 'deployment succeeded'),
        ],
        notices: [notice('Deployment succeeded', deployment(event))],
      };
    case 'probe.state_changed': {
      if (event.to === 'unknown')
        return {
          alerts: [],
          notices: [notice(`Probe ${event.probe} unknown`, event.reason ?? `${event.from} -> unknown`)],
        };
      const status = event.to === 'down' ? 'firing' : 'resolved';
      return {
        alerts: [
          {
            ...base,
            fingerprint: `probe/${event.env}/${event.probe}`,
            status,
            severity: event.severity,
            title: `Probe ${event.probe} is down (${event.env})`,
            summary: event.reason ?? `${event.from} -> ${event.to}`,
            source: 'probe',
            labels: { ...base.labels, probe: event.probe },
            startsAt: event.time,
            ...(status === 'resolved' ? { endsAt: event.time } : {}),
          },
        ],
        notices: [],
      };
    }
    case 'alert':
      return normaliseGenericAlert(event);
    default:
      return none;
  }
}

/** What a deployment was: the project and region, and the commit and build when known. */
function deployment(e: Extract<OpsEvent, { type: 'deployment.succeeded' | 'deployment.failed' }>): string {
  return `${e.project} (${e.region})${e.commit ? ` at ${e.commit}` : ''}${e.build ? `, build ${e.build}` : ''}`;
}

/** The generic `alert` event (the probes, and anything else that speaks the alert shape). */
function normaliseGenericAlert(e: Extract<OpsEvent, { type: 'alert' }>): Normalised {
  const details: Record<string, string> = {};
  if (e.evidence.length > 0) details.evidence = e.evidence.join('\n');
  return {
    alerts: [
      {
        fingerprint: e.fingerprint,
        status: e.status,
        severity: e.severity,
        title: e.title,
        summary: e.summary,
        labels: { ...e.labels, type: 'alert' },
        source: e.source,
        links: e.links,
        startsAt: e.startsAt,
        ...(e.status === 'resolved' ? { endsAt: e.endsAt ?? e.time } : {}),
        env: e.env,
        details,
      },
    ],
    notices: [],
  };
}

/**
 * Cloud Monitoring's severities onto ours: Critical pages; Error and Warning are investigated within the hour;
 * "No severity" (or none, on older policies) is treated as a warning too, so an incident never waits for the digest.
 */
export function monitoringSeverity(value: string | null | undefined): Severity {
  const s = (value ?? '').trim().toLowerCase();
  if (s === 'critical') return 'critical';
  return 'warning';
}

export function normaliseIncident(n: CmNotification, env = 'cloud'): Normalised {
  const i: CmIncident = n.incident;
  const iso = (s: number | null | undefined) => (s && s > 0 ? new Date(s * 1000).toISOString() : undefined);
  if (n.version.toLowerCase() === 'test') {
    return {
      alerts: [],
      notices: [
        {
          type: 'cloud-monitoring.test',
          env,
          time: iso(i.started_at) ?? new Date(0).toISOString(),
          title: 'Cloud Monitoring test notification',
          summary: i.summary ?? '',
        },
      ],
    };
  }
  const status = i.state === 'closed' ? 'resolved' : 'firing';
  const startsAt = iso(i.started_at) ?? new Date(0).toISOString();
  const endsAt = status === 'resolved' ? (iso(i.ended_at) ?? startsAt) : undefined;
  const labels: Record<string, string> = { ...i.metadata?.user_labels, ...i.policy_user_labels };
  if (i.policy_name) labels.policy = i.policy_name;
  if (i.condition_name) labels.condition = i.condition_name;
  if (i.resource?.type) labels.resource_type = i.resource.type;
  if (i.scoping_project_id) labels.project = i.scoping_project_id;
  const details: Record<string, string> = {};
  if (i.documentation?.content) details.documentation = i.documentation.content;
  if (i.observed_value != null) details.observed_value = String(i.observed_value);
  if (i.threshold_value != null) details.threshold_value = String(i.threshold_value);
  if (i.resource_display_name) details.resource = i.resource_display_name;
  if (i.metric?.type) details.metric = i.metric.type;
  if (i.condition_name) details.condition = i.condition_name;
  const title =
    i.documentation?.subject || i.policy_name || i.condition_name || `Cloud Monitoring incident ${i.incident_id}`;
  return {
    alerts: [
      {
        fingerprint: `cloud-monitoring/${i.incident_id}`,
        status,
        severity: monitoringSeverity(i.severity),
        title,
        summary: i.summary ?? '',
        labels,
        source: 'cloud-monitoring',
        links: i.url ? [{ title: 'Cloud Monitoring incident', url: i.url }] : [],
        startsAt,
        ...(endsAt ? { endsAt } : {}),
        env,
        details,
      },
    ],
    notices: [],
  };
}
