/**
 * A restore drill that cannot be set up (a scratch database that does not exist, or is not empty) is an error of
 * the drill: exit 2 with the reason, and nothing recorded against the backup (issue 9, item 7).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { loadAwkwardSchema, readFixture } from '../support/fixtures';
import { tempDir } from '../support/temp';
import { runCli } from '../support/cli';
import { openStore } from '../../shared/storage/open';
import { keys } from '../../shared/backup/layout';
import { resolveBackup } from '../../shared/backup/catalog';
import { runRestoreDrill, DrillSetupError } from '../../shared/restore/drill';
import { exec } from './helpers';
import { testRuntime } from '../support/runtime';
import { verifyJob, verifyOptions } from '../../shared/restore/verify-job';

let source: TestDatabase;
let env: Record<string, string>;
let id: string;
let bucket: string;
let busy: string;
let bare: string;

const recorded = async () => (await openStore(bucket).readJson(keys.verify('drill', id)))?.value;

beforeAll(async () => {
  source = await createTestDatabase('mt_dsetup');
  await loadAwkwardSchema(source);
  bucket = `file://${tempDir()}`;
  env = { DATABASE_URL: source.url, BACKUP_BUCKET: bucket, OPS_ENV: 'drill', OPS_CONFIG: '' };
  const r = await runCli(['backup', '--no-progress'], { env });
  expect(r.code, r.stderr).toBe(0);
  id = r.stdout.trim();
  busy = await source.createDatabase('mt_dsetup_busy');
  await exec(busy, `${readFixture('awkward-schema.sql')} INSERT INTO public.serial_things (name) VALUES ('x');`);
  // a fresh database, no schema: what VERIFY_DATABASE_URL names when it was only created (it paged verify.failed)
  bare = await source.createDatabase('mt_dsetup_bare');
});

describe('a restore drill that cannot be set up', () => {
  it('verify --restore-into a database that does not exist, or is not empty: exit 2 with the reason, nothing recorded, no --yes', async () => {
    expect(await recorded()).toBeUndefined();
    const missing = source.urlFor(`mt_dsetup_missing_${Date.now()}`);
    const cases: Array<[string, RegExp]> = [
      [missing, /mt_dsetup_missing_\d+ does not exist/],
      [busy, /mt_dsetup_busy_\w+ is not empty.*public\.serial_things/],
      [
        bare,
        /mt_dsetup_bare_\w+ has none of the backup's \d+ table\(s\).*create the schema there, or pass --template NAME/,
      ],
    ];
    for (const [url, reason] of cases) {
      const r = await runCli(['verify', id, '--restore-into', url, '--no-progress'], { env });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(reason);
      expect(r.stderr).not.toMatch(/--yes/);
      expect(await recorded()).toBeUndefined();
    }
    const list = JSON.parse((await runCli(['list', '--json'], { env })).stdout) as Array<{
      id: string;
      verify?: string;
    }>;
    expect(list.find((e) => e.id === id)?.verify).toBeUndefined();
  });

  it('leaves an earlier verify result as it was', async () => {
    const ok = await runCli(['verify', id, '--no-progress'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    const before = await recorded();
    expect(before).toMatchObject({ ok: true });
    const r = await runCli(['verify', id, '--restore-into', busy, '--no-progress'], { env });
    expect(r.code).toBe(2);
    expect(await recorded()).toEqual(before);
  });

  it('is told apart by its error class, not by its message', async () => {
    const { manifest } = await resolveBackup(openStore(bucket), 'drill', id);
    for (const url of [source.urlFor(`mt_dsetup_missing_${Date.now()}`), busy, bare]) {
      const err = await runRestoreDrill({ store: openStore(bucket), manifest, databaseUrl: url }).catch(
        (e: unknown) => e,
      );
      expect(err, url).toBeInstanceOf(DrillSetupError);
    }
  });
});

describe('the scheduled verify with a VERIFY_DATABASE_URL that cannot be used', () => {
  it('verifies the checksums, records no drill against the backup, and says the drill was not run (no verify.failed)', async () => {
    const rt = testRuntime({
      BACKUP_BUCKET: bucket,
      OPS_ENV: 'drill',
      VERIFY_DATABASE_URL: source.urlFor(`mt_dsetup_missing_${Date.now()}`),
    });
    const result = await verifyJob(rt, verifyOptions(rt, { trigger: 'scheduled' }));
    expect(result.ok).toBe(true);
    expect(result.record?.restoreDrill).toBeUndefined();
    const event = rt.bus.published.at(-1)!.event as { type: string; restoreDrill: boolean; details: string };
    expect(event).toMatchObject({ type: 'verify.succeeded', restoreDrill: false });
    expect(event.details).toMatch(
      /restore drill not run: --restore-into: scratch database mt_dsetup_missing_\d+ does not exist/,
    );
  });
});
