/** Our own events as the fan-out receives them: a Pub/Sub message decoded by the real decoder. */
import { decodeMessage } from '../../shared/alerts/decode';
import { OpsEvent } from '../../shared/bus/events';

export const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64');
export const message = (event: unknown, messageId: string) => decodeMessage({ data: b64(event), messageId });
export const backupFailed = (time: string) => ({
  type: 'backup.failed',
  severity: 'critical',
  env: 'prod',
  time,
  trigger: 'scheduled',
  reason: 'could not read public.games',
});

/** A probe's firing alert in prod (the n-th of a series: its own fingerprint and title), as our events carry it. */
export const probeFiring = (n: number) =>
  OpsEvent.parse({
    type: 'alert',
    severity: 'critical',
    env: 'prod',
    time: '2026-11-30T03:00:00Z',
    status: 'firing',
    fingerprint: `probe/prod/t${n}`,
    title: `t${n} is down`,
    startsAt: '2026-11-30T02:59:00Z',
    source: 'probe',
  });
