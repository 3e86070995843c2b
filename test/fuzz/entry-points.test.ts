/**
 * Seeded, bounded fuzzing of every entry point (issue 16): a few thousand generated inputs per surface, in well under
 * a minute. Asserts: no throw where the contract says never, no 500 for bad input, no stack or server path in any
 * answer or message, no single input over 1 s, Object.prototype untouched. A failure prints the seed and the input.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import * as ff from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { fuzz, mutate, mutateBytes, randomJson, randomString, toJsonText, LEAK, SEED, type Rng } from './generate';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { fixturePath } from '../support/fixtures';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../shared/config/load';
import { UsageError } from '../../shared/errors';
import { decodeCloudEvent, PUBSUB_CLOUDEVENT_TYPE } from '../../shared/bus/decode';
import { BackupRequestSchema } from '../../shared/backup/request';
import { RetentionRequestSchema } from '../../functions/retention/handlers';
import { VerifyRequestSchema } from '../../functions/verify/handlers';
import { backupHttpHandler } from '../../functions/backup/handlers';
import { installJsonErrors } from '../../shared/functions/framework';
import { scanLegacy } from '../../shared/restore/legacy-reader';
import { readManifest } from '../../shared/backup/catalog';
import { openStore } from '../../shared/storage/open';
import { main } from '../../shared/cli/main';

const dir = tempDir('mt-fuzz-');
console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);

describe('config loader', () => {
  const validFile = {
    backup: { schemas: ['public'], jobs: 2 },
    retention: { policy: { keepLast: 3 }, minKeep: 1 },
    schedules: { backup: { cron: '0 3 * * *' } },
  };
  const validEnv = {
    DATABASE_URL: 'postgres://u:p@h:5432/d',
    BACKUP_BUCKET: 'file:///tmp/x',
    OPS_ENV: 'prod',
    LOG_LEVEL: 'info',
    PORT: '8080',
  };

  it('throws only UsageErrors, one line per problem, no stack', async () => {
    await fuzz('config', 2000, (rng) => {
      const file = join(dir, `ops-${rng.int(1e9)}.${rng.pick(['json', 'yaml', 'yml', 'conf'])}`);
      writeFileSync(
        file,
        rng.chance(0.5)
          ? toJsonText(rng, mutate(rng, validFile))
          : mutateBytes(rng, Buffer.from(JSON.stringify(validFile))),
      );
      const env: Record<string, string> = { ...(mutate(rng, validEnv) as Record<string, string>) };
      for (const [k, v] of Object.entries(env))
        if (typeof v !== 'string') env[k] = typeof v === 'object' ? (JSON.stringify(v) ?? '') : String(v);
      try {
        loadConfig({ ...env, OPS_CONFIG: file });
      } catch (err) {
        if (!(err instanceof UsageError)) return `threw ${(err as Error).name}: ${(err as Error).message}`;
        if (LEAK.test(err.message.replace(file, '<file>'))) return `message leaks: ${err.message.slice(0, 300)}`;
      }
      return undefined;
    });
  });
});

describe('Pub/Sub CloudEvents of backup, retention and verify', () => {
  const valid = (data: unknown, id = '123') => ({
    id,
    type: PUBSUB_CLOUDEVENT_TYPE,
    data: {
      message: { data: Buffer.from(JSON.stringify(data)).toString('base64'), messageId: id, attributes: { job: 'x' } },
      subscription: 's',
    },
  });
  it.each([
    ['backup', BackupRequestSchema, { label: 'nightly', schemas: ['public'] }],
    ['retention', RetentionRequestSchema, { dryRun: true }],
    ['verify', VerifyRequestSchema, {}],
  ] as const)(
    '%s: decoding never throws; poison reasons are bounded and leak nothing',
    async (name, schema, payload) => {
      await fuzz(`event-${name}`, 2000, (rng) => {
        const event = rng.chance(0.3)
          ? randomJson(rng)
          : mutate(rng, rng.chance(0.5) ? valid(payload) : valid(mutate(rng, payload)));
        const decoded = decodeCloudEvent(schema, event);
        if ('poison' in decoded) {
          if (decoded.reason.length > 12_000) return `reason of ${decoded.reason.length} characters`;
          if (LEAK.test(decoded.reason)) return `reason leaks: ${decoded.reason.slice(0, 300)}`;
          if (decoded.messageId !== undefined && !/^[0-9]{1,64}$/.test(decoded.messageId))
            return `poison with an invalid message id`;
        } else if (!/^[0-9]{0,64}$/.test(decoded.messageId)) return 'decoded with an invalid message id';
        return undefined;
      });
    },
  );
});

describe('HTTP backup through the real functions-framework server', () => {
  let server: Server;
  let url: string;
  let rt: ReturnType<typeof testRuntime>;
  beforeAll(async () => {
    rt = testRuntime({
      DATABASE_URL: 'postgres://ops:pw-fuzz@127.0.0.1:1/x',
      BACKUP_BUCKET: `file://${tempDir()}`,
      OPS_ENV: 'fuzz',
    });
    installJsonErrors();
    ff.http(
      'backupHttpFuzz',
      backupHttpHandler(() => rt),
    );
    server = getTestServer('backupHttpFuzz');
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('never a 500 for bad input, always JSON, no stack or path', async () => {
    const types = [
      'application/json',
      'application/json; charset=latin2',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/octet-stream',
      'application/cloudevents+json',
      'multipart/form-data',
      '',
    ];
    await fuzz('http-backup', 1500, async (rng: Rng) => {
      const value = rng.chance(0.5)
        ? mutate(rng, { label: 'x', schemas: ['public'], excludeTables: ['public.t'] })
        : randomJson(rng);
      let body = rng.chance(0.8) ? toJsonText(rng, value) : mutateBytes(rng, Buffer.from(JSON.stringify(value) ?? ''));
      if (rng.chance(0.05)) body = Array.from({ length: 1200 }, (_, i) => `p${i}=1`).join('&');
      const contentType = rng.pick(types);
      const method = rng.chance(0.9) ? 'POST' : rng.pick(['GET', 'PUT', 'DELETE', 'PATCH']);
      const res = await fetch(url, {
        method,
        headers: contentType ? { 'content-type': contentType } : {},
        body: method === 'GET' ? undefined : body,
      });
      const text = await res.text();
      if (!/json/.test(res.headers.get('content-type') ?? ''))
        return `${res.status} answered ${res.headers.get('content-type')}: ${text.slice(0, 200)}`;
      if (LEAK.test(text) || text.includes('pw-fuzz')) return `answer leaks: ${text.slice(0, 300)}`;
      if (res.status >= 500) {
        // Only a request the function accepted may fail (the database is unreachable here): never bad input.
        let parsed: unknown;
        try {
          parsed = typeof body === 'string' ? JSON.parse(body) : undefined;
        } catch {
          return `500 for a body that is not JSON: ${text.slice(0, 200)}`;
        }
        if (method !== 'POST' || !BackupRequestSchema.safeParse(parsed ?? {}).success)
          return `500 for bad input: ${text.slice(0, 200)}`;
      }
      return undefined;
    });
  });
});

describe('legacy JSON reader', () => {
  const sample = readFileSync(fixturePath('database_backup_20260420_030001.json'));
  it('resolves, or rejects with a clear error (no crash, no stack in the message)', async () => {
    await fuzz('legacy', 1000, async (rng) => {
      const gz = rng.chance(0.2);
      const file = join(
        dir,
        `database_backup_20260420_0300${String(rng.int(100)).padStart(2, '0')}.json${gz ? '.gz' : ''}`,
      );
      const bytes = rng.chance(0.9) ? mutateBytes(rng, sample) : Buffer.from(toJsonText(rng, randomJson(rng)));
      writeFileSync(file, gz ? (rng.chance(0.5) ? gzipSync(bytes) : mutateBytes(rng, gzipSync(sample))) : bytes);
      try {
        await scanLegacy(file);
      } catch (err) {
        if (!(err instanceof Error)) return `rejected with a non-error`;
        if (err instanceof TypeError || err instanceof RangeError)
          return `crashed: ${err.name}: ${err.message.slice(0, 200)}`;
        if (LEAK.test(err.message.replaceAll(file, '<file>'))) return `message leaks: ${err.message.slice(0, 300)}`;
      }
      return undefined;
    });
  });
});

describe('manifest parser', () => {
  const valid = {
    formatVersion: 1,
    id: '20261129T030000Z-7f3a',
    env: 'fz',
    tool: { name: 'mt-ops', version: '0.1.0' },
    startedAt: '2026-11-29T03:00:00.000Z',
    finishedAt: '2026-11-29T03:00:01.000Z',
    tables: [
      {
        schema: 'public',
        name: 't',
        object: 'data/0001.copy.gz',
        rows: 1,
        rawBytes: 1,
        compressedBytes: 1,
        sha256: 'a'.repeat(64),
        columns: [{ name: 'id', type: 'int4' }],
      },
    ],
    sequences: [],
    totals: { tables: 1, rows: 1, rawBytes: 1, compressedBytes: 1 },
  };
  it('resolves, or rejects with a bounded reason (no crash)', async () => {
    const root = tempDir();
    const store = openStore(`file://${root}`);
    const id = valid.id;
    mkdirSync(join(root, 'fz', id), { recursive: true });
    await fuzz('manifest', 2000, async (rng) => {
      const text = rng.chance(0.7)
        ? toJsonText(rng, mutate(rng, valid))
        : mutateBytes(rng, Buffer.from(JSON.stringify(valid)));
      writeFileSync(join(root, 'fz', id, 'manifest.json'), text);
      try {
        await readManifest(store, 'fz', id);
      } catch (err) {
        if (!(err instanceof Error)) return 'rejected with a non-error';
        if (err instanceof TypeError || err instanceof RangeError)
          return `crashed: ${err.name}: ${err.message.slice(0, 200)}`;
        if (err.message.length > 5_000) return `reason of ${err.message.length} characters`;
        if (LEAK.test(err.message)) return `message leaks: ${err.message.slice(0, 300)}`;
      }
      return undefined;
    });
  });
});

describe('CLI argv', () => {
  const saved = { ...process.env };
  beforeAll(() => {
    Object.assign(process.env, {
      DATABASE_URL: 'postgres://ops:pw@127.0.0.1:1/x',
      BACKUP_BUCKET: `file://${tempDir()}`,
      OPS_CONFIG: '',
      LOG_LEVEL: 'silent',
      OPS_ENV: 'fz',
    });
  });
  afterAll(() => {
    process.env = saved;
    process.exitCode = 0;
  });

  it('exits 0, 1 or 2 with one line, never a stack (in-process: the same main() the binary runs)', async () => {
    const commands = ['backup', 'list', 'verify', 'export', 'cleanup', 'config', 'restore', 'nope', '--help', '-V', ''];
    const flags = [
      '--json',
      '--bucket',
      '--env',
      '--label',
      '--schemas',
      '--exclude-tables',
      '--jobs',
      '--database-url',
      '--keep-last',
      '--dry-run',
      '--format',
      '--out',
      '--tables',
      '--no-progress',
      '--all',
      '--min-keep',
      '--restore-into',
      '--',
      '-x',
    ];
    const write = { out: process.stdout.write, err: process.stderr.write };
    await fuzz('cli', 1500, async (rng) => {
      const command = rng.pick(commands);
      const args = command ? [command] : [];
      if (command === 'restore') args.push('--dry-run');
      for (let i = rng.int(5); i > 0; i--) {
        args.push(rng.pick(flags));
        if (rng.chance(0.7))
          args.push(
            rng.chance(0.5)
              ? randomString(rng).slice(0, rng.chance(0.1) ? 50_000 : 100)
              : String(rng.int(100_000) - 10),
          );
      }
      let stderr = '';
      process.stdout.write = (() => true) as never;
      process.stderr.write = ((chunk: string | Uint8Array) => {
        stderr += String(chunk);
        return true;
      }) as never;
      let code: number;
      try {
        code = await main(['node', 'mt-ops', ...args]);
      } finally {
        process.stdout.write = write.out;
        process.stderr.write = write.err;
      }
      if (![0, 1, 2].includes(code)) return `exit ${code} for ${JSON.stringify(args).slice(0, 200)}`;
      if (LEAK.test(stderr)) return `stderr leaks for ${JSON.stringify(args).slice(0, 200)}: ${stderr.slice(0, 300)}`;
      if (code !== 0 && stderr.trimEnd().split('\n').length !== 1)
        return `${stderr.split('\n').length} lines for ${JSON.stringify(args).slice(0, 200)}: ${stderr.slice(0, 300)}`;
      return undefined;
    });
  });
});

it('Object.prototype is untouched after all of it', () => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});
