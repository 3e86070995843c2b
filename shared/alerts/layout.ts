/** Where the alert fan-out keeps its state in the bucket. */
import { fingerprintKey, type Receiver } from './model';

/**
 * Where the fan-out keeps its state in the bucket (keys relative to the bucket URL's prefix), all small JSON
 * documents written with compare-and-swap (`ifGeneration`), so restarts and redeliveries never double-send or lose:
 *
 *   <env>/.alerts/incidents/<fp>.json                     incident state per fingerprint (status, transitions, message ids)
 *   <env>/.alerts/outbox/<YYYY-MM-DD>/<fp>-<seq>-<receiver>.json   one delivery: claimed, then delivered / failed / dead-lettered
 *   <env>/.alerts/pending/<fp>-<seq>-<receiver>.json   a delivery not settled yet (the sweep retries these)
 *   <env>/.alerts/silences/<id>.json                      an ad hoc silence (matchers, reason, author, expiry)
 *   <env>/.alerts/digest/<time>-<id>.json                 an info notice waiting for the daily digest (digestedTo: the channels that have it)
 *   <env>/.alerts/digest-sent/<YYYY-MM-DD>.json           the digest of that day (New York date) went out
 *
 * `<fp>` is a hash of the fingerprint (fingerprints may hold any character); the document holds the fingerprint itself.
 */
export const alertKeys = {
  root: (env: string) => `${env}/.alerts/`,
  incidents: (env: string) => `${env}/.alerts/incidents/`,
  incident: (env: string, fingerprint: string) => `${env}/.alerts/incidents/${fingerprintKey(fingerprint)}.json`,
  outboxDay: (env: string, day: string) => `${env}/.alerts/outbox/${day}/`,
  outbox: (env: string, fingerprint: string, seq: number, at: string, receiver: Receiver) =>
    `${env}/.alerts/outbox/${at.slice(0, 10)}/${fingerprintKey(fingerprint)}-${String(seq).padStart(6, '0')}-${receiver}.json`,
  pendingAll: (env: string) => `${env}/.alerts/pending/`,
  pending: (env: string, fingerprint: string, seq: number, receiver: Receiver) =>
    `${env}/.alerts/pending/${fingerprintKey(fingerprint)}-${String(seq).padStart(6, '0')}-${receiver}.json`,
  silences: (env: string) => `${env}/.alerts/silences/`,
  silence: (env: string, id: string) => `${env}/.alerts/silences/${id}.json`,
  digest: (env: string) => `${env}/.alerts/digest/`,
  digestItem: (env: string, time: string, id: string) =>
    `${env}/.alerts/digest/${time.replace(/[^0-9TZ]/g, '')}-${id}.json`,
  digestSent: (env: string, day: string) => `${env}/.alerts/digest-sent/${day}.json`,
} as const;
