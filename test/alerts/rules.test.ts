import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { decodeDocument, decodeMessage } from '../../shared/alerts/decode';
import { registerSecret } from '../../shared/log/redact';
import { normalise } from '../../shared/alerts/normalise';
import { RoutingSchema } from '../../shared/alerts/config';
import { route } from '../../shared/alerts/route';
import { decide, sweepDue, type IncidentState } from '../../shared/alerts/lifecycle';
import { silencedBy, type Silence } from '../../shared/alerts/silences';
import { muteReason } from '../../shared/alerts/pipeline';
import { MaintenanceSectionSchema } from '../../shared/maintenance/window';
import type { Alert } from '../../shared/alerts/model';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
const b64 = (s: string) => Buffer.from(s).toString('base64');

const alert = (over: Partial<Alert> = {}): Alert => ({
  fingerprint: 'f1',
  status: 'firing',
  severity: 'critical',
  title: 't',
  summary: 's',
  labels: {},
  source: 'mt-ops',
  links: [],
  startsAt: '2026-11-29T03:00:00.000Z',
  env: 'prod',
  details: {},
  ...over,
});

describe('decode and normalise', () => {
  it('the Cloud Monitoring open sample: firing, critical, console link and documentation kept', () => {
    const d = decodeDocument(fixture('cm-incident-open.json'), 'm1');
    expect(d.kind).toBe('incident');
    const [a] = normalise(d as Exclude<typeof d, { kind: 'poison' }>, 'prod').alerts;
    expect(a).toMatchObject({
      fingerprint: 'cloud-monitoring/0.nx7k2q9wbc41',
      status: 'firing',
      severity: 'critical',
      source: 'cloud-monitoring',
      startsAt: '2025-11-29T14:00:00.000Z',
      links: [{ url: expect.stringContaining('console.cloud.google.com/monitoring/alerting/alerts/0.nx7k2q9wbc41') }],
      details: {
        documentation: expect.stringContaining('Runbook: Database Recovery'),
        observed_value: '12.000',
        threshold_value: '5',
      },
      labels: { team: 'platform', policy: 'DB connection errors' },
    });
  });

  it('the close sample pairs with the open by incident_id and carries its end', () => {
    const d = decodeDocument(fixture('cm-incident-closed.json'), 'm2');
    const [a] = normalise(d as Exclude<typeof d, { kind: 'poison' }>, 'prod').alerts;
    expect(a).toMatchObject({
      fingerprint: 'cloud-monitoring/0.nx7k2q9wbc41',
      status: 'resolved',
      endsAt: '2025-11-29T14:27:00.000Z',
    });
  });

  it('the push envelope sample decodes to the open incident with its message id', () => {
    const d = decodeDocument(fixture('cm-pubsub-push-envelope.json'), 'fallback');
    expect(d).toMatchObject({
      kind: 'incident',
      messageId: '15738239201442101',
      notification: { incident: { state: 'open' } },
    });
  });

  it.each([
    ['CRITICAL', 'critical'],
    ['critical', 'critical'],
    ['Error', 'warning'],
    ['Warning', 'warning'],
    ['No severity', 'warning'],
    [undefined, 'warning'],
  ])('Cloud Monitoring severity %s -> %s; state case and unknown fields tolerated', (severity, expected) => {
    const doc = JSON.parse(fixture('cm-incident-open.json'));
    doc.incident.state = 'OPEN';
    doc.incident.brand_new_field = { x: 1 };
    if (severity === undefined) delete doc.incident.severity;
    else doc.incident.severity = severity;
    const d = decodeMessage({ data: b64(JSON.stringify(doc)), messageId: '1' });
    expect(d.kind).toBe('incident');
    expect(normalise(d as Exclude<typeof d, { kind: 'poison' }>, 'prod').alerts[0]!.severity).toBe(expected);
  });

  it.each([
    ['not base64', { data: '%%%' }, /^data: not base64$/],
    ['not JSON', { data: b64('{nope') }, /not valid JSON/],
    ['an array', { data: b64('[1]') }, /expected a JSON object/],
    ['an unknown event type', { data: b64(JSON.stringify({ type: 'backup.exploded', env: 'x' })) }, /^data\.type/],
    [
      'an incident without id',
      { data: b64(JSON.stringify({ version: '1.2', incident: { state: 'open' } })) },
      /data\.incident\.incident_id/,
    ],
    [
      'an incident with a bad state',
      { data: b64(JSON.stringify({ version: '1.2', incident: { incident_id: 'x', state: 'halfway' } })) },
      /data\.incident\.state/,
    ],
    ['neither', { data: b64(JSON.stringify({ hello: 'world' })) }, /neither a suite event/],
  ])('poison: %s, with a reason and a redacted excerpt', (_name, message, reason) => {
    const d = decodeMessage({ ...message, messageId: '7' });
    expect(d).toMatchObject({ kind: 'poison', messageId: '7' });
    expect((d as { reason: string }).reason).toMatch(reason);
  });

  it('the excerpt of a poison message masks secrets', () => {
    const d = decodeMessage({ data: b64('{"url": "postgres://ops:hunter2-secret@db/x", broken'), messageId: '8' });
    expect(d.kind).toBe('poison');
    expect((d as { excerpt: string }).excerpt).not.toContain('hunter2-secret');
    expect((d as { excerpt: string }).excerpt).toContain('postgres://ops:***@db');
  });

  it('the excerpt masks a registered secret before it is cut (a secret cut in two was not recognised)', () => {
    registerSecret('poison-excerpt-token-123456');
    const raw = `{"pad": "${'x'.repeat(170)}", "t": "poison-excerpt-token-123456", broken`;
    const d = decodeMessage({ data: b64(raw), messageId: '9' });
    expect(d.kind).toBe('poison');
    expect((d as { excerpt: string }).excerpt).not.toMatch(/poison-ex/);
  });

  it.each([
    [
      {
        type: 'backup.failed',
        severity: 'critical',
        env: 'prod',
        time: '2026-11-29T08:00:00.000Z',
        trigger: 'scheduled',
        reason: 'boom',
        table: 'public.t',
      },
      [['mt-ops/prod/backup', 'firing', 'critical']],
      0,
    ],
    [
      {
        type: 'backup.succeeded',
        severity: 'info',
        env: 'prod',
        time: '2026-11-29T08:00:00.000Z',
        backupId: 'b1',
        trigger: 'scheduled',
        bytes: 1,
        rows: 1,
        tables: 1,
        durationMs: 1000,
      },
      [['mt-ops/prod/backup', 'resolved', 'critical']],
      1,
    ],
    [
      {
        type: 'verify.failed',
        severity: 'critical',
        env: 'prod',
        time: '2026-11-29T08:00:00.000Z',
        reason: 'sha mismatch',
      },
      [['mt-ops/prod/verify', 'firing', 'critical']],
      0,
    ],
    [
      { type: 'retention.failed', severity: 'warning', env: 'prod', time: '2026-11-29T08:00:00.000Z', reason: 'held' },
      [['mt-ops/prod/retention', 'firing', 'warning']],
      0,
    ],
    [
      {
        type: 'retention.completed',
        severity: 'info',
        env: 'prod',
        time: '2026-11-29T08:00:00.000Z',
        kept: 1,
        removed: 1,
        orphansRemoved: 0,
        bytesFreed: 5,
        skipped: 0,
      },
      [['mt-ops/prod/retention', 'resolved', 'warning']],
      1,
    ],
    [
      {
        type: 'probe.state_changed',
        severity: 'critical',
        env: 'prod',
        time: '2026-11-29T08:00:00.000Z',
        probe: 'api-full',
        from: 'up',
        to: 'down',
      },
      [['probe/prod/api-full', 'firing', 'critical']],
      0,
    ],
    [
      {
        type: 'deployment.failed',
        severity: 'warning',
        env: 'prod',
        time: '2026-11-29T08:00:00.000Z',
        project: 'p',
        region: 'us-east1',
        step: 'tests',
        reason: 'exit 1',
      },
      [['mt-ops/prod/deployment', 'firing', 'warning']],
      1,
    ],
    [
      {
        type: 'deployment.succeeded',
        severity: 'info',
        env: 'prod',
        time: '2026-11-29T08:00:00.000Z',
        project: 'p',
        region: 'us-east1',
        commit: 'abc',
      },
      [['mt-ops/prod/deployment', 'resolved', 'warning']],
      1,
    ],
    [
      {
        type: 'alert',
        severity: 'warning',
        env: 'prod',
        time: '2026-11-29T08:00:00.000Z',
        status: 'resolved',
        fingerprint: 'probe/api',
        title: 'API slow',
        startsAt: '2026-11-29T07:00:00.000Z',
        endsAt: '2026-11-29T08:00:00.000Z',
        source: 'probe',
      },
      [['probe/api', 'resolved', 'warning']],
      0,
    ],
  ])('our event %# normalises to the alert model (+ notices)', (event, expected, notices) => {
    const d = decodeMessage({ data: b64(JSON.stringify(event)), messageId: '1' });
    const n = normalise(d as Exclude<typeof d, { kind: 'poison' }>, 'prod');
    expect(n.alerts.map((a) => [a.fingerprint, a.status, a.severity])).toEqual(expected);
    expect(n.notices).toHaveLength(notices);
  });
});

