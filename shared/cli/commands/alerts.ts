/** `mt-ops alerts`: send, test, log, status and silences, over the fan-out pipeline. */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { withStoreOptions } from '../options';
import { alertsStatus } from './alerts-status';
import { commandContext, readOnlyContext } from '../context';
import { table } from '../progress';
import { OpsError, UsageError, errorMessage } from '../../errors';
import { decodeDocument, decodeJson } from '../../alerts/decode';
import { fanout, type FanoutResult } from '../../alerts/pipeline';
import { describeChannels, fanoutDeps } from '../../alerts/settings';
import { readDeliveries } from '../../alerts/outbox';
import { MAX_SILENCE_MS, addSilence, expireSilence, isActive, listSilences } from '../../alerts/silences';
import { MatcherText } from '../../alerts/config';

/** The most a Pub/Sub message holds: what `alerts send --file` accepts. */
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

interface Flags {
  bucket?: string;
  env?: string;
  json?: boolean;
}

/** `30m`, `2h`, `7d` -> milliseconds. */
export function duration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|h|d)$/.exec(value.trim());
  if (!m || Number(m[1]) <= 0) throw new InvalidArgumentError('must be a duration like 30m, 2h or 7d');
  return Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
}

/** A silence's `--for`: a duration of at most 90 days (MAX_SILENCE_MS). */
function silenceFor(value: string): number {
  const ms = duration(value);
  if (ms > MAX_SILENCE_MS)
    throw new InvalidArgumentError(
      'must be at most 90d (a silence that long is forgotten; use the routing tree or a maintenance window)',
    );
  return ms;
}

function matcher(value: string, previous: string[] = []): string[] {
  if (!MatcherText.safeParse(value).success)
    throw new InvalidArgumentError(
      `${JSON.stringify(value)} must be label=value, label!=value, label=~regex or label!~regex`,
    );
  return [...previous, value];
}

function print(result: FanoutResult, json: boolean | undefined): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const lines: string[] = [];
  for (const a of result.alerts) {
    const sent = a.deliveries.map((d) => `${d.channel}: ${d.status}${d.error ? ` (${d.error})` : ''}`).join(', ');
    lines.push(
      `${a.fingerprint} [${a.severity} ${a.status}] -> ${a.transition ? `${a.transition.kind} #${a.transition.seq}: ${sent || 'no channel'}` : a.why}`,
    );
  }
  if (result.notices > 0) lines.push(`${result.notices} notice(s) filed for the daily digest`);
  process.stdout.write(`${lines.join('\n') || 'nothing to do'}\n`);
}

/**
 * Feeds the messages through the fan-out one after the other (the test alert's firing, then its resolve) and prints
 * what each did; exits 1 while a delivery is still owed, saying `owed`.
 */
async function runPipeline(
  flags: Flags,
  decodes: Array<(deps: ReturnType<typeof fanoutDeps>) => Parameters<typeof fanout>[1]>,
  owed = 'some deliveries failed and are still owed: run the same command again to retry them (only those are resent)',
): Promise<void> {
  const ctx = commandContext(flags);
  const deps = fanoutDeps(ctx.config, ctx.store, ctx.env, ctx.logger);
  ctx.logger.info(describeChannels(ctx.config, deps.channels));
  try {
    const total: FanoutResult = { alerts: [], notices: 0, retry: false };
    for (const decode of decodes) {
      const input = decode(deps);
      if (input.kind === 'poison') throw new UsageError(`not an alert message: ${input.reason}`);
      const result = await fanout(deps, input);
      total.alerts.push(...result.alerts);
      total.notices += result.notices;
      total.retry ||= result.retry;
    }
    print(total, flags.json);
    if (total.retry) throw new OpsError(owed);
  } finally {
    await deps.deadLetter.close();
    for (const c of Object.values(deps.channels)) await c?.close?.();
  }
}

