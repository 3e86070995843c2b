/** The status page from synthetic state: the model (statusOf) and what the HTML, the JSON and the SVG badges say. */
import { describe, it, expect } from 'vitest';
import { statusOf, type StatusState, type ProbeInput } from '../../shared/status/model';
import { renderPage, renderJson, statusBadge, uptimeBadge, backupAgeBadge } from '../../shared/status/render';
import { COLOURS } from '../../shared/status/svg';
import type { BackupFacts } from '../../shared/backup';
import type { IncidentState } from '../../shared/alerts/lifecycle';
import { HOUR } from '../../shared/probes/slo';
import { probeHistory } from '../support/status-history';

const NOW = new Date('2026-11-30T12:00:00Z');
const DAY = 24 * HOUR;
const T = NOW.getTime();

function probe(name: string, state?: ProbeInput['state']): ProbeInput {
  return { name, kind: 'http', intervalSeconds: 60, objective: 99.9, latencyObjectiveMs: 200, state };
}

function backups(): BackupFacts[] {
  const out: BackupFacts[] = [];
  for (let d = 0; d < 10; d++) {
    const time = new Date(T - d * DAY - 9 * HOUR).toISOString();
    out.push({
      id: `b${d}`,
      kind: 'complete',
      time,
      safety: false,
      bytes: 1_000_000 + (10 - d) * 10_000,
      tables: 12,
      rows: 50_000,
      ...(d === 1
        ? { verify: { ok: true, at: new Date(T - 2 * DAY).toISOString(), problems: 0, drill: { ok: true } } }
        : {}),
    });
  }
  return out;
}

