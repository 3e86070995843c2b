/**
 * A fake PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/overview/): POST /v2/enqueue;
 * answers 202 `{status: "success", message: "Event processed", dedup_key}`; 400 `{status: "invalid event", errors}`
 * for a missing routing_key, event_action, dedup_key on resolve, or payload.summary/source/severity on trigger;
 * scripted 429 (throttled), 5xx, or a hang.
 */
import { startFakeHttp, type FakeHttp } from './fake-http';

export interface FakePagerDuty extends FakeHttp {
  /** PAGERDUTY_EVENTS_URL */
  eventsUrl: string;
}

const SEVERITIES = ['critical', 'error', 'warning', 'info'];

export async function startFakePagerDuty(): Promise<FakePagerDuty> {
  const fake = await startFakeHttp((req) => {
    if (req.method !== 'POST' || req.path !== '/v2/enqueue')
      return { status: 404, body: JSON.stringify({ status: 'not found' }) };
    const e = req.json;
    const errors: string[] = [];
    if (!e || typeof e !== 'object') errors.push('Event object is invalid');
    else {
      if (typeof e.routing_key !== 'string' || e.routing_key.length === 0)
        errors.push("'routing_key' is missing or blank");
      if (!['trigger', 'acknowledge', 'resolve'].includes(e.event_action)) errors.push("'event_action' is invalid");
      if (e.event_action !== 'trigger' && !e.dedup_key) errors.push("'dedup_key' is missing");
      if (e.event_action === 'trigger') {
        if (!e.payload?.summary) errors.push("'payload.summary' is missing or blank");
        if (!e.payload?.source) errors.push("'payload.source' is missing or blank");
        if (!SEVERITIES.includes(e.payload?.severity)) errors.push("'payload.severity' is invalid");
      }
    }
    if (errors.length)
      return {
        status: 400,
        body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors }),
      };
    return {
      status: 202,
      body: JSON.stringify({
        status: 'success',
        message: 'Event processed',
        dedup_key: e.dedup_key ?? 'generated-key',
      }),
    };
  });
  return Object.assign(fake, { eventsUrl: `${fake.url}/v2/enqueue` });
}
