/**
 * What backups a bucket holds: listing (complete, incomplete, corrupt, legacy, safety) and resolving an id or
 * `latest`.
 */
import { text } from 'node:stream/consumers';
import type { ObjectStore } from '../storage/types';
import { OpsError, UsageError } from '../errors';
import { BACKUP_ID_PATTERN, LEGACY_NAME_PATTERN, backupIdTime, keys, legacyNameTime } from './layout';
import { ManifestSchema, VerifyRecordSchema, isSafetyBackup, type Manifest, type VerifyRecord } from './manifest';

/** One backup as found in the store. */
export interface BackupEntry {
  /**
   * complete: manifest present and valid; incomplete: no manifest (an interrupted or running attempt); corrupt: a
   * manifest that cannot be read or does not validate (an integrity failure: listed, never removed by retention);
   * legacy: a database_backup_*.json[.gz] file.
   */
  kind: 'complete' | 'incomplete' | 'corrupt' | 'legacy';
  /** The backup id, or the legacy file's key. */
  id: string;
  /** When it was taken: from the id (UTC) or the legacy file's name. */
  time: Date;
  /** Keys of the backup's objects' common prefix (`<env>/<id>/`), or the legacy file's key. */
  prefix: string;
  objects: number;
  bytes: number;
  manifest?: Manifest;
  /** A restore's safety backup (complete ones only): never `latest`, its own retention. */
  safety?: boolean;
  verify?: VerifyRecord;
  /** Why an entry is corrupt: its manifest could not be read or does not validate. */
  note?: string;
}

/** How many backups' manifests (and verify records) are read at once. */
const READ_CONCURRENCY = 8;

/**
 * Every backup of `env` in the store, newest first. Incomplete ones only when asked.
 *
 * One paged listing of `<env>/` gives every backup's objects (count, bytes, whether a manifest is there) and the
 * legacy files kept under the environment; a second, of `database_backup_`, the legacy files at the root. Then the
 * manifests (and verify records) are read, a few at a time. Folders that are not backup ids (`.lease/`,
 * `.triggers/`, anything else) are ignored.
 */
export async function listBackups(
  store: ObjectStore,
  env: string,
  options: { includeIncomplete?: boolean } = {},
): Promise<BackupEntry[]> {
  const envPrefix = keys.envPrefix(env);
  const found = new Map<string, { objects: number; bytes: number; hasManifest: boolean }>();
  const legacy: BackupEntry[] = [];
  const addLegacy = (key: string, size: number) => {
    const time = legacyNameTime(key);
    if (time) legacy.push({ kind: 'legacy', id: key, time, prefix: key, objects: 1, bytes: size });
  };
  for await (const object of store.list(envPrefix)) {
    const rest = object.key.slice(envPrefix.length);
    const slash = rest.indexOf('/');
    if (slash === -1) {
      if (LEGACY_NAME_PATTERN.test(rest)) addLegacy(object.key, object.size);
      continue;
    }
    const id = rest.slice(0, slash);
    if (!BACKUP_ID_PATTERN.test(id)) continue;
    const seen = found.get(id) ?? { objects: 0, bytes: 0, hasManifest: false };
    seen.objects++;
    seen.bytes += object.size;
    if (object.key === keys.manifest(env, id)) seen.hasManifest = true;
    found.set(id, seen);
  }
  for await (const object of store.list('database_backup_')) {
    if (!object.key.includes('/') && LEGACY_NAME_PATTERN.test(object.key)) addLegacy(object.key, object.size);
  }

  const listed = [...found].map(([id, seen]): BackupEntry => ({
    kind: 'incomplete',
    id,
    time: backupIdTime(id),
    prefix: keys.backupPrefix(env, id),
    objects: seen.objects,
    bytes: seen.bytes,
  }));
  const withManifest = listed.filter((e) => found.get(e.id)!.hasManifest);
  let next = 0;
  const readers = Array.from({ length: Math.min(READ_CONCURRENCY, withManifest.length) }, async () => {
    while (next < withManifest.length) {
      const entry = withManifest[next++]!;
      Object.assign(entry, await readDocuments(store, env, entry.id));
    }
  });
  await Promise.all(readers);

  const entries = [...listed.filter((e) => e.kind !== 'incomplete' || options.includeIncomplete), ...legacy];
  // Ids have second resolution; the manifest's start time orders backups taken within one second.
  const exact = (e: BackupEntry) => (e.manifest ? Date.parse(e.manifest.startedAt) : e.time.getTime());
  return entries.sort((a, b) => exact(b) - exact(a) || (a.id < b.id ? 1 : -1));
}