describe('routing tree', () => {
  const defaults = RoutingSchema.parse({});
  const custom = RoutingSchema.parse({
    receivers: ['digest'],
    routes: [
      { matchers: ['source = cloud-monitoring', 'team = platform'], receivers: ['webhook'], continue: true },
      {
        matchers: ['severity = critical'],
        receivers: ['pagerduty', 'slack', 'email'],
        routes: [{ matchers: ['env =~ staging|dev'], receivers: ['slack'] }],
      },
      { matchers: ['severity = warning', 'probe != api-canary'], receivers: ['slack', 'email'] },
    ],
  });
  it.each([
    ['default critical', defaults, alert(), ['pagerduty', 'slack', 'email']],
    ['default warning', defaults, alert({ severity: 'warning' }), ['slack', 'email']],
    ['default info', defaults, alert({ severity: 'info' }), ['digest']],
    [
      'continue: both routes',
      custom,
      alert({ source: 'cloud-monitoring', labels: { team: 'platform' } }),
      ['webhook', 'pagerduty', 'slack', 'email'],
    ],
    ['child route wins (staging does not page)', custom, alert({ env: 'staging' }), ['slack']],
    ['regex does not match a part', custom, alert({ env: 'staging-2' }), ['pagerduty', 'slack', 'email']],
    ['!= excludes', custom, alert({ severity: 'warning', labels: { probe: 'api-canary' } }), ['digest']],
    ['!= on a missing label matches', custom, alert({ severity: 'warning' }), ['slack', 'email']],
  ])('%s', (_name, routing, a, expected) => {
    expect(route(routing, a)).toEqual(expected);
  });

  it('reads the old flat section as the same tree', () => {
    const flat = RoutingSchema.parse({ critical: ['pagerduty'], warning: ['email'], slackChannel: '#ops' });
    expect(route(flat, alert())).toEqual(['pagerduty']);
    expect(route(flat, alert({ severity: 'warning' }))).toEqual(['email']);
    expect(route(flat, alert({ severity: 'info' }))).toEqual(['digest']);
    expect(flat.slackChannel).toBe('#ops');
  });

  it.each([
    [{ routes: [{ matchers: ['severity == critical'] }] }, 'routes[0].matchers[0]'],
    [{ routes: [{ matchers: ['x =~ ('] }] }, 'routes[0].matchers[0]'],
    [{ routes: [{ receivers: ['sms'] }] }, 'routes[0].receivers[0]'],
    [{ routes: [{ routes: [{ continu: true }] }] }, 'routes[0].routes[0]'],
  ])('rejects a bad tree %j at %s', (value, path) => {
    const r = RoutingSchema.safeParse(value);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain(path.replace(/\[(\d+)\]/g, '.$1'));
  });
});

