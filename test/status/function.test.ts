/**
 * The status function as deployed (functions/status/index.ts on the real functions-framework), reading a real bucket
 * (a folder) written the way the probes, backups and fan-out write it: the page, the JSON and the badges; bad input;
 * and nothing on any of them revealing a secret, a database URL or host, an IP address or an internal host name.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { tempDir } from '../support/temp';
import { probeHistory } from '../support/status-history';
import { writeSyntheticBackup } from '../support/synthetic-backup';
import { openStore } from '../../shared/storage/open';
import { probeKeys, stateDocument } from '../../shared/probes/state';
import { alertKeys } from '../../shared/alerts/layout';
import { addSilence } from '../../shared/alerts/silences';
import type { IncidentState } from '../../shared/alerts/lifecycle';
import { statusRoute } from '../../functions/status/handlers';

const saved = { ...process.env };
let server: Server;
let base: string;
const ENV = 'prod';
const now = new Date();

// What must never show: the database password, URL and host, the verify database, an internal host, IP addresses, the Slack webhook.
const SECRETS = [
  'hunter2-db-password',
  'db.prod-7f3a.example.net',
  'postgres://',
  'verify-db.example.net',
  'scratch-password',
  'api.prod.internal',
  '10.20.30.40',
  'hooks.slack.com',
  'T0SLACK/B0SLACK',
  'fd00::17',
];

beforeAll(async () => {
  const dir = tempDir('mt-status-');
  const bucket = join(dir, 'bucket');
  writeFileSync(
    join(dir, 'ops.yaml'),
    [
      'probes:',
      '  - { name: api-health, url: "http://api.prod.internal:8000/health" }',
      '  - { name: database, kind: postgres, url: "${DATABASE_URL}" }',
      '  - { name: secret-probe, url: "http://10.20.30.40/x" }',
      '  - { name: backup-freshness, kind: backup-freshness, maxAgeHours: 26 }',
      'status: { title: "Missing Table", hideProbes: [secret-probe] }',
    ].join('\n'),
  );
  Object.assign(process.env, {
    DATABASE_URL: 'postgres://ops:hunter2-db-password@db.prod-7f3a.example.net:5432/app',
    VERIFY_DATABASE_URL: 'postgres://ops:scratch-password@verify-db.example.net/scratch',
    SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0SLACK/B0SLACK/xyzzy',
    BACKUP_BUCKET: `file://${bucket}`,
    OPS_ENV: ENV,
    OPS_CONFIG: join(dir, 'ops.yaml'),
    LOG_LEVEL: 'silent',
  });
  const store = openStore(`file://${bucket}`);
  // the probes' state documents, as the probe function leaves them, with errors that carry what must not show
  const api = probeHistory({
    name: 'api-health',
    now,
    status: 'down',
    since: new Date(now.getTime() - 600_000).toISOString(),
    last: {
      ok: false,
      availabilityFailure: true,
      error: 'connect ECONNREFUSED 10.20.30.40:8000 (api.prod.internal)',
      failed: [
        {
          condition: '[STATUS] == 200',
          severity: 'critical',
          message: 'GET http://api.prod.internal:8000/health failed',
        },
      ],
    },
  });
  const db = probeHistory({
    name: 'database',
    now,
    last: {
      ok: false,
      kind: 'postgres',
      availabilityFailure: true,
      error:
        'getaddrinfo ENOTFOUND db.prod-7f3a.example.net; postgres://ops:hunter2-db-password@db.prod-7f3a.example.net:5432/app; [fd00::17]:5432',
      failed: [],
    },
  });
  const hidden = probeHistory({ name: 'secret-probe', now });
  for (const s of [api, db, hidden])
    await store.writeJson(probeKeys.state(ENV, s.probe), stateDocument(s), { ifGeneration: null });
  // backups: the newest 3 hours old, verified with a drill
  await writeSyntheticBackup(
    store,
    ENV,
    new Date(now.getTime() - 27 * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
    { suffix: 'aaaa' },
  );
  await writeSyntheticBackup(
    store,
    ENV,
    new Date(now.getTime() - 3 * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
    { suffix: 'bbbb', verify: { ok: true, at: new Date(now.getTime() - 3_600_000).toISOString() } },
  );
  // a firing incident whose title and summary carry a webhook URL and the database URL
  const fp = 'probe/prod/api-health';
  const incident: IncidentState = {
    fingerprint: fp,
    status: 'firing',
    startsAt: new Date(now.getTime() - 600_000).toISOString(),
    alert: {
      fingerprint: fp,
      status: 'firing',
      severity: 'critical',
      title: 'api-health is down: https://hooks.slack.com/services/T0SLACK/B0SLACK/xyzzy',
      summary: 'postgres://ops:hunter2-db-password@db.prod-7f3a.example.net/app',
      labels: {},
      source: 'probe',
      links: [],
      startsAt: new Date(now.getTime() - 600_000).toISOString(),
      env: ENV,
      details: {},
    },
    notified: true,
    seq: 1,
    transitions: [],
    messages: {},
  };
  await store.writeJson(alertKeys.incident(ENV, fp), incident, { ifGeneration: null });
  await store.writeJson(alertKeys.incident(ENV, 'junk'), { not: 'an incident' }, { ifGeneration: null });
  await addSilence(
    store,
    ENV,
    {
      matchers: ['probe=database'],
      reason: 'moving db.prod-7f3a.example.net to 10.20.30.40',
      author: 'ops',
      expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
    },
    new Date(now.getTime() - 60_000),
  );

  await import('../../functions/status/index');
  server = getTestServer('statusHttp');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  process.env = saved;
});

function expectNothingSecret(text: string) {
  for (const s of SECRETS) expect(text, `shows ${s}`).not.toContain(s);
}

describe('the status function', () => {
  it('serves the page: HTML, self-refreshing, no script allowed, the probes and backups as they are', async () => {
    const res = await fetch(`${base}/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<meta http-equiv="refresh" content="60">');
    expect(html).toContain('<h1>Missing Table</h1>');
    expect(html).toContain('Partial outage: api-health is down.');
    expect(html).toContain('<h3 id="probe-0-h">api-health</h3>');
    expect(html).toContain('<h3 id="probe-1-h">database</h3>');
    // the backup-freshness probe has never run: it says so
    expect(html).toContain(
      '<h3 id="probe-2-h">backup-freshness</h3> <span class="pill pill-none"><span aria-hidden="true">?</span> No data</span></div><p class="empty">No data yet: this probe has not run.</p>',
    );
    expect(html).not.toContain('secret-probe');
    expect(html).toContain('<li>connect ECONNREFUSED &lt;ip&gt;:8000 (&lt;host&gt;)</li>');
    expect(html).toContain('2 backups kept');
    expect(html).toContain('api-health is down: ***'); // the webhook URL is a registered secret: masked whole
    expect(html).toContain('moving &lt;host&gt; to &lt;ip&gt;');
    expectNothingSecret(html);
    expect((await fetch(`${base}/`)).status).toBe(200);
  });

  it('serves the same data as JSON', async () => {
    const res = await fetch(`${base}/status.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const text = await res.text();
    expectNothingSecret(text);
    const body = JSON.parse(text) as {
      env: string;
      probes: Array<{ name: string; status: string; days: unknown[] }>;
      backups: { newest: { fresh: boolean } };
      incidents: { firing: unknown[] };
    };
    expect(body.env).toBe(ENV);
    expect(body.probes.map((p) => [p.name, p.status, p.days.length])).toEqual([
      ['api-health', 'down', 90],
      ['database', 'up', 90],
      ['backup-freshness', 'unknown', 90],
    ]);
    expect(body.backups.newest.fresh).toBe(true);
    expect(body.incidents.firing).toHaveLength(1);
  });

  it('serves the badges as SVG', async () => {
    // (read seconds after the states were written: a sample due since then is missing, unknown, never up)
    for (const [path, label] of [
      ['/badge/api-health/status.svg', 'api-health: down'],
      ['/badge/database/uptime.svg', 'uptime 30d: (100|99\\.99)%'],
      ['/badge/database/uptime.svg?window=24h', 'uptime 24h: (100|99\\.9\\d)%'],
      ['/badge/backup/age.svg', 'backup: 3 h ago'],
    ]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
      const svg = await res.text();
      expect(svg).toMatch(new RegExp(`aria-label="${label}"`));
      expectNothingSecret(svg);
    }
    // a probe the page hides, or one that does not exist: a "not found" badge with 404
    for (const name of ['secret-probe', 'nope']) {
      const res = await fetch(`${base}/badge/${name}/status.svg`);
      expect(res.status).toBe(404);
      expect(await res.text()).toContain(`aria-label="${name}: not found"`);
    }
  });

  it('bad input is 400 JSON with the field path; other methods 405; unknown paths 404', async () => {
    const bad = await fetch(`${base}/badge/database/uptime.svg?window=1y`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: expect.stringContaining('invalid request: query.window'),
      issues: [expect.stringMatching(/^query\.window: /)],
    });
    const name = await fetch(`${base}/badge/${encodeURIComponent('a b')}/status.svg`);
    expect(name.status).toBe(400);
    expect(((await name.json()) as { issues: string[] }).issues).toEqual([
      expect.stringMatching(/^path\.probe: a probe name/),
    ]);
    const post = await fetch(`${base}/status`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect(await post.json()).toEqual({ error: 'use GET', issues: [] });
    const missing = await fetch(`${base}/nothing-here`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/json/);
    const head = await fetch(`${base}/status`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});

describe('statusRoute (pure)', () => {
  const q = (s = '') => new URLSearchParams(s);
  it.each<[string, string, unknown]>([
    ['/', '', { kind: 'page' }],
    ['/status', '', { kind: 'page' }],
    ['/status.json', '', { kind: 'json' }],
    ['/status/status.json', '', { kind: 'json' }],
    ['/badge/api/status.svg', '', { kind: 'badge', badge: 'status', probe: 'api', window: '30d' }],
    ['/badge/api/uptime.svg', 'window=7d', { kind: 'badge', badge: 'uptime', probe: 'api', window: '7d' }],
    ['/badge/backup/age.svg', '', { kind: 'backup-age' }],
    ['/badge/backup/status.svg', '', { kind: 'badge', badge: 'status', probe: 'backup', window: '30d' }],
    ['/badge/api/age.svg', '', { kind: 'error', status: 404 }],
    ['/badge/api/other.svg', '', { kind: 'error', status: 404 }],
    ['/badge/%E0%A4%A/status.svg', '', { kind: 'error', status: 400 }],
    ['/elsewhere', '', { kind: 'error', status: 404 }],
  ])('%s?%s', (path, query, expected) => {
    expect(statusRoute(path, q(query))).toMatchObject(expected as object);
  });
});