export function registerAlertsCommands(program: Command): void {
  const alerts = program
    .command('alerts')
    .description('Alert fan-out: feed a message through the pipeline, send a test, show deliveries and state');

  withStoreOptions(alerts.command('send'))
    .description(
      'Feed one message (our event, or a Cloud Monitoring notification, raw or in a Pub/Sub push envelope) through the fan-out, with the same state as the function',
    )
    .requiredOption('--file <path>', 'the message (JSON)')
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { file: string }) => {
      let raw: string;
      try {
        // a device (/dev/zero, a FIFO) or a huge file named by mistake is refused, never read without end
        const st = statSync(flags.file);
        if (!st.isFile()) throw new UsageError(`--file: ${flags.file} is not a regular file`);
        if (st.size > MAX_MESSAGE_BYTES)
          throw new UsageError(
            `--file: ${flags.file} is ${Math.ceil(st.size / 1024 / 1024)} MB; a message is at most ${MAX_MESSAGE_BYTES / 1024 / 1024} MB (Pub/Sub's limit)`,
          );
        raw = readFileSync(flags.file, 'utf8');
      } catch (err) {
        if (err instanceof UsageError) throw err;
        throw new UsageError(`--file: cannot read ${flags.file}: ${errorMessage(err)}`);
      }
      // no message id in the file: its content stands in for one, so sending the same file twice notifies once
      const id = `file-${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
      await runPipeline(flags, [() => decodeDocument(raw, id)]);
    });

  withStoreOptions(alerts.command('test'))
    .description(
      'Send a test alert through the real routing (it resolves at once on the channels that support it: run again to test again)',
    )
    .option(
      '--severity <level>',
      'critical, warning or info',
      (v: string) => {
        if (!['critical', 'warning', 'info'].includes(v))
          throw new InvalidArgumentError('must be critical, warning or info');
        return v;
      },
      'critical',
    )
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { severity: 'critical' | 'warning' | 'info' }) => {
      // firing, then resolved at once: a test must leave no incident open (in PagerDuty, or for the sweep to remind
      // every repeatIntervalHours)
      const now = new Date().toISOString();
      const alert = (deps: ReturnType<typeof fanoutDeps>, status: 'firing' | 'resolved', messageId: string) =>
        decodeJson(
          {
            type: 'alert',
            severity: flags.severity,
            env: deps.env,
            time: now,
            status,
            fingerprint: `test/${deps.env}/${flags.severity}/${now}`,
            title: `Test alert (${flags.severity})`,
            summary: 'Sent by mt-ops alerts test: routing and channels work.',
            startsAt: now,
            ...(status === 'resolved' ? { endsAt: new Date().toISOString() } : {}),
            source: 'test',
            labels: { test: 'true' },
          },
          messageId,
        );
      await runPipeline(
        flags,
        [(deps) => alert(deps, 'firing', `test-${now}`), (deps) => alert(deps, 'resolved', `test-${now}-resolved`)],
        'some deliveries of the test alert failed (see mt-ops alerts log): the sweep retries them',
      );
    });

  withStoreOptions(alerts.command('log'))
    .description('Deliveries with their outcome (delivered, failed and still owed, dead-lettered, off)')
    .option('--since <duration>', 'how far back (30m, 24h, 7d)', duration, 86_400_000)
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { since: number }) => {
      const ctx = readOnlyContext(flags);
      const records = await readDeliveries(
        ctx.store,
        ctx.env,
        new Date(Date.now() - Math.min(flags.since, 400 * 86_400_000)),
      );
      if (flags.json) return void process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
      if (records.length === 0) return void process.stdout.write('no deliveries in that period\n');
      const label = (s: string) => (s === 'failed' || s === 'sending' ? `UNDELIVERED (${s})` : s);
      process.stdout.write(
        `${table(
          ['TIME (UTC)', 'SEVERITY', 'KIND', 'CHANNEL', 'OUTCOME', 'ATTEMPTS', 'TITLE', 'ERROR'],
          records.map((r) => [
            r.at.slice(0, 19).replace('T', ' '),
            r.severity,
            r.kind,
            r.channel,
            label(r.status),
            String(r.attempts),
            r.title,
            r.lastError ?? '',
          ]),
        )}\n`,
      );
    });

  withStoreOptions(alerts.command('status'))
    .description(
      "Firing incidents, events not published yet (waiting in the bucket's outbox), poison outbox entries kept (how many, until when), deliveries still owed (failed and waiting for a retry), active silences and the next maintenance window",
    )
    .option('--json', 'print JSON')
    .action(alertsStatus);

  const silence = program
    .command('silence')
    .description('Ad hoc silences: matchers, a reason, an author and an expiry, stored in the bucket');
  withStoreOptions(silence.command('add'))
    .description('Silence matching alerts for a while (every --match must match)')
    .requiredOption('--match <matcher>', 'label=value, label!=value, label=~regex, label!~regex (repeatable)', matcher)
    .requiredOption('--for <duration>', 'how long (30m, 2h, 7d; at most 90d)', silenceFor)
    .requiredOption('--reason <text>', 'why')
    .option('--author <name>', 'who (default: $USER)')
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { match: string[]; for: number; reason: string; author?: string }) => {
      const ctx = commandContext(flags);
      const author = flags.author ?? process.env.USER ?? process.env.LOGNAME ?? 'unknown';
      if (!flags.reason.trim()) throw new UsageError('--reason: must not be empty');
      const s = await addSilence(ctx.store, ctx.env, {
        matchers: flags.match,
        reason: flags.reason,
        author,
        expiresAt: new Date(Date.now() + flags.for).toISOString(),
      });
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(s, null, 2)}\n`
          : `silence ${s.id} until ${s.expiresAt} (${s.matchers.join(', ')})\n`,
      );
    });
  withStoreOptions(silence.command('list'))
    .description('Active silences (--all: expired ones too)')
    .option('--all', 'include expired silences')
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { all?: boolean }) => {
      const ctx = readOnlyContext(flags);
      const now = new Date();
      const list = (await listSilences(ctx.store, ctx.env)).filter((s) => flags.all || isActive(s, now));
      if (flags.json) return void process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      if (list.length === 0) return void process.stdout.write('no silences\n');
      process.stdout.write(
        `${table(
          ['ID', 'MATCHERS', 'UNTIL (UTC)', 'STATE', 'AUTHOR', 'REASON'],
          list.map((s) => [
            s.id,
            s.matchers.join(', '),
            s.expiresAt.slice(0, 19).replace('T', ' '),
            isActive(s, now) ? 'active' : 'expired',
            s.author,
            s.reason,
          ]),
        )}\n`,
      );
    });
  withStoreOptions(silence.command('expire'))
    .description('End a silence now')
    .argument('<id>', 'the silence id (silence list)')
    .action(async (id: string, flags: Flags) => {
      const ctx = commandContext(flags);
      const s = await expireSilence(ctx.store, ctx.env, id);
      if (!s) throw new UsageError(`no silence ${JSON.stringify(id)} (see mt-ops silence list --all)`);
      process.stdout.write(`silence ${s.id} expired at ${s.expiresAt}\n`);
    });
}
