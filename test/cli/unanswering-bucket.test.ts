/**
 * A GCS bucket that does not answer: the read-only commands fail within seconds in one line (each request waits
 * READ_ONLY_ANSWER_SECONDS), not after the storage client's retries (about 48 s for 503s, minutes for a server that
 * takes requests and never answers); with --json, the error object on stdout too, exit 1.
 */
import { describe, it, expect } from 'vitest';
import { runCli, operatorFileEnv } from '../support/cli';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs';

const envFor = (gcs: FakeGcs) => ({
  ...operatorFileEnv({ probes: [{ name: 'api', url: 'http://127.0.0.1:9/' }] }),
  BACKUP_BUCKET: 'gs://unanswering-bucket/ops',
  GCS_API_ENDPOINT: gcs.url,
});

describe('a GCS bucket that does not answer', () => {
  it('requests taken and never answered: uptime fails within 15 s, one line, exit 1', async () => {
    const gcs = await startFakeGcs();
    gcs.stallAll();
    try {
      const started = Date.now();
      const r = await runCli(['uptime'], { env: envFor(gcs), timeoutMs: 120_000 });
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        'mt-ops: the bucket gs://unanswering-bucket/ops did not answer within 10 s (read of prod/.state/probes/api.json)\n',
      );
    } finally {
      await gcs.close();
    }
  }, 150_000);

  it('503 to every request: list --json and silence list fail within 15 s, the error object on stdout, exit 1', async () => {
    const gcs = await startFakeGcs();
    gcs.failNext({ count: 100_000, status: 503 });
    try {
      for (const args of [
        ['list', '--json'],
        ['silence', 'list'],
      ]) {
        const started = Date.now();
        const r = await runCli(args, { env: envFor(gcs), timeoutMs: 120_000 });
        expect(Date.now() - started, args.join(' ')).toBeLessThan(15_000);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(
          /^mt-ops: the bucket gs:\/\/unanswering-bucket\/ops did not answer within 10 s \(listing of prod\/\S*\)\n$/,
        );
        if (args.includes('--json'))
          expect(JSON.parse(r.stdout)).toEqual({
            error: r.stderr.slice('mt-ops: '.length, -1),
            issues: [],
            code: 'failed',
          });
      }
    } finally {
      await gcs.close();
    }
  }, 150_000);
});
