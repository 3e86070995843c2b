import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { tempDir } from '../support/temp';
import { startFakeSlack, type FakeSlack } from '../support/fake-slack';
import { startFakePagerDuty, type FakePagerDuty } from '../support/fake-pagerduty';
import { delivered, startFakeHttp } from '../support/fake-http';
import { loadConfig } from '../../shared/config/load';
import { functionRuntime } from '../../shared/functions/runtime';
import { openStore } from '../../shared/storage/open';
import { saveToOutbox } from '../../shared/bus/outbox';
import { OUTBOX_READ_LIMIT } from '../../shared/bus/outbox-read';
import { probeFiring } from '../support/alert-messages';

let slack: FakeSlack;
let pd: FakePagerDuty;
let env: Record<string, string | undefined>;
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
/** A file just over the 10 MB a Pub/Sub message may hold. */
function bigFile(): string {
  const path = join(tempDir('mt-alerts-big-'), 'big.json');
  writeFileSync(path, Buffer.alloc(11 * 1024 * 1024, 0x20));
  return path;
}

beforeAll(async () => {
  [slack, pd] = await Promise.all([startFakeSlack(), startFakePagerDuty()]);
  env = {
    BACKUP_BUCKET: `file://${tempDir('mt-alerts-cli-')}`,
    OPS_ENV: 'prod',
    OPS_CONFIG: undefined,
    GOOGLE_CLOUD_PROJECT: undefined,
    PUBSUB_EMULATOR_HOST: undefined,
    SLACK_WEBHOOK_URL: slack.webhookUrl,
    PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0000000000000000000000',
    PAGERDUTY_EVENTS_URL: pd.eventsUrl,
  };
});
afterAll(async () => {
  await Promise.all([slack.close(), pd.close()]);
});

