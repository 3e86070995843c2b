/**
 * The status page as one server-rendered HTML document (pure: model in, text out), readable without JavaScript and
 * refreshing itself with a meta refresh. Semantic HTML (landmarks, headings, lists, a table, <time>), colour never
 * the only signal (every state also has a word and a symbol), contrast of 4.5:1 or better, one column on a phone.
 * The JSON form and the badges are in this module too, so the three always say the same.
 */
import { formatBytes, formatDuration } from '../format';
import type { BackupModel, DayCell, IncidentModel, ProbeModel, StatusModel } from './model';
import { badge, COLOURS, esc, percent, sparkline, uptimeBar } from './svg';
import { formatBudgetLeft } from '../probes/slo';

const STATUS_WORD: Record<ProbeModel['status'], { word: string; icon: string; css: string }> = {
  up: { word: 'Up', icon: '✓', css: 'up' },
  down: { word: 'Down', icon: '✕', css: 'down' },
  // (a symbol every system font has: ⏸ shows as an empty box in Debian's Chromium)
  maintenance: { word: 'Maintenance', icon: '‖', css: 'maintenance' },
  unknown: { word: 'No data', icon: '?', css: 'none' },
};

/** A probe's status in words: `unknown` with samples (after a maintenance window, before a sample decides) is no "No data". */
function statusWord(p: Pick<ProbeModel, 'status' | 'hasData'>): { word: string; icon: string; css: string } {
  return p.status === 'unknown' && p.hasData ? { word: 'Unknown', icon: '?', css: 'none' } : STATUS_WORD[p.status];
}

const LEVEL: Record<StatusModel['overall']['level'], { icon: string; css: string }> = {
  operational: { icon: '✓', css: 'up' },
  degraded: { icon: '!', css: 'degraded' },
  outage: { icon: '✕', css: 'down' },
  maintenance: { icon: '‖', css: 'maintenance' },
  'no-data': { icon: '?', css: 'none' },
};

/** `2026-11-29 03:00 UTC` in a <time> element. */
function time(at: string): string {
  return `<time datetime="${esc(at)}">${esc(at.slice(0, 16).replace('T', ' '))} UTC</time>`;
}

