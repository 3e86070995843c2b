/** `mt-ops verify --restore-into` and the scheduled verify (functions/verify) write the same verify.json record. */
import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { testRuntime } from '../support/runtime';
import { runCli } from '../support/cli';
import { runBackup } from '../../shared/backup/run';
import { keys } from '../../shared/backup/layout';
import { verifyEventHandler } from '../../functions/verify/index';
import { exec } from './helpers';

let db: TestDatabase;
let bucket: string;
let backupId: string;
const ENV = 'paths';
const SCHEMA = `CREATE TABLE public.things (id serial PRIMARY KEY, name text NOT NULL);
  CREATE TABLE public.notes (id serial PRIMARY KEY, thing_id int REFERENCES public.things (id), body text);`;

beforeAll(async () => {
  db = await createTestDatabase('mt_vpaths');
  await db.query(SCHEMA);
  await db.query(`INSERT INTO public.things (name) SELECT 'thing ' || g FROM generate_series(1, 20) g;
    INSERT INTO public.notes (thing_id, body) SELECT g, 'note ' || g FROM generate_series(1, 20) g;`);
  bucket = `file://${tempDir('mt-vpaths-')}`;
  const r = await runBackup({ databaseUrl: db.url, store: testRuntime({ BACKUP_BUCKET: bucket }).store, env: ENV });
  if (r.status !== 'completed') throw new Error(r.status);
  backupId = r.manifest.id;
});

/** Both paths against one scratch database; each record as written to the bucket, without its time. */
async function bothRecords(scratch: string) {
  const rt = testRuntime({ BACKUP_BUCKET: bucket, OPS_ENV: ENV, VERIFY_DATABASE_URL: scratch });
  const read = async () => {
    const stored = (await rt.store.readJson(keys.verify(ENV, backupId)))!.value as Record<string, unknown>;
    const { at, ...rest } = stored;
    expect(typeof at).toBe('string');
    return rest;
  };
  const cli = await runCli(['verify', 'latest', '--restore-into', scratch, '--no-progress'], {
    env: { BACKUP_BUCKET: bucket, OPS_ENV: ENV, OPS_CONFIG: '' },
  });
  const fromCli = await read();
  const trigger = {
    id: '7',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    data: { message: { data: '', messageId: '7' } },
  } as never;
  const job = await verifyEventHandler(() => rt)(trigger);
  const fromJob = await read();
  return { cli, job: job!, fromCli, fromJob, events: rt.bus.published.map((p) => p.event) };
}

describe('verify.json: the CLI and the scheduled job', () => {
  it('write the same record when the drill passes', async () => {
    const scratch = await db.createDatabase('mt_vpaths_ok');
    await exec(scratch, SCHEMA);
    const { cli, job, fromCli, fromJob } = await bothRecords(scratch);
    expect(cli.code, cli.stderr).toBe(0);
    expect(job.ok).toBe(true);
    expect(fromCli).toMatchObject({ backupId, ok: true, problems: [], restoreDrill: { ok: true } });
    expect(fromJob).toEqual(fromCli);
  });

  it('write the same record, drill findings among the problems, when the drill fails', async () => {
    const scratch = await db.createDatabase('mt_vpaths_odd');
    await exec(
      scratch,
      SCHEMA +
        `
      CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$;
      CREATE TRIGGER shout BEFORE INSERT ON public.things FOR EACH ROW EXECUTE FUNCTION shout();
      ALTER TABLE public.things ENABLE ALWAYS TRIGGER shout;`,
    );
    const { cli, job, fromCli, fromJob, events } = await bothRecords(scratch);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(
      /FAILED verification:\n {2}restore drill: .*public\.things: 20 rows \(backup 20\), content hash/,
    );
    expect(job.ok).toBe(false);
    expect(fromCli).toMatchObject({ backupId, ok: false, restoreDrill: { ok: false } });
    expect((fromCli.problems as string[]).join('\n')).toMatch(/^restore drill: .*public\.things: 20 rows/);
    expect(fromJob).toEqual(fromCli);
    // the event carries the same findings, once
    const failed = events.at(-1) as { type: string; reason: string };
    expect(failed.type).toBe('verify.failed');
    expect(failed.reason).toBe((fromJob.problems as string[]).join('; '));
  });
});
