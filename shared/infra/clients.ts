/**
 * The Pub/Sub and Cloud Scheduler clients `infra plan/apply` use, loaded on first use. PUBSUB_EMULATOR_HOST points
 * Pub/Sub at the emulator; SCHEDULER_API_ENDPOINT (`http://127.0.0.1:PORT`) points Cloud Scheduler at another
 * server through the client's HTTP/JSON fallback mode, without credentials (no emulator of Scheduler exists: the
 * tests run a fake of its REST API). A client that needs Google credentials and finds none is bad setup: one line
 * saying how to provide them (exit 2), checked before any client is made (see `shared/credentials.ts`).
 */
import type { CloudClients } from './reconcile';
import { UsageError, errorMessage } from '../errors';
import { CREDENTIALS_HINT, findCredentials } from '../credentials';
import { assertReachable } from '../reachable';

export async function openCloudClients(
  project: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CloudClients & { close(): Promise<void> }> {
  const [{ PubSub }, { CloudSchedulerClient }] = await Promise.all([
    import('@google-cloud/pubsub'),
    import('@google-cloud/scheduler'),
  ]);
  const emulator = env.PUBSUB_EMULATOR_HOST;
  const endpoint = env.SCHEDULER_API_ENDPOINT;
  // local servers named but not answering: one line each, not a client retrying its first call for minutes
  if (emulator) await assertReachable(emulator, 'PUBSUB_EMULATOR_HOST', 'is the emulator running?');
  const schedulerUrl = endpoint ? parseEndpoint(endpoint) : undefined;
  const schedulerPort = schedulerUrl && Number(schedulerUrl.port || (schedulerUrl.protocol === 'http:' ? 80 : 443));
  if (schedulerUrl)
    await assertReachable(
      `${schedulerUrl.hostname}:${schedulerPort}`,
      'SCHEDULER_API_ENDPOINT',
      'is that server running?',
    );
  if (!emulator || !endpoint) await requireCredentials(project);
  const pubsub = new PubSub({ projectId: project, ...(emulator ? { apiEndpoint: emulator, emulatorMode: true } : {}) });
  let scheduler: InstanceType<typeof CloudSchedulerClient>;
  if (schedulerUrl) {
    // google-gax (the client's own transport, installed with it) carries the auth library: no credentials at all
    const { googleAuthLibrary } = await import('google-gax');
    const { GoogleAuth, PassThroughClient } = googleAuthLibrary;
    scheduler = new CloudSchedulerClient({
      fallback: true,
      apiEndpoint: schedulerUrl.hostname,
      port: schedulerPort,
      protocol: schedulerUrl.protocol.replace(':', ''),
      auth: new GoogleAuth({ authClient: new PassThroughClient() }),
    } as never);
  } else {
    scheduler = new CloudSchedulerClient({ projectId: project });
  }
  return {
    pubsub,
    scheduler,
    close: async () => {
      await Promise.allSettled([pubsub.close(), scheduler.close()]);
    },
  };
}

function parseEndpoint(endpoint: string): URL {
  try {
    return new URL(endpoint);
  } catch {
    throw new UsageError('SCHEDULER_API_ENDPOINT: must be a URL such as http://127.0.0.1:8085');
  }
}

/** Credentials for the real clients, or a UsageError saying how to provide them. */
async function requireCredentials(project: string): Promise<void> {
  try {
    const { googleAuthLibrary } = await import('google-gax');
    await findCredentials(
      project,
      new googleAuthLibrary.GoogleAuth({
        projectId: project,
        scopes: ['https://www.googleapis.com/auth/cloud-platform'],
      }),
    );
  } catch (err) {
    throw new UsageError(
      `no Google Cloud credentials for project ${project} (${errorMessage(err)}): ${CREDENTIALS_HINT}, or point PUBSUB_EMULATOR_HOST and SCHEDULER_API_ENDPOINT at local servers`,
    );
  }
}