describe('lifecycle: notify once per change', () => {
  const H = 3_600_000;
  const o = (now: string, messageId: string, mutedBy?: string) => ({
    now: new Date(now),
    messageId,
    repeatIntervalMs: 4 * H,
    receivers: ['slack' as const],
    ...(mutedBy ? { mutedBy } : {}),
  });
  /** Runs a sequence of (alert, options) through decide and returns the transitions' kinds (or '-' for none). */
  const run = (steps: Array<[Alert, ReturnType<typeof o>]>) => {
    let state: IncidentState | undefined;
    return steps.map(([a, opts]) => {
      const d = decide(state, a, opts);
      state = d.state;
      return d.transition ? `${d.transition.kind}#${d.transition.seq}` : '-';
    });
  };
  const firing = (startsAt = '2026-11-29T03:00:00.000Z') => alert({ startsAt });
  const resolved = (endsAt: string, startsAt = '2026-11-29T03:00:00.000Z') =>
    alert({ status: 'resolved', startsAt, endsAt });

  it.each([
    [
      'fires once, then is quiet',
      [
        [firing(), o('2026-11-29T03:00:00Z', 'a')],
        [firing(), o('2026-11-29T03:05:00Z', 'b')],
      ],
      ['firing#1', '-'],
    ],
    [
      'reminds after the repeat interval',
      [
        [firing(), o('2026-11-29T03:00:00Z', 'a')],
        [firing(), o('2026-11-29T07:00:00Z', 'b')],
        [firing(), o('2026-11-29T08:00:00Z', 'c')],
      ],
      ['firing#1', 'reminder#2', '-'],
    ],
    [
      'a redelivered message maps to the same transition',
      [
        [firing(), o('2026-11-29T03:00:00Z', 'a')],
        [firing(), o('2026-11-29T09:00:00Z', 'a')],
      ],
      ['firing#1', 'firing#1'],
    ],
    [
      'resolve at once',
      [
        [firing(), o('2026-11-29T03:00:00Z', 'a')],
        [resolved('2026-11-29T03:10:00Z'), o('2026-11-29T03:10:00Z', 'b')],
      ],
      ['firing#1', 'resolved#2'],
    ],
    [
      'resolve before firing: the late firing is stale',
      [
        [resolved('2026-11-29T03:10:00Z'), o('2026-11-29T03:10:00Z', 'b')],
        [firing(), o('2026-11-29T03:11:00Z', 'a')],
      ],
      ['-', '-'],
    ],
    [
      'a new firing after the resolve reopens',
      [
        [firing(), o('2026-11-29T03:00:00Z', 'a')],
        [resolved('2026-11-29T03:10:00Z'), o('2026-11-29T03:10:00Z', 'b')],
        [firing('2026-11-29T05:00:00.000Z'), o('2026-11-29T05:00:00Z', 'c')],
      ],
      ['firing#1', 'resolved#2', 'firing#3'],
    ],
    [
      'muted firing is sent when the mute ends',
      [
        [firing(), o('2026-11-29T03:00:00Z', 'a', 'maintenance window monthly')],
        [firing(), o('2026-11-29T04:01:00Z', 'b')],
      ],
      ['-', 'firing#1'],
    ],
    [
      'a resolve of a muted firing tells nobody',
      [
        [firing(), o('2026-11-29T03:00:00Z', 'a', 'silence x')],
        [resolved('2026-11-29T03:10:00Z'), o('2026-11-29T03:10:00Z', 'b')],
      ],
      ['-', '-'],
    ],
    [
      'a second resolve is quiet',
      [
        [firing(), o('2026-11-29T03:00:00Z', 'a')],
        [resolved('2026-11-29T03:10:00Z'), o('2026-11-29T03:10:00Z', 'b')],
        [resolved('2026-11-29T03:11:00Z'), o('2026-11-29T03:11:00Z', 'c')],
      ],
      ['firing#1', 'resolved#2', '-'],
    ],
  ] as Array<[string, Array<[Alert, ReturnType<typeof o>]>, string[]]>)('%s', (_name, steps, expected) => {
    expect(run(steps)).toEqual(expected);
  });
});

