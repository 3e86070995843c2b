/** Where a backup's objects live in the bucket, and backup ids. */
import { randomBytes } from 'node:crypto';

/**
 * Where a backup's objects live in the store (keys relative to the bucket URL's prefix):
 *
 *   <env>/<id>/started.json          written first: marks the attempt (an interrupted run leaves only this and data)
 *   <env>/<id>/data/<NNNN>.copy.gz   one per table: COPY text format, gzip
 *   <env>/<id>/lo/0001.lo.gz         every large object, framed (oid, chunks) in one gzip stream; absent when none
 *   <env>/<id>/manifest.json         written LAST: the only proof the backup is complete
 *   <env>/<id>/verify.json           the latest verify result (rewritten by each verify)
 *   <env>/.lease/backup.json         the lease that keeps two backups of one environment apart
 *   <env>/.triggers/<messageId>.json marker: this trigger message already produced backup <id>
 *   <env>/.outbox/<time>-<n>.json    an event not yet published (the bus owns it: shared/bus/outbox.ts)
 *   <env>/.outbox-poison/<time>-<n>.json   an outbox entry that is no event, moved aside (shared/bus/outbox.ts)
 *   database_backup_YYYYMMDD_HHMMSS.json[.gz]   legacy files, at the root or under <env>/
 */
export const BACKUP_ID_PATTERN = /^(\d{8})T(\d{6})Z-([0-9a-f]{4})$/;
export const LEGACY_NAME_PATTERN = /^database_backup_(\d{8})_(\d{6})\.json(\.gz)?$/;

export function newBackupId(at: Date = new Date()): string {
  const iso = at.toISOString(); // 2026-11-29T03:00:00.000Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/** The UTC time encoded in a backup id. */
export function backupIdTime(id: string): Date {
  const m = BACKUP_ID_PATTERN.exec(id);
  if (!m) throw new Error(`not a backup id: ${id}`);
  const [d, t] = [m[1]!, m[2]!];
  return new Date(
    Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +t.slice(0, 2), +t.slice(2, 4), +t.slice(4, 6)),
  );
}

/**
 * The time in a legacy file name. The legacy script wrote local time without a zone; it is read as UTC
 * (off by the laptop's offset at most, which no retention rule is sensitive to).
 */
export function legacyNameTime(name: string): Date | undefined {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const m = LEGACY_NAME_PATTERN.exec(base);
  if (!m) return undefined;
  const [d, t] = [m[1]!, m[2]!];
  const date = new Date(
    Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +t.slice(0, 2), +t.slice(2, 4), +t.slice(4, 6)),
  );
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * The store keys a legacy file may have when named as `list` shows it: a bare name is looked for at the root, then
 * under `<env>/`; `<env>/name` only there. Undefined when `name` is no legacy key (nothing else is looked up).
 */
export function legacyKeys(env: string, name: string): string[] | undefined {
  if (LEGACY_NAME_PATTERN.test(name)) return [name, `${env}/${name}`];
  if (name.startsWith(`${env}/`) && LEGACY_NAME_PATTERN.test(name.slice(env.length + 1))) return [name];
  return undefined;
}

export const keys = {
  envPrefix: (env: string) => `${env}/`,
  backupPrefix: (env: string, id: string) => `${env}/${id}/`,
  manifest: (env: string, id: string) => `${env}/${id}/manifest.json`,
  started: (env: string, id: string) => `${env}/${id}/started.json`,
  verify: (env: string, id: string) => `${env}/${id}/verify.json`,
  tableObject: (index: number) => `data/${String(index).padStart(4, '0')}.copy.gz`,
  largeObjects: () => 'lo/0001.lo.gz',
  lease: (env: string) => `${env}/.lease/backup.json`,
  trigger: (env: string, messageId: string) => `${env}/.triggers/${encodeURIComponent(messageId)}.json`,
} as const;
