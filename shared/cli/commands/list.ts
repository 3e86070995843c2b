/** `mt-ops list`: the backups in the bucket, newest first. */
import type { Command } from 'commander';
import { withStoreOptions } from '../options';
import { noteMissingBucket, readOnlyContext } from '../context';
import { listBackups, type BackupEntry } from '../../backup/catalog';
import { formatAge, formatBytes, table } from '../progress';

interface ListFlags {
  bucket?: string;
  env?: string;
  json?: boolean;
  all?: boolean;
}

export function registerListCommand(program: Command): void {
  withStoreOptions(program.command('list'))
    .description(
      'List complete backups, newest first, and corrupt ones (unreadable manifest), flagged; with --all, incomplete ones too',
    )
    .option('--all', 'also show incomplete backups (no manifest), marked')
    .option('--json', 'print JSON')
    .action(async (flags: ListFlags) => {
      const ctx = readOnlyContext(flags);
      await noteMissingBucket(ctx.store);
      const found = await listBackups(ctx.store, ctx.env, { includeIncomplete: Boolean(flags.all) });
      // Safety backups are listed apart (after the real ones): copies of restore targets, never `latest`, their own retention.
      const real = found.filter((e) => !e.safety);
      const safety = found.filter((e) => e.safety);
      const entries = [...real, ...safety];
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(entries.map(summarize), null, 2)}\n`);
        return;
      }
      if (entries.length === 0) {
        process.stdout.write(`no backups in ${ctx.store.url} for env ${ctx.env}\n`);
        return;
      }
      const now = new Date();
      const render = (list: BackupEntry[]) =>
        table(
          ['ID', 'TIME (UTC)', 'AGE', 'SIZE', 'TABLES', 'ROWS', 'LABEL', 'VERIFIED', 'KIND'],
          list.map((e) => {
            const s = summarize(e);
            return [
              s.id,
              s.time.replace(/\.\d+Z$/, 'Z'),
              formatAge(e.time, now),
              formatBytes(s.bytes),
              s.tables === undefined ? '-' : String(s.tables),
              s.rows === undefined ? '-' : String(s.rows),
              s.label ?? '',
              s.verify ?? '-',
              s.kind === 'complete' ? '' : s.kind.toUpperCase(),
            ];
          }),
        );
      const out: string[] = [];
      if (real.length > 0) out.push(render(real));
      if (safety.length > 0) {
        const days = ctx.config.file.retention.safety.keepWithinDays;
        out.push(
          `safety backups (taken by restore of its target before overwriting it; never "latest"; kept ${days} days):\n${render(safety)}`,
        );
      }
      // A manifest that cannot be read is an integrity failure: always listed, with the reason.
      const corrupt = found.filter((e) => e.kind === 'corrupt');
      if (corrupt.length > 0)
        out.push(
          `CORRUPT: the manifest cannot be read (mt-ops verify ID exits 1):\n${corrupt.map((e) => `  ${e.id}: ${e.note}`).join('\n')}`,
        );
      process.stdout.write(`${out.join('\n\n')}\n`);
    });
}

function summarize(e: BackupEntry) {
  return {
    id: e.id,
    kind: e.safety ? ('safety' as const) : e.kind,
    time: e.time.toISOString(),
    bytes: e.bytes,
    tables: e.manifest?.totals.tables,
    rows: e.manifest?.totals.rows,
    label: e.manifest?.label,
    ...(e.note ? { note: e.note } : {}),
    verify: e.verify ? `${e.verify.ok ? 'ok' : 'FAILED'} ${e.verify.at.slice(0, 10)}` : undefined,
  };
}