/** `5 min`, `3 h`, `2 d`: an age for people. */
export function age(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.round(hours / 24)} d`;
}

function pill(css: string, icon: string, word: string): string {
  return `<span class="pill pill-${css}"><span aria-hidden="true">${icon}</span> ${esc(word)}</span>`;
}

function verdict(ok: boolean, good: string, bad: string): string {
  return ok ? pill('up', '✓', good) : pill('down', '✕', bad);
}

function figure(term: string, value: string): string {
  return `<div><dt>${esc(term)}</dt><dd>${value}</dd></div>`;
}

/** The one-line text equivalent of the uptime bar. */
export function barSummary(days: readonly DayCell[], objective: number): string {
  const n = { up: 0, degraded: 0, down: 0, maintenance: 0, none: 0 };
  for (const d of days) n[d.level]++;
  return `Uptime per day, last ${days.length} days (UTC): ${n.up} met the ${objective}% objective, ${n.degraded} below it, ${n.down} down (under 95%), ${n.maintenance} in maintenance, ${n.none} without data.`;
}

function probeSection(p: ProbeModel, index: number): string {
  const id = `probe-${index}`;
  const s = statusWord(p);
  const head = `<div class="probe-head"><h3 id="${id}-h">${esc(p.name)}</h3> ${pill(s.css, s.icon, s.word)}${p.since ? ` <span class="muted">since ${time(p.since)}</span>` : ''}</div>`;
  if (!p.hasData) {
    const why = p.problem ? ` Its state could not be read: ${esc(p.problem)}.` : '';
    return `<article class="probe" aria-labelledby="${id}-h">${head}<p class="empty">No data yet: this probe has not run.${why}</p></article>`;
  }
  const budget =
    p.budgetLeft === null ? 'no data' : p.budgetLeft < 0 ? formatBudgetLeft(p.budgetLeft) : percent(p.budgetLeft, 0);
  const p95 =
    p.p95Ms === null
      ? 'no data'
      : `${p.p95Ms >= 10_000 ? '> 10 s' : `${p.p95Ms} ms`} <span class="muted">(objective ${p.latencyObjectiveMs} ms${p.p95Ms > p.latencyObjectiveMs ? ', missed' : ''})</span>`;
  const figures = [
    figure('Uptime 24 h', percent(p.uptime['24h'])),
    figure('Uptime 7 d', percent(p.uptime['7d'])),
    figure('Uptime 30 d', percent(p.uptime['30d'])),
    figure('p95 latency, 24 h', p95),
    figure(`Error budget left (${p.objective}%, 30 d)`, budget),
  ].join('');
  const bad = p.days.filter((d) => d.level === 'degraded' || d.level === 'down');
  const badList =
    bad.length > 0
      ? `<p class="small">Days below the objective: ${bad
          .slice(-10)
          .map((d) => `${d.date} (${percent(d.uptime)})`)
          .join(', ')}${bad.length > 10 ? `, and ${bad.length - 10} earlier` : ''}.</p>`
      : '';
  const maint = p.days.filter((d) => d.maintenance > 0).length;
  const summary = barSummary(p.days, p.objective);
  const bar =
    `<figure class="history"><figcaption>${esc(summary)}${maint > 0 ? ` Days with maintenance are hatched or marked underneath.` : ''}</figcaption>` +
    uptimeBar(p.days, summary, id) +
    `<div class="axis" aria-hidden="true"><span>${esc(p.days[0]?.date ?? '')}</span><span>today</span></div>${badList}</figure>`;
  const points = p.latency.map((l) => l.p95Ms);
  const present = p.latency.filter((l) => l.p95Ms !== null);
  const above = present.filter((l) => l.p95Ms! > p.latencyObjectiveMs).length;
  const latencyText =
    present.length === 0
      ? `p95 latency per day, last ${p.latency.length} days: no samples with a latency.`
      : `p95 latency per day, last ${p.latency.length} days, against the ${p.latencyObjectiveMs} ms objective: ${above} of ${present.length} days above it (circled); latest ${present.at(-1)!.p95Ms} ms.`;
  const spark = `<figure class="latency"><figcaption>${esc(latencyText)}</figcaption>${present.length > 0 ? sparkline(points, { label: latencyText, objective: p.latencyObjectiveMs, objectiveLabel: `${p.latencyObjectiveMs} ms` }) : ''}</figure>`;
  let last = '';
  if (p.last) {
    const what = [
      p.last.httpStatus !== undefined ? `HTTP ${p.last.httpStatus}` : '',
      p.last.latencyMs !== undefined ? `${p.last.latencyMs} ms` : '',
    ]
      .filter(Boolean)
      .join(', ');
    const problems =
      p.last.problems.length > 0
        ? `<ul class="problems">${p.last.problems.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>`
        : '';
    last = `<div class="last"><p>Last check ${time(p.last.at)}: ${verdict(p.last.ok, 'passed', 'failed')}${what ? ` ${esc(what)}` : ''}</p>${problems}</div>`;
  }
  return `<article class="probe" aria-labelledby="${id}-h">${head}<dl class="figures">${figures}</dl>${bar}${spark}${last}</article>`;
}

function backupsSection(b: BackupModel | null, problems: readonly string[]): string {
  const h = '<h2 id="backups-h">Backups</h2>';
  if (!b)
    return `<section aria-labelledby="backups-h">${h}<p class="empty">The backups could not be read${problems.length ? ' (see above)' : ''}.</p></section>`;
  const r = b.retention;
  if (!b.newest && r.complete + r.legacy + r.safety + r.incomplete + r.corrupt === 0) {
    return `<section aria-labelledby="backups-h">${h}<p class="empty">No backup yet: none has been taken in this environment.</p></section>`;
  }
  const newest = b.newest
    ? `${verdict(b.newest.fresh, 'on time', 'late')} ${age(b.newest.ageMs)} ago <span class="muted">(limit ${b.maxAgeHours} h; ${time(b.newest.at)})</span>`
    : pill('down', '✕', 'none complete');
  const size = b.newest
    ? `${esc(formatBytes(b.newest.bytes))}${b.newest.rows !== undefined ? `, ${b.newest.rows.toLocaleString('en-US')} row${b.newest.rows === 1 ? '' : 's'}` : ''}`
    : 'no data';
  const verify = b.verify
    ? `${verdict(b.verify.ok, 'passed', 'failed')} ${age(b.verify.ageMs)} ago${b.verify.ok ? '' : `, ${b.verify.problems} mismatch${b.verify.problems === 1 ? '' : 'es'}`}${b.verify.fresh ? '' : ' <span class="muted">(older than the limit)</span>'}`
    : 'none yet';
  const drill = b.drill ? `${verdict(b.drill.ok, 'passed', 'failed')} ${time(b.drill.at)}` : 'none yet';
  const kept = `${r.complete} backup${r.complete === 1 ? '' : 's'} kept (${esc(formatBytes(r.bytes))} in the bucket)${r.safety ? `, ${r.safety} safety` : ''}${r.legacy ? `, ${r.legacy} legacy` : ''}${r.incomplete ? `, ${r.incomplete} incomplete` : ''}${r.corrupt ? `, ${r.corrupt} corrupt` : ''}${r.oldest ? `; oldest ${time(r.oldest)}` : ''}`;
  const figures = [
    figure('Newest backup', newest),
    figure('Its size', size),
    figure('Last verify', verify),
    figure('Last restore drill', drill),
    figure('Retention', `${kept}. <span class="muted">Policy: ${esc(r.policy)}; at least ${r.minKeep}.</span>`),
  ].join('');
  const sizes = b.sizes.map((s) => s.bytes);
  const sizeText =
    sizes.length > 1
      ? `Backup size, last ${sizes.length} backups: from ${formatBytes(Math.min(...sizes))} to ${formatBytes(Math.max(...sizes))}, latest ${formatBytes(sizes.at(-1)!)}.`
      : '';
  const spark = sizeText
    ? `<figure class="latency"><figcaption>${esc(sizeText)}</figcaption>${sparkline(sizes, { label: sizeText })}</figure>`
    : '';
  return `<section aria-labelledby="backups-h">${h}<dl class="figures">${figures}</dl>${spark}</section>`;
}

function incidentItem(i: IncidentModel): string {
  return `<li>${pill(i.severity === 'critical' ? 'down' : i.severity === 'warning' ? 'degraded' : 'none', '!', i.severity)} ${esc(i.title)} <span class="muted">since ${time(i.startsAt)} (${esc(formatDuration(i.durationMs))})${i.muted ? `; not notified: ${esc(i.muted)}` : ''}</span></li>`;
}

function incidentsSection(m: StatusModel): string {
  const firing =
    m.incidents.firing.length > 0
      ? `<ul class="list">${m.incidents.firing.map(incidentItem).join('')}</ul>`
      : '<p class="empty">No alerts firing.</p>';
  const resolved =
    m.incidents.resolved.length > 0
      ? `<div class="scroll"><table><caption class="sr-only">Recently resolved incidents</caption><thead><tr><th scope="col">Alert</th><th scope="col">Severity</th><th scope="col">Started</th><th scope="col">Lasted</th></tr></thead><tbody>${m.incidents.resolved
          .map(
            (i) =>
              `<tr><td>${esc(i.title)}</td><td>${esc(i.severity)}</td><td>${time(i.startsAt)}</td><td>${esc(formatDuration(i.durationMs))}</td></tr>`,
          )
          .join('')}</tbody></table></div>`
      : '<p class="empty">No incidents resolved recently.</p>';
  const silences =
    m.silences.length > 0
      ? `<ul class="list">${m.silences.map((s) => `<li><code>${esc(s.matchers.join(', '))}</code> until ${time(s.until)}: ${esc(s.reason)}</li>`).join('')}</ul>`
      : '<p class="empty">No active silences.</p>';
  const mt = m.maintenance;
  const window = [
    mt.active
      ? `<p>${pill('maintenance', '‖', 'in progress')} ${esc(mt.active.name)} until ${time(mt.active.until)}.</p>`
      : '',
    mt.next
      ? `<p>Next: ${esc(mt.next.name)}, ${time(mt.next.start)} to ${time(mt.next.end)}.</p>`
      : mt.active
        ? ''
        : '<p class="empty">No maintenance window scheduled.</p>',
  ].join('');
  return (
    `<section aria-labelledby="incidents-h"><h2 id="incidents-h">Incidents</h2>` +
    `<h3>Firing now</h3>${firing}<h3>Recently resolved</h3>${resolved}<h3>Silences</h3>${silences}<h3>Maintenance</h3>${window}</section>`
  );
}

const CSS = `
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff}
header,main,footer{max-width:60rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem}
h1{font-size:1.6rem;margin:.5rem 0}
h2{font-size:1.3rem;margin:2rem 0 .75rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem}
h3{font-size:1.05rem;margin:1rem 0 .25rem}
a{color:#0550ae}
.muted,.small,figcaption{color:#57606a}
.small,figcaption{font-size:.875rem}
.overall{font-size:1.15rem;font-weight:600;padding:.75rem 1rem;border-radius:6px;color:#fff;margin:.5rem 0}
.pill{display:inline-block;padding:0 .5rem;border-radius:1rem;color:#fff;font-size:.875rem;font-weight:600;white-space:nowrap}
.pill-up,.overall-up{background:${COLOURS.up}}
.pill-down,.overall-down{background:${COLOURS.down}}
.pill-degraded,.overall-degraded{background:${COLOURS.degraded}}
.pill-maintenance,.overall-maintenance{background:${COLOURS.maintenance}}
.pill-none,.overall-none{background:${COLOURS.none}}
.probe{border:1px solid #d0d7de;border-radius:6px;padding:.75rem 1rem;margin:0 0 1rem}
.probe-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem .5rem}
.probe-head h3{margin:0;word-break:break-all}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(10rem,1fr));gap:.5rem 1rem;margin:.75rem 0}
.figures dt{font-size:.8rem;color:#57606a}
.figures dd{margin:0;font-weight:600}
figure{margin:.75rem 0}
.bar{display:block;width:100%;height:40px}
.spark{display:block;max-width:100%;height:auto}
.axis{display:flex;justify-content:space-between;font-size:.75rem;color:#57606a}
.problems{margin:.25rem 0;padding-left:1.25rem;word-break:break-word}
.list{padding-left:1.25rem}
.list li{margin:.25rem 0}
.empty{font-style:italic}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #d0d7de;font-size:.9rem}
code{font-size:.85rem;word-break:break-all}
footer{margin:2rem auto;font-size:.875rem;color:#57606a}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
`;

/** The whole page. */
export function renderPage(m: StatusModel): string {
  const level = LEVEL[m.overall.level];
  const problems =
    m.problems.length > 0
      ? `<section aria-labelledby="problems-h"><h2 id="problems-h">Could not be read</h2><ul class="list">${m.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></section>`
      : '';
  const probes =
    m.probes.length > 0
      ? m.probes.map((p, i) => probeSection(p, i)).join('')
      : '<p class="empty">No probes are configured.</p>';
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    // no favicon request: behind the token (or on a function) it would answer 401 or 404
    `<link rel="icon" href="data:,">` +
    `<meta http-equiv="refresh" content="${m.refreshSeconds}"><title>${esc(m.title)}: ${esc(m.overall.text)}</title><style>${CSS}</style></head><body>` +
    `<header><h1>${esc(m.title)}</h1><p class="overall overall-${level.css}" role="status"><span aria-hidden="true">${level.icon}</span> ${esc(m.overall.text)}</p>` +
    `<p class="small">Updated ${time(m.generatedAt)}; this page refreshes itself every ${m.refreshSeconds} s.</p></header>` +
    `<main>${problems}<section aria-labelledby="services-h"><h2 id="services-h">Services</h2>${probes}</section>${backupsSection(m.backups, m.problems)}${incidentsSection(m)}</main>` +
    `<footer><p>Machine-readable: <a href="status.json">status.json</a>. Badges: <code>badge/&lt;probe&gt;/status.svg</code>, <code>badge/&lt;probe&gt;/uptime.svg</code>, <code>badge/backup/age.svg</code>.</p></footer>` +
    `</body></html>`
  );
}

/** The JSON form: the model itself. */
export function renderJson(m: StatusModel): string {
  return JSON.stringify(m);
}

// ---- badges ----

export type UptimeWindow = '24h' | '7d' | '30d';

function uptimeColour(u: number | null, objective: number): string {
  if (u === null) return COLOURS.none;
  if (u * 100 >= objective) return COLOURS.up;
  return u >= 0.95 ? COLOURS.degraded : COLOURS.down;
}

/** `uptime 30d | 99.95%`; undefined for a probe the page does not show. */
export function uptimeBadge(m: StatusModel, probe: string, window: UptimeWindow = '30d'): string | undefined {
  const p = m.probes.find((x) => x.name === probe);
  if (!p) return undefined;
  const u = p.uptime[window];
  return badge(`uptime ${window}`, percent(u), uptimeColour(u, p.objective));
}

/** `<probe> | up`. */
export function statusBadge(m: StatusModel, probe: string): string | undefined {
  const p = m.probes.find((x) => x.name === probe);
  if (!p) return undefined;
  const colour = { up: COLOURS.up, down: COLOURS.down, maintenance: COLOURS.maintenance, unknown: COLOURS.none }[
    p.status
  ];
  return badge(p.name, statusWord(p).word.toLowerCase(), colour);
}

/** `backup | 5 h ago`, red once older than the freshness limit. */
export function backupAgeBadge(m: StatusModel): string {
  if (!m.backups) return badge('backup', 'unknown', COLOURS.none);
  if (!m.backups.newest) return badge('backup', 'none yet', COLOURS.down);
  return badge('backup', `${age(m.backups.newest.ageMs)} ago`, m.backups.newest.fresh ? COLOURS.up : COLOURS.down);
}

/** The badge for something that is not there. */
export function notFoundBadge(label: string): string {
  return badge(label, 'not found', COLOURS.none);
}
