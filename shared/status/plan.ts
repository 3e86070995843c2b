/**
 * The status page's reads (plan: reads only): every shown probe's state document, the backups through backup's public
 * read (shared/backup), the incidents and silences of the alert fan-out, the maintenance windows and the retention
 * policy from the configuration. A part that cannot be read is left out and named in `problems` (the page says so);
 * it never fails the whole page.
 */
import type { Config } from '../config/load';
import type { ObjectStore } from '../storage/types';
import { errorMessage } from '../errors';
import { pool } from '../pool';
import { backupFacts } from '../backup';
import { readIncidents } from '../alerts/state';
import { listSilences } from '../alerts/silences';
import type { IncidentState } from '../alerts/lifecycle';
import { configuredProbes } from '../probes/job';
import { latencyObjective, readState } from '../probes/plan';
import type { ProbeConfig } from '../probes/config';
import type { ProbeInput, StatusState } from './model';
import { hostOf } from './scrub';

export interface StatusSources {
  config: Config;
  store: ObjectStore;
  env: string;
}

/** The probes the page shows: the configured ones, less `status.hideProbes`. */
export function shownProbes(config: Config): ProbeConfig[] {
  const hidden = new Set(config.file.status.hideProbes);
  return configuredProbes(config).filter((p) => !hidden.has(p.name));
}

/** `within 30 days, monthly 12`: the retention policy in words. */
export function describePolicy(policy: Record<string, number | undefined>): string {
  const words: Record<string, string> = {
    keepLast: 'last',
    keepWithinDays: 'within days',
    keepHourly: 'hourly',
    keepDaily: 'daily',
    keepWeekly: 'weekly',
    keepMonthly: 'monthly',
    keepYearly: 'yearly',
  };
  const parts = Object.entries(policy)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => (k === 'keepWithinDays' ? `within ${v} days` : `${words[k] ?? k} ${v}`));
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** Host names that must never show: the database URLs' (and the SMTP server's), and every postgres probe's. */
function hiddenHosts(config: Config, probes: readonly ProbeConfig[]): string[] {
  const env = config.env;
  const hosts = [...hostOf(env.DATABASE_URL), ...hostOf(env.VERIFY_DATABASE_URL), ...hostOf(env.SMTP_URL)];
  for (const p of probes) if (p.kind === 'postgres' && p.url && !p.url.includes('${')) hosts.push(...hostOf(p.url));
  return [...new Set(hosts)];
}

function isIncident(value: IncidentState): boolean {
  return (
    typeof value?.fingerprint === 'string' &&
    (value.status === 'firing' || value.status === 'resolved') &&
    typeof value.startsAt === 'string' &&
    !Number.isNaN(Date.parse(value.startsAt))
  );
}

/** Everything the page shows, read from the store and the configuration. */
export async function readStatus(sources: StatusSources, now = new Date()): Promise<StatusState> {
  const { config, store, env } = sources;
  const section = config.file.status;
  const problems: string[] = [];
  const failed = (what: string) => (err: unknown) => {
    problems.push(`${what}: ${errorMessage(err)}`);
    return undefined;
  };
  const probes = shownProbes(config);
  const freshness = configuredProbes(config).find((p) => p.kind === 'backup-freshness');

  const [states, backups, incidents, silences] = await Promise.all([
    pool(probes, 16, async (p): Promise<ProbeInput> => {
      const base: ProbeInput = {
        name: p.name,
        kind: p.kind,
        intervalSeconds: p.intervalSeconds,
        objective: p.slo.availability,
        latencyObjectiveMs: latencyObjective(p),
        ignoreMaintenance: p.ignoreMaintenance,
      };
      try {
        const read = await readState(store, env, p.name, now.toISOString());
        // a probe that never ran has no document: no state, not an empty one
        return read.generation === null
          ? base
          : { ...base, state: read.state, ...(read.problem ? { problem: read.problem } : {}) };
      } catch (err) {
        return { ...base, problem: `its state could not be read: ${errorMessage(err)}` };
      }
    }),
    backupFacts(store, env).catch(failed('backups')),
    readIncidents(store, env).catch(failed('incidents')),
    listSilences(store, env).catch(failed('silences')),
  ]);
  return {
    env,
    title: section.title,
    refreshSeconds: section.refreshSeconds,
    internalHosts: section.internalHosts,
    hiddenHosts: hiddenHosts(config, probes),
    probes: states,
    ...(backups ? { backups } : {}),
    backupMaxAgeHours: freshness?.maxAgeHours ?? 26,
    verifyMaxAgeDays: freshness?.verifyMaxAgeDays ?? 8,
    retention: {
      policy: describePolicy(config.file.retention.policy as Record<string, number | undefined>),
      minKeep: config.file.retention.minKeep,
    },
    incidents: (incidents ?? []).filter(isIncident),
    silences: silences ?? [],
    maintenance: config.file.maintenance,
    problems,
  };
}
