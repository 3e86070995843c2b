/** Our own events as the fan-out receives them: a Pub/Sub message decoded by the real decoder. */
import { decodeMessage } from '../../shared/alerts/decode';

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