function state(over: Partial<StatusState> = {}): StatusState {
  return {
    env: 'prod',
    title: 'Missing Table status',
    refreshSeconds: 60,
    internalHosts: ['*.internal', 'localhost'],
    hiddenHosts: [],
    probes: [],
    backups: [],
    backupMaxAgeHours: 26,
    verifyMaxAgeDays: 8,
    retention: { policy: 'within 30 days, monthly 12', minKeep: 3 },
    incidents: [],
    silences: [],
    maintenance: [],
    ...over,
  };
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

/** The text a reader sees: tags removed (scripts and styles dropped), entities decoded. */
function visibleText(html: string): string {
  return html
    .replace(/<style>[\s\S]*?<\/style>/g, '')
    .replace(/<\/?(span|time|code|a|b)\b[^>]*>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

describe('status page: all up', () => {
  const s = state({
    probes: ['api-health', 'api-health-full', 'database'].map((n) => probe(n, probeHistory({ name: n, now: NOW }))),
    backups: backups(),
  });
  const model = statusOf(s, NOW);
  const html = renderPage(model);

  it('says all systems are operational, each probe up with 100% and a full green bar', () => {
    expect(model.overall).toEqual({ level: 'operational', text: 'All systems operational.' });
    expect(model.probes.map((p) => [p.name, p.status, p.uptime['24h'], p.uptime['7d'], p.uptime['30d']])).toEqual([
      ['api-health', 'up', 1, 1, 1],
      ['api-health-full', 'up', 1, 1, 1],
      ['database', 'up', 1, 1, 1],
    ]);
    expect(model.probes[0]!.budgetLeft).toBe(1);
    expect(model.probes[0]!.p95Ms).toBe(50);
    expect(html).toContain('All systems operational.');
    expect(count(html, '<span aria-hidden="true">✓</span> Up</span>')).toBe(3);
    // 90 cells per probe, every day met the objective (the first day of the 90 is partly before the first sample, and still whole)
    expect(count(html, 'class="d-up"')).toBe(3 * 90);
    expect(html).not.toMatch(/class="d-(down|degraded|maintenance|none)"/);
    expect(visibleText(html)).toContain('Uptime 30 d 100%');
    expect(visibleText(html)).toContain(
      '90 met the 99.9% objective, 0 below it, 0 down (under 95%), 0 in maintenance, 0 without data',
    );
  });

  it('is a whole HTML document that refreshes itself and needs no script', () => {
    expect(html.startsWith('<!doctype html><html lang="en">')).toBe(true);
    expect(html).toContain('<meta http-equiv="refresh" content="60">');
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).not.toMatch(/<script/i);
    expect(html).toMatch(/<header>.*<h1>Missing Table status<\/h1>/);
    expect(html).toMatch(/<main>.*<\/main><footer>/);
    expect(count(html, '<article class="probe"')).toBe(3);
    // headings: one h1, h2 per section, h3 per probe
    expect(count(html, '<h1>')).toBe(1);
    expect(html).toContain('<h2 id="services-h">Services</h2>');
  });

  it('shows the backups: age against the limit, size, verify, drill and retention totals, with a size sparkline', () => {
    const b = model.backups!;
    expect(b.newest).toMatchObject({ id: 'b0', fresh: true, ageMs: 9 * HOUR });
    expect(b.verify).toMatchObject({ backupId: 'b1', ok: true, problems: 0, fresh: true });
    expect(b.drill).toMatchObject({ backupId: 'b1', ok: true });
    expect(b.retention).toMatchObject({
      complete: 10,
      safety: 0,
      bytes: 10 * 1_000_000 + 550_000,
      oldest: new Date(T - 9 * DAY - 9 * HOUR).toISOString(),
    });
    expect(b.sizes.map((x) => x.bytes)).toEqual(Array.from({ length: 10 }, (_, i) => 1_000_000 + (i + 1) * 10_000));
    const text = visibleText(html);
    expect(text).toContain('Newest backup ✓ on time 9 h ago (limit 26 h;');
    expect(text).toContain('Last verify ✓ passed 2 d ago');
    expect(text).toContain('Last restore drill ✓ passed');
    expect(text).toContain('10 backups kept (10 MB in the bucket)');
    expect(text).toContain('Policy: within 30 days, monthly 12; at least 3.');
    expect(text).toContain('Backup size, last 10 backups: from 986 KB to 986 KB'.slice(0, 30));
  });

  it('draws a p95 sparkline per probe against the 200 ms objective, nothing above it', () => {
    expect(count(html, '<svg class="spark"')).toBe(3 + 1); // three probes and the backup sizes
    expect(html).toContain('against the 200 ms objective: 0 of 30 days above it (circled); latest 50 ms.');
    expect(html).toContain('stroke-dasharray="3 3"');
    expect(html).not.toContain(`stroke="${COLOURS.down}"`);
  });

  it('the sample due last may still be in flight: read 15 s after it was due, today is not short of it', () => {
    const later = statusOf(s, new Date(T + 45_000)); // the 12:00:30 sample is not recorded yet
    expect(later.probes[0]!.days.at(-1)).toMatchObject({ level: 'up', uptime: 1, samples: 720, missed: 0 });
    const muchLater = statusOf(s, new Date(T + 95_000)); // 12:00:30 is now a whole interval overdue: missing
    expect(muchLater.probes[0]!.days.at(-1)).toMatchObject({ samples: 720, missed: 1 });
  });

  it('says what else is quiet, plainly', () => {
    const text = visibleText(html);
    expect(text).toContain('No alerts firing.');
    expect(text).toContain('No incidents resolved recently.');
    expect(text).toContain('No active silences.');
    expect(text).toContain('No maintenance window scheduled.');
  });

  it('badges: status up in green, uptime 100%, backup age in hours', () => {
    const up = statusBadge(model, 'api-health')!;
    expect(up).toMatch(
      /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="\d+" height="20" role="img" aria-label="api-health: up"><title>api-health: up<\/title>/,
    );
    expect(up).toContain(`fill="${COLOURS.up}"`);
    const uptime = uptimeBadge(model, 'api-health', '30d')!;
    expect(uptime).toContain('aria-label="uptime 30d: 100%"');
    expect(uptimeBadge(model, 'api-health', '24h')).toContain('aria-label="uptime 24h: 100%"');
    expect(backupAgeBadge(model)).toContain('aria-label="backup: 9 h ago"');
    expect(backupAgeBadge(model)).toContain(`fill="${COLOURS.up}"`);
    expect(statusBadge(model, 'nope')).toBeUndefined();
    // the badge is as wide as its two parts, which grow with their text
    const width = (svg: string) => Number(/width="(\d+)"/.exec(svg)![1]);
    expect(width(statusBadge(model, 'api-health-full')!)).toBeGreaterThan(width(up));
  });

  it('the JSON is the model', () => {
    expect(JSON.parse(renderJson(model))).toEqual(JSON.parse(JSON.stringify(model)));
  });
});

describe('status page: one probe down', () => {
  const since = new Date(T - 2 * HOUR).toISOString();
  const down = probeHistory({
    name: 'api-health-full',
    now: NOW,
    hour: (t) => (t >= T - 2 * HOUR ? { n: 60, f: 60, latencyMs: 900 } : { n: 60, latencyMs: 120 }),
    status: 'down',
    since,
    last: {
      ok: false,
      availabilityFailure: true,
      status: 200,
      latencyMs: 903,
      severity: 'critical',
      failed: [
        {
          condition: '[BODY].status == healthy',
          severity: 'critical',
          message: '[BODY].status == healthy: got degraded',
        },
      ],
    },
    incident: { fingerprint: 'probe/prod/api-health-full', severity: 'critical', startsAt: since },
  });
  const firing: IncidentState = {
    fingerprint: 'probe/prod/api-health-full',
    status: 'firing',
    startsAt: since,
    alert: {
      fingerprint: 'probe/prod/api-health-full',
      status: 'firing',
      severity: 'critical',
      title: 'api-health-full is down',
      summary: '',
      labels: {},
      source: 'probe',
      links: [],
      startsAt: since,
      env: 'prod',
      details: {},
    },
    notified: true,
    seq: 1,
    transitions: [],
    messages: {},
  };
  const resolved: IncidentState = {
    ...firing,
    fingerprint: 'probe/prod/api-health',
    status: 'resolved',
    startsAt: new Date(T - 3 * DAY).toISOString(),
    endsAt: new Date(T - 3 * DAY + 95 * 60_000).toISOString(),
    alert: { ...firing.alert, title: 'api-health is down' },
  };
  const model = statusOf(
    state({
      probes: [probe('api-health', probeHistory({ name: 'api-health', now: NOW })), probe('api-health-full', down)],
      backups: backups(),
      incidents: [firing, resolved],
    }),
    NOW,
  );
  const html = renderPage(model);

  it('says which service is down, in words and a symbol as well as colour', () => {
    expect(model.overall).toEqual({ level: 'outage', text: 'Partial outage: api-health-full is down.' });
    expect(html).toContain(
      '<p class="overall overall-down" role="status"><span aria-hidden="true">✕</span> Partial outage: api-health-full is down.</p>',
    );
    expect(html).toContain('<span class="pill pill-down"><span aria-hidden="true">✕</span> Down</span>');
    expect(visibleText(html)).toContain(`api-health-full ✕ Down since 2026-11-30 10:00 UTC`);
  });

  it('today is below the objective: 2 failed hours of 12', () => {
    const today = model.probes[1]!.days.at(-1)!;
    expect(today).toMatchObject({ date: '2026-11-30', level: 'down', samples: 720, failures: 120, missed: 0 });
    expect(today.uptime).toBeCloseTo(600 / 720);
    expect(html).toContain(
      '<title>2026-11-30: 83.333% up (down), 600 of 720 samples good, 120 failed, 0 not taken</title>',
    );
    expect(visibleText(html)).toContain('Days below the objective: 2026-11-30 (83.33%).');
    expect(model.probes[1]!.uptime['24h']).toBeCloseTo(1 - 120 / 1440);
    // 120 failed samples against 43.2 allowed (0.1% of the window's 43,200): 2.8 budgets, shown so, not as -178%
    expect(model.probes[1]!.budgetLeft!).toBeCloseTo(1 - 120 / 43.2);
    expect(visibleText(html)).toContain('Error budget left (99.9%, 30 d) exhausted (2.8x spent)');
  });

  it("the last check says what failed; today's p95 is circled above the objective", () => {
    expect(visibleText(html)).toContain('Last check 2026-11-30 11:59 UTC: ✕ failed HTTP 200, 903 ms');
    // each failure once, its condition named once (it was '[BODY].status == healthy: [BODY].status == healthy: ...')
    expect(html).toContain('<li>[BODY].status == healthy: got degraded</li>');
    expect(count(html, '[BODY].status == healthy')).toBe(1);
    expect(model.probes[1]!.latency.at(-1)).toEqual({ date: '2026-11-30', p95Ms: 1000 });
    expect(html).toContain('1 of 30 days above it (circled); latest 1000 ms.');
    expect(count(html, `stroke="${COLOURS.down}"`)).toBe(1);
  });

  it('lists the firing alert and the resolved one with its duration', () => {
    expect(model.incidents.firing).toEqual([
      { title: 'api-health-full is down', severity: 'critical', startsAt: since, durationMs: 2 * HOUR },
    ]);
    expect(model.incidents.resolved).toEqual([
      {
        title: 'api-health is down',
        severity: 'critical',
        startsAt: resolved.startsAt,
        endsAt: resolved.endsAt,
        durationMs: 95 * 60_000,
      },
    ]);
    const text = visibleText(html);
    expect(text).toContain('! critical api-health-full is down since 2026-11-30 10:00 UTC (2 h 0 min)');
    expect(text).toContain('api-health is down critical 2026-11-27 12:00 UTC 1 h 35 min');
  });

  it('badges: the down probe is red and says down', () => {
    const badge = statusBadge(model, 'api-health-full')!;
    expect(badge).toContain('aria-label="api-health-full: down"');
    expect(badge).toContain(`fill="${COLOURS.down}"`);
    expect(uptimeBadge(model, 'api-health-full', '24h')).toContain('aria-label="uptime 24h: 91.66%"');
  });
});

describe('status page: a probe that timed out', () => {
  // what the probe records for a target that never answers: its error, again as the 'probe' failure, then each
  // condition that could not hold
  const hung = probeHistory({
    name: 'api-health-full',
    now: NOW,
    days: 1,
    status: 'down',
    last: {
      ok: false,
      availabilityFailure: true,
      severity: 'critical',
      latencyMs: 3001,
      error: 'timed out after 3000 ms (no answer)',
      failed: [
        { condition: 'probe', severity: 'critical', message: 'timed out after 3000 ms (no answer)' },
        { condition: '[STATUS] == 200', severity: 'critical', message: '[STATUS] == 200: got nothing (missing)' },
      ],
    },
  });
  const model = statusOf(state({ probes: [probe('api-health-full', hung)] }), NOW);

  it('says each problem once, as the probe worded it', () => {
    expect(model.probes[0]!.last!.problems).toEqual([
      'timed out after 3000 ms (no answer)',
      '[STATUS] == 200: got nothing (missing)',
    ]);
    const html = renderPage(model);
    expect(count(html, 'timed out after 3000 ms')).toBe(1);
    expect(html).not.toContain('probe: timed out');
  });

  it("p95 is the largest latency seen (3001 ms), not the 5000 ms bound of the samples' histogram bucket", () => {
    const hours = probeHistory({
      name: 'api-health-full',
      now: NOW,
      days: 1,
      hour: () => ({ n: 60, f: 60, latencyMs: 3001 }),
    }).hours.map((b) => ({ ...b, x: 3001 }));
    const timedOut = statusOf(state({ probes: [probe('api-health-full', { ...hung, hours })] }), NOW);
    expect(timedOut.probes[0]!.p95Ms).toBe(3001);
    expect(timedOut.probes[0]!.latency.at(-1)).toEqual({ date: '2026-11-30', p95Ms: 3001 });
    const text = visibleText(renderPage(timedOut));
    expect(text).toContain('3001 ms');
    expect(text).not.toContain('5000 ms');
  });
});

describe('status page: maintenance', () => {
  // the window covering now: every day 11:00-13:00 UTC
  const windows = [{ name: 'patching', cron: '0 11 * * *', durationMinutes: 120, timeZone: 'UTC' }];
  const inWindow = (t: number) => new Date(t).getUTCHours() >= 11 && new Date(t).getUTCHours() < 13;
  const p = probeHistory({
    name: 'api-health',
    now: NOW,
    days: 3,
    status: 'maintenance',
    since: new Date(T - HOUR).toISOString(),
    hour: (t) => (inWindow(t) ? { n: 0, m: 60 } : { n: 60, latencyMs: 40 }),
  });
  const whole = probeHistory({
    name: 'worker',
    now: NOW,
    days: 1,
    status: 'maintenance',
    since: new Date(T - HOUR).toISOString(),
    hour: () => ({ n: 0, m: 60 }),
  });
  const model = statusOf(
    state({ probes: [probe('api-health', p), probe('worker', whole)], backups: backups(), maintenance: windows }),
    NOW,
  );
  const html = renderPage(model);

  it('says maintenance is in progress, until when, and when the next one is', () => {
    expect(model.overall.level).toBe('maintenance');
    expect(model.maintenance).toEqual({
      active: { name: 'patching', until: '2026-11-30T13:00:00.000Z' },
      next: { name: 'patching', start: '2026-12-01T11:00:00.000Z', end: '2026-12-01T13:00:00.000Z' },
    });
    const text = visibleText(html);
    expect(text).toContain('‖ Scheduled maintenance in progress.');
    expect(text).toContain('‖ in progress patching until 2026-11-30 13:00 UTC.');
    expect(text).toContain('Next: patching, 2026-12-01 11:00 UTC to 2026-12-01 13:00 UTC.');
    expect(html).toContain('<span class="pill pill-maintenance"><span aria-hidden="true">‖</span> Maintenance</span>');
  });

  it('maintenance samples are not downtime: days with some are marked under the cell, a day of nothing else is hatched', () => {
    const days = model.probes[0]!.days;
    expect(days.at(-1)).toMatchObject({ level: 'up', uptime: 1, maintenance: 60, samples: 660 });
    expect(model.probes[0]!.uptime['24h']).toBe(1);
    expect(html).toContain(
      '<title>2026-11-30: 100% up (met the objective), 660 of 660 samples good, 0 failed, 0 not taken, 60 in maintenance</title>',
    );
    expect(visibleText(html)).toContain('Days with maintenance are hatched or marked underneath.');
    const worker = model.probes[1]!.days;
    expect(worker.at(-1)).toMatchObject({ level: 'maintenance', uptime: null, samples: 0, maintenance: 720 });
    expect(html).toContain('fill="url(#probe-1-hatch)"');
    expect(html).toContain('<title>2026-11-30: maintenance, 720 samples in a maintenance window, none counted</title>');
  });
});

describe('status page: a state last written in a window that has ended', () => {
  // the window ended an hour before NOW; the probes' last samples were taken in it (nothing sampled since)
  const ended = [{ name: 'patching', cron: '0 9 * * *', durationMinutes: 120, timeZone: 'UTC' }];
  const inMaintenance = probeHistory({
    name: 'api-health',
    now: NOW,
    days: 1,
    status: 'maintenance',
    since: new Date(T - 3 * HOUR).toISOString(),
    hour: () => ({ n: 60, latencyMs: 40 }),
  });

  it('is unknown until a sample decides, not maintenance; the page does not say maintenance is in progress', () => {
    const model = statusOf(
      state({ probes: [probe('api-health', inMaintenance)], backups: backups(), maintenance: ended }),
      NOW,
    );
    expect(model.maintenance.active).toBeNull();
    expect(model.probes[0]!.status).toBe('unknown');
    expect(model.overall.level).not.toBe('maintenance');
    const text = visibleText(renderPage(model));
    expect(text).not.toContain('Scheduled maintenance in progress.');
    expect(text).toContain('? Unknown'); // it has samples: not "No data"
    expect(text).not.toContain('No data');
    // within the window it still is maintenance
    const during = statusOf(
      state({ probes: [probe('api-health', inMaintenance)], backups: backups(), maintenance: ended }),
      new Date(T - 2 * HOUR),
    );
    expect(during.probes[0]!.status).toBe('maintenance');
  });
});

describe('status page: no data yet', () => {
  const model = statusOf(state({ probes: [probe('api-health'), probe('database')] }), NOW);
  const html = renderPage(model);
  const text = visibleText(html);

  it('says so plainly instead of showing zeros', () => {
    expect(model.overall).toEqual({
      level: 'no-data',
      text: 'No data yet: no probe has run and no backup has been taken.',
    });
    expect(count(text, 'No data yet: this probe has not run.')).toBe(2);
    expect(text).toContain('No backup yet: none has been taken in this environment.');
    expect(text).not.toMatch(/\b0(\.0+)?%|NaN|undefined|null|Infinity/);
    expect(html).not.toContain('<svg class="bar"');
    expect(html).not.toContain('<svg class="spark"');
  });

  it('badges say no data (grey), and "none yet" for the backup', () => {
    expect(statusBadge(model, 'api-health')).toContain('aria-label="api-health: no data"');
    expect(statusBadge(model, 'api-health')).toContain(`fill="${COLOURS.none}"`);
    expect(uptimeBadge(model, 'api-health')).toContain('aria-label="uptime 30d: no data"');
    expect(backupAgeBadge(model)).toContain('aria-label="backup: none yet"');
  });

  it('no probes configured, and backups that could not be read, are said too', () => {
    const m = statusOf(
      state({ probes: [], backups: undefined, problems: ['backups: the bucket could not be listed'] }),
      NOW,
    );
    const t = visibleText(renderPage(m));
    expect(t).toContain('No probes are configured.');
    expect(t).toContain('The backups could not be read (see above).');
    expect(t).toContain('Could not be read backups: the bucket could not be listed');
    expect(backupAgeBadge(m)).toContain('aria-label="backup: unknown"');
  });
});

describe('status page: 90 days of history', () => {
  const day = (t: number) => Math.floor(T / DAY) - Math.floor(t / DAY); // calendar days (UTC) before today
  const history = probeHistory({
    name: 'api-health-full',
    now: NOW,
    days: 80, // the bar's 10 oldest days have no data
    hour: (t) => {
      const d = day(t);
      const h = new Date(t).getUTCHours();
      if (d === 5) return { n: 60, f: 30, latencyMs: 300 }; // half the day failed: down
      if (d === 12) return h === 3 ? { n: 60, f: 2, latencyMs: 40 } : { n: 60, latencyMs: 40 }; // 2 of 1440 failed: below 99.9%
      if (d === 20) return h < 2 ? { n: 0, m: 60 } : { n: 60, latencyMs: 40 }; // maintenance 00:00-02:00
      if (d === 30 && h < 12) return { n: 0 }; // the prober itself was down half the day: unknown, not up
      return { n: 60, latencyMs: d < 30 ? 75 : 150 };
    },
  });
  const model = statusOf(state({ probes: [probe('api-health-full', history)], backups: backups() }), NOW);
  const p = model.probes[0]!;
  const html = renderPage(model);
  const at = (d: number) => p.days[89 - d]!;

  it('one cell per day for 90 days, oldest first, each levelled by its uptime', () => {
    expect(p.days).toHaveLength(90);
    expect(p.days[0]!.date).toBe('2026-09-02');
    expect(p.days.at(-1)!.date).toBe('2026-11-30');
    // the first sample is 80 days ago at 13:00:30: 9 days without data, then a partial day
    expect(p.days.slice(0, 9).every((d) => d.level === 'none')).toBe(true);
    expect(p.days[9]).toMatchObject({ date: '2026-09-11', level: 'up', uptime: 1, samples: 660, missed: 0 });
    expect(at(5)).toMatchObject({ level: 'down', uptime: 0.5, samples: 1440, failures: 720 });
    expect(at(12)).toMatchObject({ level: 'degraded', samples: 1440, failures: 2 });
    expect(at(20)).toMatchObject({ level: 'up', uptime: 1, maintenance: 120, samples: 1320 });
    expect(at(30)).toMatchObject({ level: 'down', uptime: 0.5, samples: 720, failures: 0, missed: 720 });
    expect(p.days.filter((d) => d.level === 'up')).toHaveLength(90 - 9 - 3);
  });

  it('the text summary and the tooltips give the figures', () => {
    expect(html).toContain(
      'Uptime per day, last 90 days (UTC): 78 met the 99.9% objective, 1 below it, 2 down (under 95%), 0 in maintenance, 9 without data.',
    );
    expect(html).toContain(
      '<title>2026-11-18: 99.861% up (below the objective), 1438 of 1440 samples good, 2 failed, 0 not taken</title>',
    );
    expect(html).toContain(
      '<title>2026-10-31: 50.000% up (down), 720 of 1440 samples good, 0 failed, 720 not taken</title>',
    );
    expect(html).toContain('<title>2026-09-02: no data</title>');
    expect(visibleText(html)).toContain(
      'Days below the objective: 2026-10-31 (50.00%), 2026-11-18 (99.86%), 2026-11-25 (50.00%).',
    );
    // the maintenance day is marked under its cell
    expect(html.match(/<rect x="\d+" y="36" width="3" height="3" fill="#0969da"\/>/g)).toHaveLength(1);
  });

  it('the latency sparkline covers the last 30 days: 75 ms (50 on two days), one day at 300 ms circled', () => {
    expect(p.latency).toHaveLength(30);
    expect(p.latency.map((l) => l.p95Ms)).toEqual(
      Array.from({ length: 30 }, (_, i) => ({ 5: 300, 12: 50, 20: 50 })[29 - i] ?? 75),
    );
    expect(html).toContain('1 of 30 days above it (circled); latest 75 ms.');
    expect(count(html, `stroke="${COLOURS.down}"`)).toBe(1);
  });

  it('uptime over 7 d and 30 d count the failures and the unknown half day', () => {
    expect(p.uptime['7d']).toBeCloseTo(1 - 720 / (7 * 1440), 6);
    // the window starts at 12:00 thirty days ago: the unknown morning of day 30 is before it
    expect(p.uptime['30d']).toBeCloseTo((30 * 1440 - 120 - 722) / (30 * 1440 - 120), 6);
  });

  it('renders in a reasonable size: 90 cells with a tooltip each', () => {
    expect(count(html, '<rect class="d-')).toBe(90);
    expect(html.length).toBeLessThan(100_000);
  });
});

describe('status page: text from outside is escaped', () => {
  it('a probe name, an error and an alert title cannot inject markup', () => {
    const evil = probeHistory({
      name: 'api',
      now: NOW,
      days: 1,
      status: 'down',
      last: { ok: false, availabilityFailure: true, error: '<script>alert(1)</script> & "quotes"', failed: [] },
    });
    const incident: IncidentState = {
      fingerprint: 'x',
      status: 'firing',
      startsAt: NOW.toISOString(),
      alert: {
        fingerprint: 'x',
        status: 'firing',
        severity: 'warning',
        title: '<img src=x onerror=alert(1)>',
        summary: '',
        labels: {},
        source: 'test',
        links: [],
        startsAt: NOW.toISOString(),
        env: 'prod',
        details: {},
      },
      notified: true,
      seq: 1,
      transitions: [],
      messages: {},
    };
    const html = renderPage(
      statusOf(state({ title: 'A <b>status</b>', probes: [probe('api', evil)], incidents: [incident] }), NOW),
    );
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;');
  });
});
