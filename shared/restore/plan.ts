/** The restore plan and result in words (dry run, closing summary). */
import { count, formatBytes, formatDuration } from '../format';
import type { RestorePlan, RestoreResult } from './restore';

/** Human-readable dry-run plan: tables in order, rows, truncation, sequences, the safety backup. */
export function formatPlan(plan: RestorePlan): string {
  const p = plan.preflight;
  const src =
    plan.source.kind === 'backup'
      ? `backup ${plan.source.id} (env ${plan.source.env}, taken ${plan.source.takenAt})`
      : `legacy file ${plan.source.path}${plan.source.createdAt ? ` (created ${plan.source.createdAt})` : ''}`;
  const lines = [`restore plan: ${src} -> database ${plan.database}`];
  lines.push(
    `tables, in load order (${p.tables.length}, ${plan.totalRows} rows${plan.bytes ? `, ${formatBytes(plan.bytes)} stored` : ''}):`,
  );
  p.tables.forEach((t, i) => {
    const cols = t.keep ? `  (${t.columns.length} of ${t.source.columns.length} columns)` : '';
    lines.push(`  ${String(i + 1).padStart(3)}. ${t.key}  ${plan.rows[t.key] ?? 0} rows${cols}`);
  });
  lines.push(`truncated first, in one transaction (${p.truncate.length}): ${p.truncate.join(', ') || '(none)'}`);
  if (p.cascade.length) lines.push(`emptied too (--cascade), not restored: ${p.cascade.join(', ')}`);
  if (p.overwrites.length) lines.push(`holding rows now (overwritten): ${p.overwrites.join(', ')}`);
  if (p.order.deferred.length) lines.push(`deferred to COMMIT: ${p.order.deferred.join(', ')}`);
  if (plan.sequences === 'recorded') {
    lines.push(`sequences set to their recorded values (${p.sequences.length}):`);
    for (const s of p.sequences)
      lines.push(`  ${s.schema}.${s.name} = ${s.lastValue}${s.isCalled ? '' : ' (not yet called)'}`);
  } else lines.push('sequences: set from max(id) of their columns (the legacy format records no sequence values)');
  const lo = plan.largeObjects;
  if (lo) {
    const replaced = lo.existing.length ? `; ${lo.existing.length} with the same oid in the target are replaced` : '';
    lines.push(
      `large objects (${lo.count}, ${formatBytes(lo.bytes)}): ${lo.action === 'restore' ? `recreated with their oids in the same transaction${replaced}` : lo.action}`,
    );
  }
  if (plan.materializedViews.length)
    lines.push('materialized views:', ...plan.materializedViews.map((v) => `  ${v.key}: ${v.why}`));
  lines.push(`safety backup of the target: ${plan.safetyBackup}`);
  if (p.drift.length) lines.push('schema differences:', ...p.drift.map((d) => `  ${d}`));
  if (plan.notes.length) lines.push('notes:', ...plan.notes.map((n) => `  ${n}`));
  if (p.problems.length) lines.push(`REFUSED (${p.problems.length} problems):`, ...p.problems.map((x) => `  ${x}`));
  return lines.join('\n');
}

/** The recovery time in words, against the seed target of recovery within an hour. */
export function recoveryInWords(ms: number, targetMs = 3_600_000): string {
  const within = ms <= targetMs;
  const share = Math.max(1, Math.round((ms / targetMs) * 100));
  return `recovered in ${formatDuration(ms)}: ${within ? `within the 1-hour recovery target (${ms < targetMs / 100 ? 'under 1%' : `${share}%`} of it)` : `OVER the 1-hour recovery target by ${formatDuration(ms - targetMs)}`}`;
}

export function formatResult(result: RestoreResult, totalMs: number): string {
  const seconds = Math.max(result.durationMs, 1) / 1000;
  const lines = [
    `restored ${count(result.tables.length, 'table')}, ${count(result.rows, 'row')}, ${formatBytes(result.bytes)} into ${result.plan.database} in ${formatDuration(result.durationMs)} ` +
      `(${Math.round(result.rows / seconds)} rows/s, ${formatBytes(result.bytes / seconds)}/s)`,
    result.plan.sequences === 'recorded'
      ? `sequences: ${result.sequences.length} set to their recorded values`
      : `sequences: ${result.sequences.length} set from max(id) (the legacy format records no sequence values)`,
  ];
  const t = result.timings;
  const ms = (n: number) => formatDuration(n);
  lines.push(
    `time: plan ${ms(t.planMs)}, load ${ms(t.loadMs)}, index builds ${ms(t.indexMs)} (${count(result.rebuiltIndexes.length, 'index', 'indexes')} rebuilt after the load), ` +
      `key checks ${ms(t.keyCheckMs)}, sequences ${ms(t.sequencesMs)}, commit ${ms(t.commitMs)}`,
  );
  if (result.largeObjects)
    lines.push(
      `large objects: ${result.largeObjects.count} recreated with their oids (${formatBytes(result.largeObjects.bytes)})`,
    );
  if (result.safetyBackupId)
    lines.push(`safety backup of the target before the restore: ${result.safetyBackupId} (label pre-restore)`);
  for (const n of result.plan.notes) lines.push(`note: ${n}`);
  lines.push(recoveryInWords(totalMs));
  return lines.join('\n');
}
