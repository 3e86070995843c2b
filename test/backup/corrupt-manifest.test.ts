/** An unreadable manifest.json is an integrity failure: verify exits 1, list flags the backup as corrupt (issue 9, item 20). */
import { describe, it, expect, beforeAll } from 'vitest';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';
import { openStore } from '../../shared/storage/open';
import { keys } from '../../shared/backup/layout';
import { runRetention } from '../../shared/retention/run';

const ENV = 'corrupt';
const garbled = '20261120T030000Z-0bad';
const malformed = '20261121T030000Z-0bad';
const partial = '20261122T030000Z-0bad'; // no manifest at all: incomplete, not corrupt
let env: Record<string, string>;
let bucket: string;

beforeAll(async () => {
  bucket = `file://${tempDir('mt-corrupt-')}`;
  const store = openStore(bucket);
  for (const id of [garbled, malformed, partial]) {
    await store.put(keys.started(ENV, id), JSON.stringify({ backupId: id }));
    await store.put(`${keys.backupPrefix(ENV, id)}data/0001.copy.gz`, 'x');
  }
  await store.put(keys.manifest(ENV, garbled), '{"format": "mt-ops-backup/1", "id": ');
  await store.put(keys.manifest(ENV, malformed), JSON.stringify({ format: 'mt-ops-backup/1', id: malformed }));
  env = { BACKUP_BUCKET: bucket, OPS_ENV: ENV, OPS_CONFIG: '' };
});

describe('an unreadable manifest.json', () => {
  it.each([
    [garbled, /manifest of 20261120T030000Z-0bad is not valid JSON/],
    [malformed, /manifest of 20261121T030000Z-0bad is malformed/],
  ])('verify %s exits 1 (integrity failure) with the reason', async (id, reason) => {
    const r = await runCli(['verify', id, '--no-progress'], { env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(reason);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a backup with no manifest at all is still "incomplete" (exit 2)', async () => {
    const r = await runCli(['verify', partial, '--no-progress'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/incomplete/);
  });

  it('list shows the backup flagged as corrupt, with or without --all', async () => {
    for (const args of [['list'], ['list', '--all']]) {
      const text = await runCli(args, { env });
      expect(text.code, text.stderr).toBe(0);
      for (const id of [garbled, malformed]) expect(text.stdout).toMatch(new RegExp(`${id}.*CORRUPT`));
      const json = JSON.parse((await runCli([...args, '--json'], { env })).stdout) as Array<{
        id: string;
        kind: string;
        note?: string;
      }>;
      const corrupt = json.filter((e) => e.kind === 'corrupt');
      expect(corrupt.map((e) => e.id).sort()).toEqual([garbled, malformed]);
      expect(corrupt.find((e) => e.id === garbled)!.note).toMatch(/not valid JSON/);
      expect(json.some((e) => e.id === partial)).toBe(args.includes('--all'));
    }
  });

  it('retention never removes a corrupt backup, nor counts it as a backup', async () => {
    const result = await runRetention(openStore(bucket), ENV, {
      policy: { keepLast: 1 },
      minKeep: 1,
      orphanGraceHours: 0,
      dryRun: true,
    });
    expect(result.plan.decisions).toHaveLength(0);
    const orphans = Object.fromEntries(result.plan.orphans.map((o) => [o.backup.id, o.remove]));
    expect(orphans).toEqual({ [garbled]: false, [malformed]: false, [partial]: true });
  });
});