describe('lifecycle: a resolve reaches whoever its firing reached', () => {
  const at = (now: string, messageId: string, receivers: IncidentState['transitions'][number]['receivers']) => ({
    now: new Date(now),
    messageId,
    repeatIntervalMs: 4 * 3_600_000,
    receivers,
  });
  it("routed elsewhere (a resolve without the labels its firing was routed by: a removed probe's): the firing's receivers too", () => {
    // a warning routed to PagerDuty by a label; its resolve (the probe gone, its labels with it) routes by severity alone
    const fired = decide(undefined, alert({ severity: 'warning' }), at('2026-11-29T03:00:00Z', 'a', ['pagerduty']));
    const resolve = alert({ severity: 'warning', status: 'resolved', endsAt: '2026-11-29T03:10:00.000Z' });
    const d = decide(fired.state, resolve, at('2026-11-29T03:10:00Z', 'b', ['slack', 'email']));
    expect(d.transition).toMatchObject({ kind: 'resolved' });
    expect([...d.transition!.receivers].sort()).toEqual(['email', 'pagerduty', 'slack']);
  });
  it("an escalation's and a reminder's receivers count; an earlier incident's (before a resolve) do not", () => {
    let s = decide(undefined, alert({ severity: 'warning' }), at('2026-11-29T03:00:00Z', 'a', ['email'])).state;
    s = decide(
      s,
      alert({ status: 'resolved', endsAt: '2026-11-29T03:05:00.000Z' }),
      at('2026-11-29T03:05:00Z', 'b', ['email']),
    ).state;
    const again = '2026-11-29T04:00:00.000Z';
    s = decide(s, alert({ severity: 'warning', startsAt: again }), at('2026-11-29T04:00:00Z', 'c', ['slack'])).state;
    s = decide(
      s,
      alert({ severity: 'critical', startsAt: again }),
      at('2026-11-29T04:01:00Z', 'd', ['pagerduty']),
    ).state;
    const d = decide(
      s,
      alert({ status: 'resolved', startsAt: again, endsAt: '2026-11-29T04:30:00.000Z' }),
      at('2026-11-29T04:30:00Z', 'e', ['pagerduty']),
    );
    expect([...d.transition!.receivers].sort()).toEqual(['pagerduty', 'slack']);
  });
});