/** A backup's manifest and verify record: `complete` with both, or `corrupt` with a note on why the manifest could not be used. */
async function readDocuments(
  store: ObjectStore,
  env: string,
  id: string,
): Promise<Pick<BackupEntry, 'kind' | 'manifest' | 'safety' | 'verify' | 'note'>> {
  const manifest = await readManifest(store, env, id).catch((err: Error) => err);
  if (manifest instanceof Error) return { kind: 'corrupt', note: manifest.message };
  const verify = await store.readJson(keys.verify(env, id)).catch(() => undefined);
  const parsedVerify = verify ? VerifyRecordSchema.safeParse(verify.value) : undefined;
  return {
    kind: 'complete',
    manifest,
    safety: isSafetyBackup(manifest),
    ...(parsedVerify?.success ? { verify: parsedVerify.data } : {}),
  };
}

async function readEntry(store: ObjectStore, env: string, id: string): Promise<BackupEntry> {
  const prefix = keys.backupPrefix(env, id);
  let objects = 0;
  let bytes = 0;
  let hasManifest = false;
  for await (const object of store.list(prefix)) {
    objects++;
    bytes += object.size;
    if (object.key === keys.manifest(env, id)) hasManifest = true;
  }
  const entry: BackupEntry = { kind: 'incomplete', id, time: backupIdTime(id), prefix, objects, bytes };
  return hasManifest ? { ...entry, ...(await readDocuments(store, env, id)) } : entry;
}

/** Reads and validates a backup's manifest; rejects with the reason when it is missing or malformed. */
export async function readManifest(store: ObjectStore, env: string, id: string): Promise<Manifest> {
  const raw = await text(await store.get(keys.manifest(env, id)));
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Error(`manifest of ${id} is not valid JSON`);
  }
  const result = ManifestSchema.safeParse(json);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    const more = issues.length > 3 ? `; and ${issues.length - 3} more` : '';
    throw new Error(`manifest of ${id} is malformed: ${issues.slice(0, 3).join('; ')}${more}`);
  }
  if (result.data.id !== id || result.data.env !== env)
    throw new Error(`manifest of ${id} names another backup (${result.data.env}/${result.data.id})`);
  return result.data;
}

/**
 * The complete backup named by an id or `latest`; a UsageError when there is none. `latest` is the newest real
 * backup: a restore's safety backup never is (a retried restore would load its own target's copy); name it by id.
 */
export async function resolveBackup(
  store: ObjectStore,
  env: string,
  idOrLatest: string,
): Promise<BackupEntry & { manifest: Manifest }> {
  if (idOrLatest === 'latest') {
    const complete = (await listBackups(store, env)).filter((e) => e.kind === 'complete');
    const newest = complete.find((e) => !e.safety);
    if (!newest?.manifest) {
      const safety =
        complete.length > 0
          ? ` (only safety backups, never "latest": name one by its id, e.g. ${complete[0]!.id})`
          : '';
      throw new UsageError(`no complete backup of env ${env} in ${store.url}${safety}`);
    }
    return newest as BackupEntry & { manifest: Manifest };
  }
  if (!BACKUP_ID_PATTERN.test(idOrLatest)) {
    throw new UsageError(
      `invalid backup id ${JSON.stringify(idOrLatest)}: expected an id like 20261129T030000Z-7f3a, or "latest"`,
    );
  }
  const entry = await readEntry(store, env, idOrLatest);
  if (entry.objects === 0) throw new UsageError(`unknown backup id ${idOrLatest}; run mt-ops list`);
  // A manifest that is there but unreadable is an integrity failure (exit 1), not bad input.
  if (entry.kind === 'corrupt')
    throw new OpsError(`backup ${idOrLatest} is corrupt: ${entry.note}`, 'manifest_corrupt');
  if (entry.kind !== 'complete' || !entry.manifest)
    throw new UsageError(`backup ${idOrLatest} is incomplete (no manifest: an interrupted or running backup)`);
  return entry as BackupEntry & { manifest: Manifest };
}
