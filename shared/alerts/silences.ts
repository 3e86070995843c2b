/** Ad hoc alert silences kept in the bucket: add, list, expire, match. */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { ObjectStore } from '../storage/types';
import { MatcherText } from './config';
import { alertKeys } from './layout';
import { matchesAll } from './route';
import { matchLabels, type Alert } from './model';
import { UsageError } from '../errors';

/** An ad hoc silence: matchers (all must match), a reason, an author and an expiry; stored in the bucket. */
export const SilenceSchema = z.object({
  id: z.string().regex(/^[a-z0-9-]{4,64}$/),
  matchers: z.array(MatcherText).min(1),
  reason: z.string().min(1),
  author: z.string().min(1),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});
export type Silence = z.infer<typeof SilenceSchema>;

export function isActive(s: Silence, now: Date): boolean {
  return Date.parse(s.createdAt) <= now.getTime() && now.getTime() < Date.parse(s.expiresAt);
}

/** The first active silence that matches the alert (pure). */
export function silencedBy(silences: readonly Silence[], alert: Alert, now: Date): Silence | undefined {
  const labels = matchLabels(alert);
  return silences.find((s) => isActive(s, now) && matchesAll(s.matchers, labels));
}

/**
 * The longest a silence may last (90 days): longer is a mistake (`99999d`), and a silence nobody remembers hides
 * pages for good; what must stay quiet longer belongs in the routing tree or a maintenance window.
 */
export const MAX_SILENCE_MS = 90 * 86_400_000;

export function newSilenceId(now: Date): string {
  return `${now.toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
}

export async function addSilence(
  store: ObjectStore,
  env: string,
  input: Omit<Silence, 'id' | 'createdAt'>,
  now = new Date(),
): Promise<Silence> {
  if (Date.parse(input.expiresAt) - now.getTime() > MAX_SILENCE_MS)
    throw new UsageError('a silence lasts at most 90 days (use the routing tree or a maintenance window for longer)');
  const silence = SilenceSchema.parse({ ...input, id: newSilenceId(now), createdAt: now.toISOString() });
  await store.writeJson(alertKeys.silence(env, silence.id), silence, { ifGeneration: null });
  return silence;
}

/** Every stored silence (expired ones too, newest first); unreadable documents are skipped. */
export async function listSilences(store: ObjectStore, env: string): Promise<Silence[]> {
  const out: Silence[] = [];
  for await (const info of store.list(alertKeys.silences(env))) {
    const doc = await store.readJson(info.key);
    const parsed = SilenceSchema.safeParse(doc?.value);
    if (parsed.success) out.push(parsed.data);
  }
  return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** Ends a silence now (compare-and-swap); undefined when there is no such silence. */
export async function expireSilence(
  store: ObjectStore,
  env: string,
  id: string,
  now = new Date(),
): Promise<Silence | undefined> {
  if (!/^[a-z0-9-]{4,64}$/.test(id)) return undefined;
  const key = alertKeys.silence(env, id);
  const doc = await store.readJson(key);
  const parsed = SilenceSchema.safeParse(doc?.value);
  if (!doc || !parsed.success) return undefined;
  const expired = {
    ...parsed.data,
    expiresAt: new Date(Math.min(Date.parse(parsed.data.expiresAt), now.getTime())).toISOString(),
  };
  await store.writeJson(key, expired, { ifGeneration: doc.generation });
  return expired;
}