describe('lifecycle: incident documents written before the message list', () => {
  it('an old document (message id -> seq object) still recognises a redelivered message, and is rewritten as a list', () => {
    const legacy = {
      fingerprint: 'f',
      status: 'firing',
      startsAt: '2026-11-29T03:00:00.000Z',
      alert: alert(),
      notified: true,
      lastNotifiedAt: '2026-11-29T03:00:00.000Z',
      seq: 1,
      transitions: [{ seq: 1, kind: 'firing', at: '2026-11-29T03:00:00.000Z', receivers: ['slack'], messageId: '41' }],
      messages: { '41': 1 },
    } as IncidentState;
    const o = (messageId: string) => ({
      now: new Date('2026-11-29T03:05:00Z'),
      messageId,
      repeatIntervalMs: 4 * 3_600_000,
      receivers: ['slack' as const],
    });
    expect(decide(legacy, alert(), o('41'))).toMatchObject({ unchanged: true, transition: { seq: 1, kind: 'firing' } });
    const next = decide(legacy, alert(), o('42'));
    expect(next.state.messages).toEqual([
      ['41', 1],
      ['42', 0],
    ]);
    expect(decide(next.state, alert(), o('41'))).toMatchObject({ unchanged: true, why: 'redelivered message' });
  });
});

