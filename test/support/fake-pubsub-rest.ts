/**
 * Protocol-level fakes for publishing to the real Pub/Sub service, where the emulator cannot stand in (it takes no
 * credentials and never fails): Pub/Sub's REST publish (`POST /v1/projects/P/topics/T:publish`, answering
 * `{"messageIds": [...]}`, or Google's JSON error), and the GCE metadata server that google-auth-library asks for an
 * access token when GCE_METADATA_HOST points at it.
 */
import { startFakeHttp, type FakeHttp, type Scripted } from './fake-http';

/** Google's JSON error body, as Pub/Sub answers it. */
export function googleError(code: number, status: string, message: string): Scripted {
  return { status: code, body: JSON.stringify({ error: { code, message, status } }) };
}

/** Pub/Sub's REST API: every publish is answered with the next message id (1, 2, ...) unless scripted otherwise. */
export async function startFakePubSubRest(): Promise<FakeHttp> {
  let id = 0;
  return startFakeHttp((req) => {
    if (req.method !== 'POST' || !/^\/v1\/projects\/[^/]+\/topics\/[^/:]+:publish$/.test(req.path))
      return googleError(404, 'NOT_FOUND', `no such method: ${req.method} ${req.path}`);
    const messages = (req.json as { messages?: unknown[] } | undefined)?.messages;
    if (!Array.isArray(messages) || messages.length === 0)
      return googleError(400, 'INVALID_ARGUMENT', 'The request must contain at least one message.');
    return { status: 200, body: JSON.stringify({ messageIds: messages.map(() => String(++id)) }) };
  });
}

export const FAKE_TOKEN = 'ya29.fake-metadata-token';

/**
 * The GCE metadata server (GCE_METADATA_HOST=127.0.0.1:PORT): answers the auth library's presence check and hands
 * out FAKE_TOKEN for the default service account; every answer carries `Metadata-Flavor: Google`, as the library
 * requires.
 */
export async function startFakeMetadata(projectId = 'mt-ops-fake'): Promise<FakeHttp & { host: string }> {
  const flavor = { 'metadata-flavor': 'Google' };
  const fake = await startFakeHttp((req) => {
    const path = req.path.split('?')[0];
    if (req.headers['metadata-flavor'] !== 'Google') return { status: 403, body: 'missing Metadata-Flavor' };
    if (path === '/computeMetadata/v1/instance/service-accounts/default/token')
      return {
        status: 200,
        headers: flavor,
        body: JSON.stringify({ access_token: FAKE_TOKEN, expires_in: 3599, token_type: 'Bearer' }),
      };
    if (path === '/computeMetadata/v1/project/project-id') return { status: 200, headers: flavor, body: projectId };
    if (path === '/computeMetadata/v1/instance' || path === '/computeMetadata/v1/instance/')
      return { status: 200, headers: flavor, body: '{}' };
    return { status: 404, headers: flavor, body: 'not found' };
  });
  return Object.assign(fake, { host: fake.url.replace(/^http:\/\//, '') });
}
