/**
 * The status page on the local runtime (`npm start`): /status, /status.json and /badge/... at the root, behind the
 * bearer token unless `status.public` is on; and then only they are open (POST /backup and the rest still need it).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { startLocalRuntime, type LocalRuntime } from '../support/local-runtime';
import { seedStatusBucket, statusProbesConfig } from '../support/status-history';
import { openStore } from '../../shared/storage/open';

const TOKEN = 'status-test-token-0123456789';
const runtimes: LocalRuntime[] = [];

async function suite(status: Record<string, unknown>): Promise<LocalRuntime> {
  const cwd = tempDir('mt-status-local-');
  writeFileSync(join(cwd, 'ops.config.json'), JSON.stringify(statusProbesConfig(status)));
  await seedStatusBucket(openStore(`file://${join(cwd, 'backups')}`), 'local', new Date());
  const rt = await startLocalRuntime(cwd, { OPS_API_TOKEN: TOKEN });
  runtimes.push(rt);
  return rt;
}

afterAll(async () => {
  for (const rt of runtimes) expect(await rt.stop()).toBe(0);
});

const bearer = { authorization: `Bearer ${TOKEN}` };
const PATHS = [
  '/status',
  '/status.json',
  '/badge/api-health/status.svg',
  '/badge/api-health/uptime.svg?window=7d',
  '/badge/backup/age.svg',
];

describe('status page on npm start', () => {
  let closed: LocalRuntime;
  let open: LocalRuntime;
  beforeAll(async () => {
    [closed, open] = await Promise.all([suite({}), suite({ public: true })]);
  });

  it('private by default: every status route needs the token', async () => {
    for (const path of PATHS) {
      const anonymous = await fetch(`${closed.url}${path}`);
      expect(anonymous.status, path).toBe(401);
      await anonymous.body?.cancel();
      const res = await fetch(`${closed.url}${path}`, { headers: bearer });
      expect(res.status, path).toBe(200);
      await res.body?.cancel();
    }
  });

  it('public when status.public is on: the page, its JSON and the badges, and nothing else', async () => {
    const page = await fetch(`${open.url}/status`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Partial outage: api-health-full is down.');
    const json = (await (await fetch(`${open.url}/status.json`)).json()) as {
      probes: Array<{ name: string; status: string }>;
    };
    expect(json.probes.map((p) => `${p.name} ${p.status}`)).toEqual([
      'api-health up',
      'api-health-full down',
      'worker maintenance',
      'backup-freshness unknown',
    ]);
    for (const [path, label] of <Array<[string, string | RegExp]>>[
      ['/badge/api-health/status.svg', 'api-health: up'],
      ['/badge/api-health-full/status.svg', 'api-health-full: down'],
      // read seconds after the bucket was seeded: a sample due since then is missing (unknown, never up)
      ['/badge/api-health/uptime.svg?window=7d', /uptime 7d: (100|99\.99)%/],
      ['/badge/backup/age.svg', 'backup: 3 h ago'],
    ]) {
      const res = await fetch(`${open.url}${path}`);
      expect(res.status, String(path)).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
      expect(await res.text()).toMatch(new RegExp(`aria-label="${typeof label === 'string' ? label : label.source}"`));
    }
    // everything else still needs the token
    const backup = await fetch(`${open.url}/backup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(backup.status).toBe(401);
    await backup.body?.cancel();
    for (const path of ['/', '/status/status.json', '/statusx']) {
      const res = await fetch(`${open.url}${path}`);
      expect(res.status, path).toBe(401);
      await res.body?.cancel();
    }
    // a public route answers GET and HEAD only; a POST to it needs the token like any other
    const post = await fetch(`${open.url}/status`, { method: 'POST' });
    expect(post.status).toBe(401);
    await post.body?.cancel();
    expect(open.output()).not.toContain(TOKEN);
  });
});