describe('sweep: is something due for a firing incident no message touched?', () => {
  const H = 3_600_000;
  const state = (over: Partial<IncidentState>): IncidentState => ({
    fingerprint: 'f',
    status: 'firing',
    startsAt: '2026-11-29T03:00:00.000Z',
    alert: alert(),
    notified: true,
    lastNotifiedAt: '2026-11-29T03:00:00.000Z',
    seq: 1,
    transitions: [],
    messages: [],
    ...over,
  });
  it.each([
    ['notified, interval not passed', state({}), '2026-11-29T06:59:59Z', undefined, false],
    ['notified, interval passed: reminder', state({}), '2026-11-29T07:00:00Z', undefined, true],
    ['interval passed but muted now', state({}), '2026-11-29T07:00:00Z', 'silence x', false],
    [
      'held back, still muted',
      state({ notified: false, mutedBy: 'maintenance window monthly' }),
      '2026-11-29T03:30:00Z',
      'maintenance window monthly',
      false,
    ],
    [
      'held back, mute over: send now',
      state({ notified: false, mutedBy: 'maintenance window monthly' }),
      '2026-11-29T04:00:00Z',
      undefined,
      true,
    ],
    [
      'sent as a warning, now critical (escalated while muted), mute over: send now',
      state({ alert: alert({ severity: 'critical' }), notifiedSeverity: 'warning' }),
      '2026-11-29T03:30:00Z',
      undefined,
      true,
    ],
    [
      'sent as a warning, now critical, still muted',
      state({ alert: alert({ severity: 'critical' }), notifiedSeverity: 'warning' }),
      '2026-11-29T03:30:00Z',
      'silence x',
      false,
    ],
    [
      'sent as critical, interval not passed',
      state({ notifiedSeverity: 'critical' }),
      '2026-11-29T03:30:00Z',
      undefined,
      false,
    ],
    ['resolved', state({ status: 'resolved', notified: false }), '2026-11-30T00:00:00Z', undefined, false],
  ])('%s', (_name, s, now, mutedBy, expected) => {
    expect(sweepDue(s, new Date(now), 4 * H, mutedBy)).toBe(expected);
  });
});

describe('muting: silences and maintenance windows', () => {
  const routing = RoutingSchema.parse({});
  const maintenance = MaintenanceSectionSchema.parse(undefined);
  const silence: Silence = {
    id: 'abcd-1',
    matchers: ['probe = api-full'],
    reason: 'deploy',
    author: 'tom',
    createdAt: '2026-11-29T10:00:00.000Z',
    expiresAt: '2026-11-29T12:00:00.000Z',
  };
  it.each([
    ['silence matches', alert({ labels: { probe: 'api-full' } }), '2026-11-29T11:00:00Z', [silence], 'silence abcd-1'],
    ['silence expired', alert({ labels: { probe: 'api-full' } }), '2026-11-29T12:00:00Z', [silence], undefined],
    ['silence does not match', alert({ labels: { probe: 'api' } }), '2026-11-29T11:00:00Z', [silence], undefined],
    // first Sunday of November 2026 is the 1st: DST ends at 02:00 EDT -> 01:00 EST; the window is 02:00-04:00 EST (07:00-09:00Z)
    [
      'maintenance on the DST change (fall back)',
      alert(),
      '2026-11-01T07:30:00Z',
      [],
      expect.stringMatching(/^maintenance window monthly/),
    ],
    ['01:30 EDT on that day is before the window', alert(), '2026-11-01T05:30:00Z', [], undefined],
    ['after the window', alert(), '2026-11-01T09:00:00Z', [], undefined],
    // March 1 2026 (EST): 02:00-04:00 EST = 07:00-09:00Z
    ['first Sunday of March', alert(), '2026-03-01T08:59:00Z', [], expect.stringMatching(/^maintenance/)],
    ['second Sunday is not', alert(), '2026-03-08T08:00:00Z', [], undefined],
    [
      'labelled to ignore maintenance',
      alert({ labels: { ignore_maintenance: 'true' } }),
      '2026-11-01T07:30:00Z',
      [],
      undefined,
    ],
  ])('%s', (_name, a, now, silences, expected) => {
    expect(muteReason({ routing, maintenance }, a, new Date(now), silences)).toEqual(expected);
  });

  it('silencedBy matches on severity, source and env too', () => {
    const s = { ...silence, matchers: ['severity = warning', 'source =~ probe|cloud-monitoring'] };
    expect(silencedBy([s], alert({ severity: 'warning', source: 'probe' }), new Date('2026-11-29T11:00:00Z'))?.id).toBe(
      'abcd-1',
    );
    expect(
      silencedBy([s], alert({ severity: 'critical', source: 'probe' }), new Date('2026-11-29T11:00:00Z')),
    ).toBeUndefined();
  });
});
