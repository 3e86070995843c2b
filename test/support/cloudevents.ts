/**
 * A Pub/Sub message delivered to a function as Eventarc delivers it, in binary mode: the CloudEvent's attributes as
 * `ce-*` headers, the body `{message, subscription}` (or any body, to test what a function makes of a bad one).
 */
import { PUBSUB_CLOUDEVENT_TYPE } from '../../shared/bus/decode';

export function postPubsubEvent(url: string, body: unknown, options: { id?: string; topic?: string } = {}) {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'ce-id': options.id ?? '1',
      'ce-specversion': '1.0',
      'ce-type': PUBSUB_CLOUDEVENT_TYPE,
      'ce-source': `//pubsub.googleapis.com/projects/p/topics/${options.topic ?? 't'}`,
    },
    body: JSON.stringify(body),
  });
}
