/** The incident state document of the fan-out, read-decide-write under compare-and-swap. */
import { createHash } from 'node:crypto';
import type { ObjectStore } from '../storage/types';
import { isConflict } from '../storage/types';
import { OpsError } from '../errors';
import { alertKeys } from './layout';
import type { Decision, IncidentState } from './lifecycle';
import type { Notice } from './model';

/**
 * The incident state document, read-decide-write under compare-and-swap: a concurrent writer makes us read again
 * and decide again, so two instances handling two messages for one incident never both send the same transition.
 */
export async function updateIncident(
  store: ObjectStore,
  env: string,
  fingerprint: string,
  decideFn: (state: IncidentState | undefined) => Decision,
): Promise<Decision> {
  const key = alertKeys.incident(env, fingerprint);
  for (let attempt = 0; attempt < 20; attempt++) {
    const doc = await store.readJson(key);
    const decision = decideFn(doc?.value as IncidentState | undefined);
    if (decision.unchanged) return decision;
    try {
      await store.writeJson(key, decision.state, { ifGeneration: doc?.generation ?? null });
      return decision;
    } catch (err) {
      if (isConflict(err)) continue;
      throw err;
    }
  }
  throw new OpsError(`incident ${fingerprint}: too many concurrent updates`);
}

export async function readIncidents(store: ObjectStore, env: string): Promise<IncidentState[]> {
  const out: IncidentState[] = [];
  for await (const info of store.list(alertKeys.incidents(env))) {
    const doc = await store.readJson(info.key);
    if (doc?.value && typeof doc.value === 'object') out.push(doc.value as IncidentState);
  }
  return out;
}

/** Files a notice for the daily digest; the same notice (same message, same index) is filed once. */
export async function fileNotice(store: ObjectStore, env: string, notice: Notice, identity: string): Promise<void> {
  const id = createHash('sha256').update(identity).digest('hex').slice(0, 16);
  try {
    await store.writeJson(alertKeys.digestItem(env, notice.time, id), notice, { ifGeneration: null });
  } catch (err) {
    if (isConflict(err)) return;
    throw err;
  }
}
