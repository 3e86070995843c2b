import { describe, it, expect, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runBackup } from '../../shared/backup/run';
import type { Manifest } from '../../shared/backup/manifest';
import type { ObjectStore } from '../../shared/storage/types';
import { restore, planRestore, type RestoreOptions, backupSource } from '../../shared/restore/restore';
import { snapshotOf, exec } from './helpers';

/** A partitioned table (as in the well-known sample database's payment table) whose sequence its parent owns. */
const DDL = `
  CREATE TABLE public.customer (id serial PRIMARY KEY, name text NOT NULL);
  CREATE TABLE public.payment (
    payment_id serial,
    customer_id integer NOT NULL REFERENCES public.customer (id),
    amount numeric(5, 2) NOT NULL,
    paid_at date NOT NULL,
    PRIMARY KEY (payment_id, paid_at)
  ) PARTITION BY RANGE (paid_at);
  CREATE TABLE public.payment_p2022_01 PARTITION OF public.payment FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');
  CREATE TABLE public.payment_p2022_02 PARTITION OF public.payment FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');
  CREATE TABLE public.refund (id serial PRIMARY KEY, payment_id integer NOT NULL, paid_at date NOT NULL,
                              FOREIGN KEY (payment_id, paid_at) REFERENCES public.payment (payment_id, paid_at));`;

let source: TestDatabase;
let store: ObjectStore;
let manifest: Manifest;

const options = (url: string, more: Partial<RestoreOptions> = {}): RestoreOptions => ({
  databaseUrl: url,
  source: backupSource(store, manifest),
  yes: true,
  safetyBackup: false,
  ...more,
});

async function target(rows = ''): Promise<string> {
  const url = await source.createDatabase('mt_part_dst');
  await exec(url, `${DDL} INSERT INTO public.customer (name) VALUES ('one'), ('two'); ${rows}`);
  return url;
}

beforeAll(async () => {
  source = await createTestDatabase('mt_part');
  await exec(
    source.url,
    `${DDL}
     INSERT INTO public.customer (name) VALUES ('one'), ('two');
     INSERT INTO public.payment (customer_id, amount, paid_at) VALUES
       (1, 2.99, '2022-01-03'), (2, 4.99, '2022-01-20'), (1, 0.99, '2022-02-02'), (2, 9.99, '2022-02-14'), (1, 1.99, '2022-02-28');`,
  );
  store = openStore(`file://${tempDir('mt-part-store-')}`);
  const r = await runBackup({ databaseUrl: source.url, store, env: 'part' });
  if (r.status !== 'completed') throw new Error(r.status);
  manifest = r.manifest;
});

describe('partitioned tables by name', () => {
  it('--tables naming a partitioned parent restores all its partitions, and the sequence the parent owns', async () => {
    const url = await target(
      `INSERT INTO public.payment (customer_id, amount, paid_at) VALUES (1, 7.77, '2022-01-05');`,
    );
    const plan = await planRestore(options(url, { tables: ['public.payment'] }));
    expect(plan.preflight.problems).toEqual([]);
    expect(plan.preflight.tables.map((t) => t.key).sort()).toEqual([
      'public.payment_p2022_01',
      'public.payment_p2022_02',
    ]);
    expect(plan.preflight.sequences.map((s) => `${s.schema}.${s.name}`)).toEqual(['public.payment_payment_id_seq']);
    await restore(options(url, { tables: ['public.payment'] }));
    const [want, got] = [await snapshotOf(source.url), await snapshotOf(url)];
    expect(got.tables['public.payment_p2022_01']).toEqual(want.tables['public.payment_p2022_01']);
    expect(got.tables['public.payment_p2022_02']).toEqual(want.tables['public.payment_p2022_02']);
    expect(got.sequences['public.payment_payment_id_seq']).toBe('5/true');
  });

  it('one partition alone leaves the parent-owned sequence as it is, saying why', async () => {
    const url = await target();
    const plan = await planRestore(options(url, { tables: ['public.payment_p2022_01'] }));
    expect(plan.preflight.sequences).toEqual([]);
    expect(plan.notes.join('\n')).toMatch(
      /sequence public\.payment_payment_id_seq left as it is .*public\.payment.*partly/,
    );
  });

  it("preflight checks a partitioned table's foreign key against the target before loading", async () => {
    const url = await source.createDatabase('mt_part_dst');
    await exec(url, `${DDL} INSERT INTO public.customer (name) VALUES ('one');`);
    const plan = await planRestore(options(url, { tables: ['public.payment'] }));
    expect(plan.preflight.problems.join('\n')).toMatch(
      /payment_customer_id_fkey of public\.payment_p2022_0\d \(customer_id\): \d rows? of the backup reference public\.customer/,
    );
  });

  it('a partitioned table referencing a restored table is emptied with it (its partitions), and said so', async () => {
    const url = await target(
      `INSERT INTO public.payment (customer_id, amount, paid_at) VALUES (1, 7.77, '2022-01-05');`,
    );
    const plan = await planRestore(options(url, { tables: ['public.customer'] }));
    expect(plan.preflight.truncate).toEqual(
      expect.arrayContaining(['public.customer', 'public.payment_p2022_01', 'public.payment_p2022_02']),
    );
    expect(plan.preflight.overwrites).toContain('public.payment_p2022_01');
  });
});
