/**
 * Probe alerts as the people on call get them: real probe runs (local targets, the file store, the in-process bus),
 * each published event through the real fan-out (routing, maintenance windows, the incident state in the bucket) to
 * the fake Slack and PagerDuty.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startTargets, type Targets } from '../support/probe-targets';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack';
import { startFakePagerDuty, type FakePagerDuty } from '../support/fake-pagerduty';
import { delivered } from '../support/fake-http';
import { message } from '../support/alert-messages';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { probeJob } from '../../shared/probes/job';
import { fanout } from '../../shared/alerts/pipeline';
import { SlackChannel } from '../../shared/alerts/channels/slack';
import { PagerDutyChannel } from '../../shared/alerts/channels/pagerduty';
import { createLogger } from '../../shared/log/logger';

let targets: Targets;
let slack: FakeSlack;
let pd: FakePagerDuty;
beforeAll(async () => {
  [targets, slack, pd] = await Promise.all([startTargets(), startFakeSlack(), startFakePagerDuty()]);
});
afterAll(async () => {
  await Promise.all([targets.close(), slack.close(), pd.close()]);
});

/** A probe function's runtime on an operator file, and the fan-out of the same configuration and bucket. */
function suite(file: object, dir = tempDir('mt-probe-alerts-')) {
  const path = join(dir, 'ops.json');
  writeFileSync(path, JSON.stringify(file));
  const rt = testRuntime({ BACKUP_BUCKET: `file://${dir}/bucket`, OPS_CONFIG: path, OPS_ENV: 'prod' });
  let handed = 0;
  /** Runs the probes at `now` and hands what they published to the fan-out, as the events topic does. */
  const tick = async (now: Date) => {
    await probeJob(rt, { all: true, now: () => now, retire: true }); // as the schedule runs it
    for (const m of rt.bus.published.slice(handed)) {
      handed++;
      await fanout(
        {
          store: rt.store,
          env: 'prod',
          logger: createLogger({ destination: new Writable({ write: (_c, _e, done) => done() }), level: 'silent' }),
          routing: rt.config.file.routing,
          maintenance: rt.config.file.maintenance,
          channels: {
            slack: new SlackChannel(slack.webhookUrl, { minIntervalMs: 0 }),
            pagerduty: new PagerDutyChannel('R0UTINGKEY0000000000000000000000', pd.eventsUrl),
          },
          deadLetter: { publish: async () => {}, close: async () => {} },
          now: () => now,
        },
        message(m.event, `m-${m.messageId}`),
      );
    }
  };
  return { rt, tick, dir };
}

const pagesOf = (probe: string) =>
  delivered(pd)
    .filter((r) => r.json?.dedup_key === `probe/prod/${probe}`)
    .map((r) => r.json.event_action as string);

describe('probe alerts through the fan-out', () => {
  it('a probe that ignores maintenance pages when it goes down inside a window (its alert is not held back by it)', async () => {
    const { tick } = suite({
      routing: { ignoreMaintenanceLabel: 'page_in_maintenance' },
      maintenance: [{ name: 'nightly', cron: '0 2 * * *', durationMinutes: 120, timeZone: 'UTC' }],
      probes: [
        { name: 'api-always', url: `${targets.url}/unhealthy`, failureThreshold: 2, ignoreMaintenance: true },
        { name: 'api-quiet', url: `${targets.url}/unhealthy`, failureThreshold: 2 },
      ],
    });
    await tick(new Date('2026-11-29T02:30:00Z'));
    await tick(new Date('2026-11-29T02:31:00Z'));
    expect(pagesOf('api-always')).toEqual(['trigger']);
    expect(pagesOf('api-quiet')).toEqual([]); // its samples are maintenance: no incident at all
    expect(delivered(slack).some((r) => String(r.json?.text).includes('api-always is down'))).toBe(true);
  });

  it('a probe removed from the operator file while its incident is open: the next scheduled run resolves it, saying why; added back and still failing, it pages anew', async () => {
    const dir = tempDir('mt-probe-alerts-');
    const api = { name: 'gone', url: `${targets.url}/unhealthy`, failureThreshold: 2 };
    const other = { name: 'stays', url: `${targets.url}/health` };
    const minute = (i: number) => new Date(Date.parse('2026-11-29T10:00:00Z') + i * 60_000);
    const before = suite({ maintenance: [], probes: [api, other] }, dir);
    await before.tick(minute(0));
    await before.tick(minute(1));
    expect(pagesOf('gone')).toEqual(['trigger']);

    // the operator file without it (a new process, as a deployment or a restart of npm start makes)
    const after = suite({ maintenance: [], probes: [other] }, dir);
    await after.tick(minute(2));
    expect(pagesOf('gone')).toEqual(['trigger', 'resolve']);
    const resolved = after.rt.bus.published.map((m) => m.event).find((e) => e.type === 'alert');
    expect(resolved).toMatchObject({
      status: 'resolved',
      fingerprint: 'probe/prod/gone',
      title: 'gone is no longer probed: removed from the configuration',
    });
    expect(after.rt.logs.some((l) => l.includes('probe gone is no longer configured'))).toBe(true);
    await after.tick(minute(3));
    expect(pagesOf('gone')).toEqual(['trigger', 'resolve']); // once

    // added back, the target still down: a new incident after failureThreshold samples, paged
    const again = suite({ maintenance: [], probes: [api, other] }, dir);
    await again.tick(minute(4));
    expect(pagesOf('gone')).toEqual(['trigger', 'resolve']);
    await again.tick(minute(5));
    expect(pagesOf('gone')).toEqual(['trigger', 'resolve', 'trigger']);
  });

  it('`mt-ops probe` (run by hand, maybe with another file) leaves the incidents of probes it does not know alone', async () => {
    const dir = tempDir('mt-probe-alerts-');
    const api = { name: 'elsewhere', url: `${targets.url}/unhealthy`, failureThreshold: 1 };
    const first = suite({ maintenance: [], probes: [api] }, dir);
    await first.tick(new Date('2026-11-29T10:00:00Z'));
    expect(pagesOf('elsewhere')).toEqual(['trigger']);
    const byHand = suite({ maintenance: [], probes: [{ name: 'mine', url: `${targets.url}/health` }] }, dir);
    await probeJob(byHand.rt, { all: true, now: () => new Date('2026-11-29T10:01:00Z') });
    expect(byHand.rt.bus.published).toEqual([]);
  });
});
