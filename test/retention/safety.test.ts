/** Restores' safety backups in retention and in `latest`: apart from the real backups, with their own rule (issue 9, item 1). */
import { describe, it, expect } from 'vitest';
import { tempDir } from '../support/temp';
import { writeSyntheticBackup } from '../support/synthetic-backup';
import { openStore } from '../../shared/storage/open';
import type { ObjectStore } from '../../shared/storage/types';
import { listBackups, resolveBackup } from '../../shared/backup/catalog';
import { runRetention } from '../../shared/retention/run';
import { applySafetyRetention } from '../../shared/retention/policy';
import { OpsFileSchema } from '../../shared/config/schema';
import { UsageError } from '../../shared/errors';

const ENV = 'prod';
const NOW = new Date('2026-11-29T12:00:00Z');

/** A complete backup laid out as the backup code does; `purpose` absent mimics a manifest older than the field. */
function backup(
  store: ObjectStore,
  iso: string,
  suffix: string,
  extra: { label?: string; purpose?: 'backup' | 'safety'; verified?: boolean } = {},
): Promise<string> {
  const { verified, ...rest } = extra;
  return writeSyntheticBackup(store, ENV, iso, {
    suffix,
    started: false,
    ...rest,
    ...(verified ? { verify: { ok: true, at: iso } } : {}),
  });
}

describe('safety backups apart from the real ones', () => {
  it('are recognised by purpose, or by the pre-restore label in manifests older than the field; a real backup labelled pre-restore stays real', async () => {
    const store = openStore(`file://${tempDir('mt-safety-ret-')}`);
    const realOne = await backup(store, '2026-11-20T03:00:00.000Z', 'aaaa', {
      purpose: 'backup',
      label: 'pre-restore',
    });
    const oldStyle = await backup(store, '2026-11-21T03:00:00.000Z', 'bbbb', { label: 'pre-restore' });
    const newStyle = await backup(store, '2026-11-22T03:00:00.000Z', 'cccc', {
      purpose: 'safety',
      label: 'pre-restore',
    });
    const byId = Object.fromEntries((await listBackups(store, ENV)).map((e) => [e.id, Boolean(e.safety)]));
    expect(byId).toEqual({ [realOne]: false, [oldStyle]: true, [newStyle]: true });
    expect((await resolveBackup(store, ENV, 'latest')).id).toBe(realOne);
    expect((await resolveBackup(store, ENV, newStyle)).id).toBe(newStyle); // restorable by id
  });

  it('`latest` with only safety backups is refused, naming one to use by id', async () => {
    const store = openStore(`file://${tempDir('mt-safety-only-')}`);
    const id = await backup(store, '2026-11-22T03:00:00.000Z', 'cccc', { purpose: 'safety', label: 'pre-restore' });
    const err = await resolveBackup(store, ENV, 'latest').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(new RegExp(`only safety backups.*${id}`));
  });

  it('never count towards keepLast, minKeep or the newest / newest-verified floors; they are kept by their own days', async () => {
    const store = openStore(`file://${tempDir('mt-safety-ret-')}`);
    const r1 = await backup(store, '2026-11-25T03:00:00.000Z', 'a001', { purpose: 'backup', verified: true });
    const r2 = await backup(store, '2026-11-26T03:00:00.000Z', 'a002', { purpose: 'backup' });
    const r3 = await backup(store, '2026-11-27T03:00:00.000Z', 'a003', { purpose: 'backup' });
    // newer than every real backup, verified: under the old rules these were "the last 2", "newest" and "newest verified"
    const s1 = await backup(store, '2026-11-28T03:00:00.000Z', 'b001', {
      purpose: 'safety',
      label: 'pre-restore',
      verified: true,
    });
    const s2 = await backup(store, '2026-11-29T03:00:00.000Z', 'b002', { label: 'pre-restore' });
    const sOld = await backup(store, '2026-11-10T03:00:00.000Z', 'b003', { purpose: 'safety', label: 'pre-restore' });
    const result = await runRetention(store, ENV, {
      policy: { keepLast: 2 },
      minKeep: 2,
      orphanGraceHours: 24,
      now: NOW,
      dryRun: true,
    });
    const real = Object.fromEntries(result.plan.decisions.map((d) => [d.backup.id, d.reasons]));
    expect(Object.keys(real).sort()).toEqual([r1, r2, r3]);
    expect(real[r3]).toEqual(['last 2', 'floor: newest']);
    expect(real[r2]).toEqual(['last 2']);
    expect(real[r1]).toEqual(['floor: newest verified']);
    const safety = Object.fromEntries(result.plan.safety.map((d) => [d.backup.id, d.keep]));
    expect(safety).toEqual({ [s1]: true, [s2]: true, [sOld]: false });

    const done = await runRetention(store, ENV, {
      policy: { keepLast: 1 },
      minKeep: 1,
      orphanGraceHours: 24,
      now: NOW,
      safety: { keepWithinDays: 1 },
    });
    expect(done.outcomes.map((o) => o.id).sort()).toEqual([r2, s1, sOld].sort());
    expect((await listBackups(store, ENV)).map((e) => e.id)).toEqual([s2, r3, r1]);
  });

  it('the safety window counts from now, not from the newest backup', () => {
    const at = (iso: string) => ({ id: iso, time: new Date(iso), verified: false });
    const decisions = applySafetyRetention(
      [at('2026-11-22T11:00:00Z'), at('2026-11-22T13:00:00Z'), at('2026-11-30T00:00:00Z')],
      { keepWithinDays: 7 },
      NOW,
    );
    expect(decisions.map((d) => [d.backup.id, d.keep, d.reasons])).toEqual([
      ['2026-11-30T00:00:00Z', true, ['dated in the future']],
      ['2026-11-22T13:00:00Z', true, ['safety backup, within 7d']],
      ['2026-11-22T11:00:00Z', false, []],
    ]);
  });

  it('the operator file sets their retention (retention.safety.keepWithinDays, default 7); bad values are refused with the path', () => {
    expect(OpsFileSchema.parse({}).retention.safety).toEqual({ keepWithinDays: 7 });
    expect(OpsFileSchema.parse({ retention: { safety: { keepWithinDays: 14 } } }).retention.safety).toEqual({
      keepWithinDays: 14,
    });
    const bad = OpsFileSchema.safeParse({ retention: { safety: { keepWithinDays: -1, keepLast: 3 } } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual([
      'retention.safety',
      'retention.safety.keepWithinDays',
    ]);
  });
});
