import { describe, it, expect, afterAll } from 'vitest';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startFakeSlack } from '../support/fake-slack';
import { startFakePagerDuty } from '../support/fake-pagerduty';
import { startFakeHttp, delivered } from '../support/fake-http';
import { startSmtpServer } from '../support/smtp-server';
import { SlackChannel } from '../../shared/alerts/channels/slack';
import { PagerDutyChannel } from '../../shared/alerts/channels/pagerduty';
import { EmailChannel } from '../../shared/alerts/channels/email';
import { WebhookChannel } from '../../shared/alerts/channels/webhook';
import type { Channel, Notification } from '../../shared/alerts/channels/types';
import { deliverWithRetry } from '../../shared/alerts/deliver';
import type { Alert } from '../../shared/alerts/model';

const alert: Alert = {
  fingerprint: 'mt-ops/prod/backup',
  status: 'firing',
  severity: 'critical',
  title: 'Backup failed (prod)',
  summary: 'could not read table public.games',
  labels: { job: 'backup', type: 'backup.failed' },
  source: 'mt-ops',
  links: [{ title: 'Runbook', url: 'https://example.org/runbook' }],
  startsAt: '2026-11-29T08:00:00.000Z',
  env: 'prod',
  details: { table: 'public.games', documentation: 'Restore from the latest verified backup.' },
};
const firing: Notification = { kind: 'firing', alert, seq: 1 };
const resolved: Notification = {
  kind: 'resolved',
  alert: { ...alert, status: 'resolved', endsAt: '2026-11-29T09:00:00.000Z' },
  seq: 2,
};

/** One channel against its real or protocol-level fake server, in a given mood. */
interface Harness {
  channel: Channel;
  sent(): unknown[];
  close(): Promise<void>;
}
type Mood = 'ok' | 'temporary' | 'permanent' | 'hang';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A TCP server that accepts and never says a word (an SMTP server that hangs). */
async function silentServer(): Promise<number> {
  const sockets: import('node:net').Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
}

const harnesses: Record<string, (mood: Mood) => Promise<Harness>> = {
  slack: async (mood) => {
    const fake = await startFakeSlack();
    if (mood === 'temporary') fake.script({ status: 429, body: 'rate_limited', headers: { 'retry-after': '1' } });
    if (mood === 'permanent') fake.script({ status: 400, body: 'invalid_payload' });
    if (mood === 'hang') fake.script({ status: 200, hang: true });
    return {
      channel: new SlackChannel(fake.webhookUrl, { minIntervalMs: 0 }),
      sent: () => delivered(fake),
      close: fake.close,
    };
  },
  pagerduty: async (mood) => {
    const fake = await startFakePagerDuty();
    if (mood === 'temporary')
      fake.script({
        status: 429,
        body: JSON.stringify({
          status: 'throttle event',
          message: 'Requests for this service are arriving too quickly',
        }),
      });
    if (mood === 'permanent')
      fake.script({
        status: 400,
        body: JSON.stringify({ status: 'invalid event', errors: ["'routing_key' is invalid"] }),
      });
    if (mood === 'hang') fake.script({ status: 202, hang: true });
    return {
      channel: new PagerDutyChannel('R0UTINGKEY0000000000000000000000', fake.eventsUrl),
      sent: () => delivered(fake),
      close: fake.close,
    };
  },
  webhook: async (mood) => {
    const fake = await startFakeHttp(() => ({ status: 204 }));
    if (mood === 'temporary') fake.script({ status: 503, body: 'unavailable' });
    if (mood === 'permanent') fake.script({ status: 422, body: 'unprocessable' });
    if (mood === 'hang') fake.script({ status: 200, hang: true });
    return { channel: new WebhookChannel(`${fake.url}/hook`), sent: () => delivered(fake), close: fake.close };
  },
  email: async (mood) => {
    if (mood === 'hang') {
      const port = await silentServer();
      return {
        channel: new EmailChannel({
          smtpUrl: `smtp://127.0.0.1:${port}`,
          from: 'ops@example.org',
          to: ['oncall@example.org'],
        }),
        sent: () => [],
        close: async () => {},
      };
    }
    const server = await startSmtpServer({
      auth: { user: 'ops', pass: 's3cret-pass' },
      rejectFirst: mood === 'ok' ? 0 : 1,
      rejectCode: mood === 'temporary' ? 451 : 550,
    });
    const channel = new EmailChannel({
      smtpUrl: server.url,
      from: 'ops@example.org',
      to: ['oncall@example.org', 'lead@example.org'],
    });
    return {
      channel,
      sent: () => server.messages(),
      close: async () => {
        await channel.close?.();
        await server.stop();
      },
    };
  },
};

