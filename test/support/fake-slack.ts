/**
 * A fake Slack incoming webhook (https://api.slack.com/messaging/webhooks): POST JSON to /services/T/B/X; answers
 * 200 `ok`; `400 invalid_payload` when the body is not JSON or has neither `text` nor `blocks`/`attachments`;
 * `404 no_service` for an unknown path; scripted `429` with `Retry-After`, `500`, or a hang.
 */
import { startFakeHttp, type FakeHttp } from './fake-http';

export interface FakeSlack extends FakeHttp {
  /** The webhook URL to configure (SLACK_WEBHOOK_URL). */
  webhookUrl: string;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const path = '/services/T0000000/B0000000/XXXXXXXXXXXXXXXXXXXXXXXX';
  const fake = await startFakeHttp((req) => {
    if (req.method !== 'POST') return { status: 405, body: 'invalid_method' };
    if (req.path !== path) return { status: 404, body: 'no_service' };
    const j = req.json;
    if (
      !j ||
      typeof j !== 'object' ||
      (typeof j.text !== 'string' && !Array.isArray(j.blocks) && !Array.isArray(j.attachments))
    )
      return { status: 400, body: 'invalid_payload' };
    return { status: 200, body: 'ok' };
  });
  return Object.assign(fake, { webhookUrl: `${fake.url}${path}` });
}
