// `mt-ops infra plan/apply` in a shell with no Google Cloud credentials and no emulator (a newcomer's laptop, or a
// shell with only GOOGLE_CLOUD_PROJECT set): one line naming what is missing, exit 2, no stack trace, no Node warning.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:net';
import { runCli } from '../support/cli';
import { tempDir } from '../support/temp';
import { freePort } from '../support/postgres-server';
import { dropMetadataLookupWarnings } from '../../shared/credentials';

describe('infra plan/apply without credentials', () => {
  // The metadata server's address, answered by a server that drops every connection: the auth library's "is this
  // Google Cloud?" check fails the way it does off Google Cloud (and emits its MetadataLookupWarning), wherever the
  // test runs, Cloud Build included.
  let metadata: Server;
  let env: Record<string, string | undefined>;
  beforeAll(async () => {
    metadata = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    const { port } = metadata.address() as { port: number };
    env = {
      LOG_LEVEL: undefined,
      HOME: tempDir('mt-infra-nocreds-'), // no gcloud application-default credentials file
      CLOUDSDK_CONFIG: undefined,
      GOOGLE_APPLICATION_CREDENTIALS: undefined,
      GOOGLE_CLOUD_PROJECT: 'mt-ops-someone',
      PUBSUB_EMULATOR_HOST: undefined,
      SCHEDULER_API_ENDPOINT: undefined,
      METADATA_SERVER_DETECTION: undefined,
      GCE_METADATA_HOST: `127.0.0.1:${port}`,
    };
  });
  afterAll(async () => {
    await new Promise((resolve) => metadata.close(resolve));
  });

  it.each([['plan'], ['apply']])('infra %s: one line naming the missing credentials, exit 2', async (sub) => {
    const r = await runCli(['infra', sub, '--project', 'mt-ops-someone', '--region', 'us-east1'], { env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^mt-ops: no Google Cloud credentials for project mt-ops-someone \(.*\): /);
    expect(lines[0]).toMatch(/gcloud auth application-default login/);
    expect(lines[0]).toMatch(/GOOGLE_APPLICATION_CREDENTIALS/);
    expect(lines[0]).toMatch(/PUBSUB_EMULATOR_HOST/);
  });
});

describe('infra plan with the local servers named but not running', () => {
  it('PUBSUB_EMULATOR_HOST where nothing answers: one line naming it, exit 2 (it hung for minutes)', async () => {
    const [dead, scheduler] = [await freePort(), await freePort()];
    const r = await runCli(['infra', 'plan', '--project', 'mt-ops-someone', '--region', 'us-east1'], {
      env: { PUBSUB_EMULATOR_HOST: `127.0.0.1:${dead}`, SCHEDULER_API_ENDPOINT: `http://127.0.0.1:${scheduler}` },
      timeoutMs: 30_000,
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(
      `mt-ops: PUBSUB_EMULATOR_HOST: nothing answers at 127.0.0.1:${dead} (is the emulator running?)`,
    );
  });
});

describe('the MetadataLookupWarning', () => {
  it('is dropped while asked, every other warning still goes out; then the previous behaviour is back', async () => {
    const seen: string[] = [];
    const listener = (w: Error) => seen.push(w.name);
    process.on('warning', listener);
    try {
      const restore = dropMetadataLookupWarnings();
      process.emitWarning(
        'received unexpected error = All promises were rejected code = UNKNOWN',
        'MetadataLookupWarning',
      );
      process.emitWarning('something else', 'OtherWarning');
      restore();
      process.emitWarning('after', 'MetadataLookupWarning');
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      expect(seen).toEqual(['OtherWarning', 'MetadataLookupWarning']);
    } finally {
      process.off('warning', listener);
    }
  });
});