describe('mt-ops alerts and silence (the real CLI)', () => {
  it('alerts status names the next maintenance window in the same UTC form as its other times', async () => {
    const dir = tempDir('mt-alerts-maintenance-');
    const config = join(dir, 'ops.json');
    writeFileSync(
      config,
      JSON.stringify({ maintenance: [{ name: 'monthly', cron: '0 2 * * 0#1', durationMinutes: 120 }] }),
    );
    const r = await runCli(['alerts', 'status'], {
      env: { ...env, BACKUP_BUCKET: `file://${dir}`, OPS_CONFIG: config },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^Maintenance: not in a window; next monthly \d{4}-\d\d-\d\d \d\d:\d\d:\d\d - \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m,
    );
  });

  it('alerts send --file: the push envelope pages once; sent twice, once; log and status show it', async () => {
    const first = await runCli(['alerts', 'send', '--file', fixture('cm-pubsub-push-envelope.json')], { env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /cloud-monitoring\/0\.nx7k2q9wbc41 \[critical firing\] -> firing #1: pagerduty: delivered, slack: delivered, email: off/,
    );
    const again = await runCli(['alerts', 'send', '--file', fixture('cm-pubsub-push-envelope.json')], { env });
    expect(again.code).toBe(0);
    expect(delivered(pd).filter((r) => r.json?.dedup_key === 'cloud-monitoring/0.nx7k2q9wbc41')).toHaveLength(1);
    const log = await runCli(['alerts', 'log', '--json'], { env });
    expect(JSON.parse(log.stdout).map((r: any) => [r.channel, r.status])).toEqual([
      ['email', 'off'],
      ['pagerduty', 'delivered'],
      ['slack', 'delivered'],
    ]);
    const status = await runCli(['alerts', 'status', '--json'], { env });
    expect(JSON.parse(status.stdout)).toMatchObject({
      firing: [{ fingerprint: 'cloud-monitoring/0.nx7k2q9wbc41', severity: 'critical' }],
      maintenance: { next: { name: 'monthly' } },
    });
  });

  it('silence add / list / expire, and a silenced test alert is not sent', async () => {
    const add = await runCli(
      [
        'silence',
        'add',
        '--match',
        'test=true',
        '--for',
        '2h',
        '--reason',
        'trying the CLI',
        '--author',
        'tom',
        '--json',
      ],
      { env },
    );
    expect(add.code).toBe(0);
    const s = JSON.parse(add.stdout);
    expect(s).toMatchObject({ matchers: ['test=true'], reason: 'trying the CLI', author: 'tom' });
    const before = delivered(slack).length;
    const test = await runCli(['alerts', 'test', '--severity', 'warning'], { env });
    expect(test.code).toBe(0);
    expect(test.stdout).toMatch(/muted by silence/);
    expect(delivered(slack).length).toBe(before);
    expect((await runCli(['silence', 'list'], { env })).stdout).toContain(s.id);
    expect((await runCli(['silence', 'expire', s.id], { env })).code).toBe(0);
    expect((await runCli(['silence', 'list'], { env })).stdout).toBe('no silences\n');
    const sent = await runCli(['alerts', 'test', '--severity', 'warning'], { env });
    expect(sent.stdout).toMatch(/slack: delivered/);
  });

  it('alerts test resolves at once: PagerDuty gets the trigger then its resolve, nothing is left firing', async () => {
    const r = await runCli(['alerts', 'test', '--severity', 'critical'], { env });
    expect(r.code, r.stderr).toBe(0);
    const [firing, resolved] = r.stdout.trim().split('\n');
    expect(firing).toMatch(
      /^test\/prod\/critical\/\S+ \[critical firing\] -> firing #1: pagerduty: delivered, slack: delivered/,
    );
    const fingerprint = firing!.split(' ')[0]!;
    expect(resolved).toMatch(/\[critical resolved\] -> resolved #2: pagerduty: delivered, slack: delivered/);
    expect(
      delivered(pd)
        .filter((q) => q.json?.dedup_key === fingerprint)
        .map((q) => q.json?.event_action),
    ).toEqual(['trigger', 'resolve']);
    // nothing left for the sweep to remind every repeatIntervalHours, nor for status to show as firing
    const status = JSON.parse((await runCli(['alerts', 'status', '--json'], { env })).stdout);
    expect(status.firing.map((f: { fingerprint: string }) => f.fingerprint)).not.toContain(fingerprint);
  });

  it('alerts status shows the deliveries still owed: a critical whose channels are all down, until they are sent', async () => {
    let down = true;
    const failing = await startFakeHttp(() => (down ? { status: 503, body: 'down' } : { status: 202, body: '{}' }));
    try {
      const dir = tempDir('mt-alerts-owed-');
      const own = {
        ...env,
        BACKUP_BUCKET: `file://${dir}`,
        SLACK_WEBHOOK_URL: `${failing.url}/services/T/B/X`,
        PAGERDUTY_EVENTS_URL: `${failing.url}/v2/enqueue`,
      };
      const file = join(dir, 'backup-failed.json');
      writeFileSync(
        file,
        JSON.stringify({
          type: 'backup.failed',
          severity: 'critical',
          env: 'prod',
          time: new Date().toISOString(),
          trigger: 'scheduled',
          reason: 'could not connect',
        }),
      );
      const sent = await runCli(['alerts', 'send', '--file', file], { env: own });
      expect(sent.code).toBe(1);
      expect(sent.stderr).toMatch(/still owed/);

      const json = await runCli(['alerts', 'status', '--json'], { env: own });
      expect(json.code).toBe(0);
      const status = JSON.parse(json.stdout);
      expect(status.firing).toMatchObject([{ fingerprint: 'mt-ops/prod/backup', severity: 'critical' }]);
      expect(status.owed).toMatchObject([
        {
          fingerprint: 'mt-ops/prod/backup',
          channel: 'pagerduty',
          status: 'failed',
          kind: 'firing',
          severity: 'critical',
        },
        { fingerprint: 'mt-ops/prod/backup', channel: 'slack', status: 'failed', kind: 'firing', severity: 'critical' },
      ]);
      for (const o of status.owed) {
        expect(o.attempts).toBeGreaterThan(0);
        expect(o.lastError).toMatch(/503/);
        expect(Date.parse(o.nextAttempt)).toBeGreaterThan(Date.parse(o.updatedAt));
      }
      const human = await runCli(['alerts', 'status'], { env: own });
      expect(human.code).toBe(0);
      const owedPart = human.stdout.slice(human.stdout.indexOf('Owed'));
      expect(owedPart).toMatch(/^Owed \(not delivered yet\): 2/);
      expect(owedPart).toMatch(/critical\s+firing\s+pagerduty\s+failed/);
      expect(owedPart).toMatch(/critical\s+firing\s+slack\s+failed/);
      expect(owedPart).toContain('Backup failed (prod)');

      // the channels come back: the same message again sends what was owed, and nothing is owed any more
      down = false;
      const again = await runCli(['alerts', 'send', '--file', file], { env: own });
      expect(again.code).toBe(0);
      expect(JSON.parse((await runCli(['alerts', 'status', '--json'], { env: own })).stdout).owed).toEqual([]);
      expect((await runCli(['alerts', 'status'], { env: own })).stdout).toContain('Owed: none');
    } finally {
      await failing.close();
    }
  });

  it("alerts status shows the events waiting in the bucket's outbox (not published yet), never 'Firing: none' alone", async () => {
    // two probes that fail, run by hand with no event bus: their alerts wait in the outbox for the next function run
    const dir = tempDir('mt-alerts-unpublished-');
    const config = join(dir, 'ops.json');
    writeFileSync(
      config,
      JSON.stringify({
        probes: [
          { name: 'a', url: 'http://127.0.0.1:9/health', failureThreshold: 1 },
          { name: 'b', url: 'http://127.0.0.1:9/health', failureThreshold: 1, severity: 'warning' },
        ],
      }),
    );
    const own = { ...env, BACKUP_BUCKET: `file://${dir}/bucket`, OPS_CONFIG: config, OPS_EVENTS: undefined };
    const before = Date.now();
    const probe = await runCli(['probe'], { env: own });
    expect(probe.code, probe.stderr).toBe(1);
    expect(probe.stderr).toMatch(/2 alert events kept in the bucket's outbox/);

    const json = await runCli(['alerts', 'status', '--json'], { env: own });
    expect(json.code, json.stderr).toBe(0);
    const status = JSON.parse(json.stdout);
    expect(status.firing).toEqual([]);
    expect(status.unpublished).toMatchObject({
      waiting: 2,
      alerts: [
        { status: 'firing', severity: 'critical', title: 'a is down', fingerprint: 'probe/prod/a' },
        { status: 'firing', severity: 'warning', title: 'b is down', fingerprint: 'probe/prod/b' },
      ],
    });
    expect(Date.parse(status.unpublished.oldest.savedAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(status.unpublished.oldest.savedAt)).toBeLessThanOrEqual(Date.now());
    expect(status.unpublished.oldest.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(status.unpublished.oldest.ageSeconds).toBeLessThan(120);

    const human = await runCli(['alerts', 'status'], { env: own });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Firing: none \(but 2 firing alerts not published yet: see Unpublished\)$/m);
    expect(human.stdout).toMatch(
      /^Unpublished \(in the bucket's outbox, not on the event bus yet\): 2 events \(2 alerts\), the oldest saved \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((under a minute|\d+m) ago\); the next run of any function publishes them$/m,
    );
    expect(human.stdout).toMatch(/critical\s+firing\s+a is down\s+probe\/prod\/a/);
    expect(human.stdout).toMatch(/warning\s+firing\s+b is down\s+probe\/prod\/b/);

    // the next run of a function publishes them: nothing waits any more
    const runtime = functionRuntime(loadConfig({ ...process.env, ...own }), 'probe');
    await runtime.flushOutbox!();
    expect(JSON.parse((await runCli(['alerts', 'status', '--json'], { env: own })).stdout).unpublished).toEqual({
      waiting: 0,
      oldest: null,
      alerts: [],
      read: 0,
      unread: 0,
      unreadable: [],
    });
    const after = (await runCli(['alerts', 'status'], { env: own })).stdout;
    expect(after).toMatch(/^Firing: none$/m);
    expect(after).toMatch(/^Unpublished: none \(the bucket's outbox is empty\)$/m);
  });

  it('alerts status with a corrupt outbox entry: lists it as unreadable, with its key and why, and shows the rest (exit 0)', async () => {
    const dir = tempDir('mt-alerts-poison-');
    const own = { ...env, BACKUP_BUCKET: `file://${dir}` };
    const store = openStore(own.BACKUP_BUCKET);
    // an operator's trial: a truncated entry, oldest, before a valid alert
    const corrupt = 'prod/.outbox/20200101T000000000Z-corrupt0.json';
    await store.put(corrupt, '{"type":"alert",');
    await saveToOutbox(store, 'prod', probeFiring(0));

    const json = await runCli(['alerts', 'status', '--json'], { env: own });
    expect(json.code, json.stderr).toBe(0);
    const { unpublished } = JSON.parse(json.stdout);
    expect(unpublished).toMatchObject({ waiting: 2, read: 2, unread: 0 });
    expect(unpublished.alerts).toMatchObject([
      { status: 'firing', fingerprint: (probeFiring(0) as { fingerprint: string }).fingerprint },
    ]);
    expect(unpublished.unreadable).toEqual([
      { key: corrupt, savedAt: '2020-01-01T00:00:00.000Z', reason: expect.stringMatching(/^not valid JSON: /) },
    ]);

    const human = await runCli(['alerts', 'status'], { env: own });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(
      /^Unpublished \(in the bucket's outbox, not on the event bus yet\): 2 events \(1 alert, 1 unreadable\), /m,
    );
    expect(human.stdout).toMatch(
      /^Unreadable \(no event: the next run of any function moves it aside to prod\/\.outbox-poison\/, never publishes it\): 1 entry$/m,
    );
    expect(human.stdout).toMatch(/prod\/\.outbox\/20200101T000000000Z-corrupt0\.json\s+not valid JSON: /);
    expect(human.stdout).toMatch(/^Owed: none/m);
    expect(human.stdout).toMatch(/^Silences: none$/m);
  });

  it('alerts status says how many poison entries are kept and until when: each 30 days after it was set aside', async () => {
    const dir = tempDir('mt-alerts-poison-kept-');
    const own = { ...env, BACKUP_BUCKET: `file://${dir}` };
    const status = async () => {
      const [text, json] = await Promise.all([
        runCli(['alerts', 'status'], { env: own }),
        runCli(['alerts', 'status', '--json'], { env: own }),
      ]);
      expect(text.code, text.stderr).toBe(0);
      return { text: text.stdout, poison: JSON.parse(json.stdout).poison };
    };
    const none = await status();
    expect(none.text).toMatch(/^Poison: none \(no outbox entry set aside in prod\/\.outbox-poison\/\)$/m);
    expect(none.poison).toEqual({ kept: 0, keepDays: 30, oldest: null, newest: null });

    // set aside 10 and 31 days ago (the file's time is when the drain put it there)
    const store = openStore(own.BACKUP_BUCKET);
    const keep = async (name: string, days: number) => {
      const key = `prod/.outbox-poison/20200101T000000000Z-${name}.json`;
      await store.put(key, '{"type":"alert",');
      const at = new Date(Math.floor((Date.now() - days * 86_400_000) / 1000) * 1000);
      utimesSync(join(dir, key), at, at);
      return { setAsideAt: at.toISOString(), keptUntil: new Date(at.getTime() + 30 * 86_400_000).toISOString() };
    };
    const utc = (iso: string) => `${iso.slice(0, 19).replace('T', ' ')} UTC`;
    const young = await keep('young', 10);
    const one = await status();
    expect(one.poison).toEqual({ kept: 1, keepDays: 30, oldest: young, newest: young });
    expect(one.text).toContain(
      `\nPoison (outbox entries that were no event, set aside in prod/.outbox-poison/ for an operator to look at; never published): 1 entry, kept 30 days after it was set aside, then removed by a run of any function: until ${utc(young.keptUntil)}\n`,
    );
    const old = await keep('old', 31);
    const two = await status();
    expect(two.poison).toEqual({ kept: 2, keepDays: 30, oldest: old, newest: young });
    expect(two.text).toContain(
      `: 2 entries, each kept 30 days after it was set aside, then removed by a run of any function: the oldest until ${utc(old.keptUntil)} (past: the next hourly pass of a function removes it), the newest until ${utc(young.keptUntil)}\n`,
    );
    expect(two.text).toMatch(/^Unpublished: none \(the bucket's outbox is empty\)$/m);
  });

  it('alerts status with more events waiting than it reads: the true count, the oldest read, and says more wait', async () => {
    // a bus down for days: more alerts in the outbox than the command reads
    const dir = tempDir('mt-alerts-many-unpublished-');
    const own = { ...env, BACKUP_BUCKET: `file://${dir}` };
    const store = openStore(own.BACKUP_BUCKET);
    const more = 7;
    for (let i = 0; i < OUTBOX_READ_LIMIT + more; i++) await saveToOutbox(store, 'prod', probeFiring(i));

    const json = await runCli(['alerts', 'status', '--json'], { env: own });
    expect(json.code, json.stderr).toBe(0);
    const { unpublished } = JSON.parse(json.stdout);
    expect(unpublished).toMatchObject({ waiting: OUTBOX_READ_LIMIT + more, read: OUTBOX_READ_LIMIT, unread: more });
    expect(unpublished.alerts).toHaveLength(OUTBOX_READ_LIMIT);

    const human = await runCli(['alerts', 'status'], { env: own });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(
      new RegExp(
        `^Unpublished \\(in the bucket's outbox, not on the event bus yet\\): ${OUTBOX_READ_LIMIT + more} events \\(${OUTBOX_READ_LIMIT} alerts among the oldest ${OUTBOX_READ_LIMIT} read\\), `,
        'm',
      ),
    );
    expect(human.stdout).toMatch(
      new RegExp(
        `^\\.\\.\\. and ${more} more events waiting, not shown \\(only the oldest ${OUTBOX_READ_LIMIT} are read\\)$`,
        'm',
      ),
    );
    expect(human.stdout).toMatch(
      new RegExp(
        `^Firing: none \\(but at least ${OUTBOX_READ_LIMIT} firing alerts not published yet: see Unpublished\\)$`,
        'm',
      ),
    );
    expect(human.stdout.match(/ is down /g)).toHaveLength(OUTBOX_READ_LIMIT);
  });

  it.each([
    [['silence', 'add', '--match', 'probe==x', '--for', '2h', '--reason', 'r'], /--match/],
    [['silence', 'add', '--match', 'probe=x', '--for', 'soon', '--reason', 'r'], /--for/],
    [['silence', 'add', '--match', 'probe=x', '--for', '99999d', '--reason', 'r'], /--for.*must be at most 90d/],
    [['silence', 'add', '--match', 'probe=x', '--for', '2161h', '--reason', 'r'], /--for.*must be at most 90d/],
    [['alerts', 'test', '--severity', 'urgent'], /--severity/],
    [['silence', 'expire', 'nope-0000'], /no silence/],
    [['alerts', 'send', '--file', fixture('awkward-schema.sql')], /not valid JSON/],
    // a device or a huge file by mistake: refused at once, not read without end
    [['alerts', 'send', '--file', '/dev/zero'], /--file: \/dev\/zero is not a regular file/],
    [['alerts', 'send', '--file', bigFile()], /--file: .* is 11 MB; a message is at most 10 MB/],
  ])('bad input %j: exit 2 with one line', async (args, reason) => {
    const r = await runCli(args, { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
