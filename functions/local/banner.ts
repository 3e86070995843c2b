/**
 * What `npm start` (`mt-ops serve`) prints at start, on stdout, for the person who ran it: the URL and how to call it
 * (the token), the bucket, how events travel, the alert channels, each schedule with its next run, each probe.
 */
import { redactString } from '../../shared/log/redact';

export interface BannerInfo {
  url: string;
  env: string;
  token: { value: string; source: 'OPS_API_TOKEN' | 'generated' };
  bucket: string;
  /** The operator file read (absolute), or none: the defaults. */
  operatorFile?: string;
  events: string;
  channels: string;
  functions: string[];
  publicRoutes: string[];
  schedules: Array<{
    name: string;
    cron: string;
    timeZone: string;
    function: string;
    overridden: boolean;
    next: Date | null;
  }>;
  probes:
    | Array<{ name: string; kind: string; target?: string; method?: string; intervalSeconds: number }>
    | { problem: string };
  warnings: string[];
}

/** `2026-12-01 03:00:00` in the time zone, and the same instant in UTC. */
function when(date: Date | null, timeZone: string): string {
  if (!date) return 'never';
  const local = date.toLocaleString('sv-SE', { timeZone, hour12: false });
  return `${local} ${timeZone} (${date.toISOString()})`;
}

export function banner(info: BannerInfo): string {
  const lines: string[] = [];
  const pad = (rows: string[][]) => {
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]!.length))) ?? [];
    return rows.map((r) => `    ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`);
  };
  const shown = info.token.source === 'generated' ? info.token.value : '$OPS_API_TOKEN';
  lines.push(`mt-ops local suite (env ${info.env}) listening on ${info.url}`);
  lines.push(
    info.token.source === 'generated'
      ? `  token:    ${info.token.value}  (generated for this run: set OPS_API_TOKEN to keep one)`
      : '  token:    from OPS_API_TOKEN (not shown)',
  );
  lines.push(
    `  call:     curl -X POST -H "Authorization: Bearer ${shown}" ${info.url}/${info.functions[0] ?? 'backup'}`,
  );
  lines.push(
    `  health:   ${info.url}/healthz (no token needed)${info.publicRoutes.length ? `; also public: ${info.publicRoutes.join(', ')}` : ''}`,
  );
  lines.push(`  routes:   ${info.functions.map((f) => `${info.url}/${f}`).join(', ') || 'none'}`);
  lines.push(`  bucket:   ${redactString(info.bucket)}`);
  lines.push(
    `  config:   ${info.operatorFile ?? 'no operator file (the defaults; OPS_CONFIG, or ./ops.config.json, .yaml or .yml, names one)'}`,
  );
  lines.push(`  ${info.events}`);
  lines.push(`  ${info.channels}`);
  lines.push(`  schedules (${info.schedules.length}):`);
  lines.push(
    ...pad(
      info.schedules.map((s) => [
        s.name,
        `${s.cron}${s.overridden ? ' (operator file)' : ''}`,
        `-> ${s.function}`,
        `next ${when(s.next, s.timeZone)}`,
      ]),
    ),
  );
  if ('problem' in info.probes) lines.push(`  probes: ${info.probes.problem}`);
  else {
    lines.push(`  probes (${info.probes.length}):`);
    lines.push(
      ...pad(
        info.probes.map((p) => [
          p.name,
          p.kind,
          p.kind === 'http' ? `${p.method ?? 'GET'} ${redactString(p.target ?? '')}` : redactString(p.target ?? ''),
          `every ${p.intervalSeconds} s`,
        ]),
      ),
    );
  }
  for (const w of info.warnings) lines.push(`  warning: ${w}`);
  return `${lines.join('\n')}\n`;
}