describe.each(Object.keys(harnesses))('channel contract: %s', (name) => {
  const open = async (mood: Mood) => {
    const h = await harnesses[name]!(mood);
    cleanups.push(h.close);
    return h;
  };

  it('sends a firing and a resolve, and says ok', async () => {
    const h = await open('ok');
    expect(await h.channel.send(firing, AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
    expect(await h.channel.send(resolved, AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
    expect(h.sent()).toHaveLength(2);
  });

  it('a temporary refusal is a retryable failure, and the retry gets through', async () => {
    const h = await open('temporary');
    const first = await h.channel.send(firing, AbortSignal.timeout(10_000));
    expect(first).toMatchObject({ ok: false, retryable: true });
    expect(await h.channel.send(firing, AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
    expect(h.sent()).toHaveLength(1);
  });

  it('a permanent refusal is not retryable', async () => {
    const h = await open('permanent');
    expect(await h.channel.send(firing, AbortSignal.timeout(10_000))).toMatchObject({ ok: false, retryable: false });
  });

  it('a server that hangs is a retryable timeout', async () => {
    const h = await open('hang');
    const result = await h.channel.send(firing, AbortSignal.timeout(300));
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(result.ok ? '' : result.error).toMatch(/timed out/);
  });
});

describe('channel payloads', () => {
  it('PagerDuty: trigger with dedup_key = fingerprint, mapped severity, custom_details; resolve with the same key', async () => {
    const fake = await startFakePagerDuty();
    cleanups.push(fake.close);
    const pd = new PagerDutyChannel('R0UTINGKEY0000000000000000000000', fake.eventsUrl);
    await pd.send(firing, AbortSignal.timeout(5000));
    await pd.send(resolved, AbortSignal.timeout(5000));
    const [t, r] = delivered(fake).map((x) => x.json);
    expect(t).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'mt-ops/prod/backup',
      payload: { severity: 'critical', custom_details: { table: 'public.games', documentation: expect.any(String) } },
      links: [{ href: 'https://example.org/runbook' }],
    });
    expect(r).toEqual({
      routing_key: 'R0UTINGKEY0000000000000000000000',
      event_action: 'resolve',
      dedup_key: 'mt-ops/prod/backup',
    });
  });

  it('Slack: Block Kit with a text fallback, coloured by severity (green when resolved), with the links', async () => {
    const fake = await startFakeSlack();
    cleanups.push(fake.close);
    const slack = new SlackChannel(fake.webhookUrl, { minIntervalMs: 0 });
    await slack.send(firing, AbortSignal.timeout(5000));
    await slack.send(resolved, AbortSignal.timeout(5000));
    const [f, r] = delivered(fake).map((x) => x.json);
    expect(f.text).toBe('[FIRING] [CRITICAL] Backup failed (prod): could not read table public.games');
    expect(f.attachments[0].color).toBe('#d40e0d');
    expect(JSON.stringify(f.attachments[0].blocks)).toContain('<https://example.org/runbook|Runbook>');
    expect(r.attachments[0].color).toBe('#2eb886');
    expect(r.text).toMatch(/^\[RESOLVED\]/);
  });

  it('Slack: at most about one message per second per webhook', async () => {
    const fake = await startFakeSlack();
    cleanups.push(fake.close);
    const slack = new SlackChannel(fake.webhookUrl);
    await Promise.all([1, 2, 3].map((seq) => slack.send({ ...firing, seq }, AbortSignal.timeout(10_000))));
    const at = delivered(fake).map((x) => x.at);
    expect(at).toHaveLength(3);
    // sends start 1 s apart; the server sees them after the client's own connection set-up, so allow some jitter
    // (without the spacing the three arrive within a few milliseconds)
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(800);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(800);
  });

  it('email: STARTTLS, authenticated, HTML and text parts, the subject says severity and status', async () => {
    const server = await startSmtpServer({ auth: { user: 'ops', pass: 's3cret-pass' } });
    const email = new EmailChannel({ smtpUrl: server.url, from: 'ops@example.org', to: ['oncall@example.org'] });
    cleanups.push(async () => {
      await email.close();
      await server.stop();
    });
    expect(await email.send(firing, AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
    const [m] = server.messages();
    expect(m).toMatchObject({ user: 'ops', secure: true, to: ['oncall@example.org'] });
    expect(m!.raw).toMatch(/^Subject: \[CRITICAL\] \[FIRING\] Backup failed \(prod\)/m);
    expect(m!.raw).toMatch(/Content-Type: text\/plain/);
    expect(m!.raw).toMatch(/Content-Type: text\/html/);
  });

  it('email: implicit TLS (smtps://)', async () => {
    const server = await startSmtpServer({ secure: true });
    const email = new EmailChannel({ smtpUrl: server.url, from: 'ops@example.org', to: ['oncall@example.org'] });
    cleanups.push(async () => {
      await email.close();
      await server.stop();
    });
    expect(await email.send(resolved, AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
    expect(server.messages()[0]!.raw).toMatch(/^Subject: \[CRITICAL\] \[RESOLVED\]/m);
  });

  it('email: wrong credentials are not retryable, and the password is not in the error', async () => {
    const server = await startSmtpServer({ auth: { user: 'ops', pass: 'right-pass' } });
    const email = new EmailChannel({
      smtpUrl: server.url.replace('right-pass', 'wrong-pass-xyz'),
      from: 'ops@example.org',
      to: ['oncall@example.org'],
    });
    cleanups.push(async () => {
      await email.close();
      await server.stop();
    });
    const result = await email.send(firing, AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retryable: false });
    expect(JSON.stringify(result)).not.toContain('wrong-pass-xyz');
  });
});

describe('delivery with retry', () => {
  it("waits out Slack's 429 Retry-After, then delivers", async () => {
    const fake = await startFakeSlack();
    cleanups.push(fake.close);
    fake.script({ status: 429, body: 'rate_limited', headers: { 'retry-after': '1' } });
    const { result, attempts } = await deliverWithRetry(
      new SlackChannel(fake.webhookUrl, { minIntervalMs: 0 }),
      firing,
      { attempts: 3, baseDelayMs: 10, maxDelayMs: 10, timeoutMs: 5000, maxRetryAfterMs: 5000 },
    );
    expect(result.ok).toBe(true);
    expect(attempts).toBe(2);
    expect(fake.received[1]!.at - fake.received[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('retries PagerDuty 500s with backoff, never a 400', async () => {
    const fake = await startFakePagerDuty();
    cleanups.push(fake.close);
    fake.script({ status: 500, body: '{}' }, { status: 502, body: '{}' });
    const pd = new PagerDutyChannel('R0UTINGKEY0000000000000000000000', fake.eventsUrl);
    const policy = { attempts: 4, baseDelayMs: 10, maxDelayMs: 20, timeoutMs: 5000, maxRetryAfterMs: 5000 };
    expect(await deliverWithRetry(pd, firing, policy)).toMatchObject({ result: { ok: true }, attempts: 3 });
    fake.script({ status: 400, body: JSON.stringify({ status: 'invalid event' }) });
    expect(await deliverWithRetry(pd, firing, policy)).toMatchObject({
      result: { ok: false, retryable: false },
      attempts: 1,
    });
  });

  it('once the instance is stopping, makes no further attempt and waits out no backoff (npm start on SIGTERM)', async () => {
    // A Slack that fails held a SIGTERM'd `npm start` for every attempt and backoff (over 40 s when it hangs).
    const fake = await startFakePagerDuty();
    cleanups.push(fake.close);
    fake.script({ status: 500, body: '{}' }, { status: 500, body: '{}' });
    const pd = new PagerDutyChannel('R0UTINGKEY0000000000000000000000', fake.eventsUrl);
    const policy = {
      attempts: 4,
      baseDelayMs: 600_000,
      maxDelayMs: 600_000,
      timeoutMs: 5000,
      maxRetryAfterMs: 600_000,
    };
    const stopping = new AbortController();
    const pending = deliverWithRetry(pd, firing, policy, stopping.signal);
    // the first attempt is answered 500, then a ten-minute backoff begins: the stop cuts it short
    await new Promise<void>((resolve) => {
      const check = () => (fake.received.length > 0 ? resolve() : setImmediate(check));
      check();
    });
    stopping.abort();
    expect(await pending).toMatchObject({ result: { ok: false, retryable: true }, attempts: 1 });
    expect(fake.received).toHaveLength(1);
    // already stopping: the one send is still made (a stop never drops what it could deliver), no second
    expect(await deliverWithRetry(pd, firing, policy, stopping.signal)).toMatchObject({ attempts: 1 });
    expect(fake.received).toHaveLength(2);
  });

  it('leaves a Retry-After longer than it may wait to the next delivery', async () => {
    const fake = await startFakeSlack();
    cleanups.push(fake.close);
    fake.script({ status: 429, body: 'rate_limited', headers: { 'retry-after': '120' } });
    const { result, attempts } = await deliverWithRetry(
      new SlackChannel(fake.webhookUrl, { minIntervalMs: 0 }),
      firing,
      { attempts: 3, baseDelayMs: 10, maxDelayMs: 10, timeoutMs: 5000, maxRetryAfterMs: 5000 },
    );
    expect(result).toMatchObject({ ok: false, retryable: true, retryAfterMs: 120_000 });
    expect(attempts).toBe(1);
  });
});
