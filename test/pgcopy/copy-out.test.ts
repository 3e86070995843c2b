import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import pg from 'pg';
import pgCopy from 'pg-copy-streams';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { CopyOut } from '../../shared/pgcopy/copy-out';

/**
 * CopyOut against a real server (its output compared with pg-copy-streams' on the same data), and against
 * hand-made protocol bytes split at every position, which a real socket only does by chance.
 */
let db: TestDatabase;
const clients: pg.Client[] = [];

async function client(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: db.url });
  c.on('error', () => {});
  await c.connect();
  clients.push(c);
  return c;
}

/** Collects a stream: sha256, length, chunk sizes. */
function sink() {
  const hash = createHash('sha256');
  const out = { bytes: 0, chunks: [] as number[], text: '', keepText: false, digest: () => hash.digest('hex') };
  const writable = new Writable({
    write(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      out.bytes += chunk.length;
      out.chunks.push(chunk.length);
      if (out.keepText) out.text += chunk.toString('utf8');
      done();
    },
  });
  return { out, writable };
}

async function viaLibrary(sql: string): Promise<{ digest: string; bytes: number }> {
  const c = await client();
  const s = sink();
  await pipeline(c.query(pgCopy.to(sql)), s.writable);
  return { digest: s.out.digest(), bytes: s.out.bytes };
}

beforeAll(async () => {
  db = await createTestDatabase('mt_copy_out');
  await db.query(`
    CREATE TABLE small (id int, t text);
    INSERT INTO small SELECT g, 'row ' || g || E'\\twith tab' FROM generate_series(1, 200000) g;
    CREATE TABLE wide (id int, blob text);
    INSERT INTO wide SELECT g, repeat(md5(g::text), 100000) FROM generate_series(1, 3) g; -- 3.2 MB rows, over a block each
    CREATE TABLE empty (id int);
    CREATE FUNCTION noisy(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN IF i % 1000 = 0 THEN RAISE NOTICE 'at %', i; END IF; RETURN i; END $$;`);
});

afterEach(async () => {
  // a client left mid-COPY (a failing test) never ends cleanly: close its socket after a moment
  const closing = clients
    .splice(0)
    .map((c) =>
      Promise.race([c.end().catch(() => {}), new Promise((r) => setTimeout(r, 1000))]).then(() =>
        (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy(),
      ),
    );
  await Promise.all(closing);
});

describe('CopyOut on a real server', () => {
  it.each([
    ['many small rows', 'COPY small TO STDOUT', 200000],
    ['rows larger than a block', 'COPY wide TO STDOUT', 3],
    ['an empty table', 'COPY empty TO STDOUT', 0],
    ['notices between the rows', 'COPY (SELECT noisy(g) FROM generate_series(1, 5000) g) TO STDOUT', 5000],
  ])('%s: the same bytes as pg-copy-streams, rows counted, the server agrees', async (_name, sql, rows) => {
    const expected = await viaLibrary(sql);
    const c = await client();
    const copy = c.query(new CopyOut(sql));
    const s = sink();
    await pipeline(copy, s.writable);
    expect(s.out.digest()).toBe(expected.digest);
    expect(s.out.bytes).toBe(expected.bytes);
    expect(copy.bytes).toBe(expected.bytes);
    expect(copy.rows).toBe(rows);
    expect(copy.serverRowCount).toBe(rows);
    // 1 MiB blocks, full except the last: any input, even under 1 MiB, comes out as exactly these writes (a reader
    // passing on each socket read, or never flushing the last partial block, fails here)
    const block = 1 << 20;
    const full = Math.floor(expected.bytes / block);
    expect(s.out.chunks).toEqual([
      ...Array<number>(full).fill(block),
      ...(expected.bytes % block ? [expected.bytes % block] : []),
    ]);
    // the connection is pg's again
    expect((await c.query('SELECT 41 + 1 AS n')).rows[0].n).toBe(42);
  });

  it('an error from the server midway fails the stream with its message, and the connection stays usable', async () => {
    const c = await client();
    const copy = c.query(new CopyOut('COPY (SELECT 1 / (50000 - g) FROM generate_series(1, 100000) g) TO STDOUT'));
    await expect(pipeline(copy, sink().writable)).rejects.toThrow(/division by zero/);
    expect(copy.rows).toBeGreaterThan(0);
    expect((await c.query('SELECT 1 AS n')).rows[0].n).toBe(1);
  });

  it('a consumer that fails midway closes the connection instead of leaving it mid-COPY', async () => {
    const c = await client();
    const copy = c.query(
      new CopyOut('COPY (SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 2000000) g) TO STDOUT'),
    );
    let seen = 0;
    const failing = new Writable({
      write(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        done(seen > 3 << 20 ? new Error('disk full') : null);
      },
    });
    await expect(pipeline(copy, failing)).rejects.toThrow('disk full');
    await expect(c.query('SELECT 1')).rejects.toThrow();
  });

  it('given up while still queued behind another query: the COPY never starts and nothing hangs', async () => {
    const c = await client();
    const sleeping = c.query('SELECT pg_sleep(0.3)');
    const copy = c.query(new CopyOut('COPY small TO STDOUT'));
    const failed = new Promise<Error>((resolve) => copy.once('error', resolve));
    copy.destroy(new Error('aborted'));
    expect((await failed).message).toBe('aborted');
    await sleeping;
    await expect(c.query('SELECT 1')).rejects.toThrow();
    expect(copy.rows).toBe(0);
  });

  it('a consumer that stops reading holds the server back: memory stays bounded', async () => {
    const c = await client();
    const copy = c.query(
      new CopyOut('COPY (SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 1000000) g) TO STDOUT'),
    );
    copy.pause();
    copy.read(0); // start the query without consuming
    await new Promise((r) => setTimeout(r, 1500));
    // the query produces ~650 MB; paused, only about one block waits in the stream
    expect(copy.readableLength).toBeLessThanOrEqual(2 << 20);
    expect(copy.bytes).toBeLessThan(16 << 20);
    copy.destroy();
  });
});

describe('CopyOut on hand-made protocol bytes', () => {
  const msg = (code: string, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.write(code, 0, 'latin1');
    head.writeUInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const rows = ['1\tone\n', '2\ttwo\n', '', '3\t' + 'x'.repeat(3000) + '\n'];
  const wire = Buffer.concat([
    msg('H', Buffer.from([0, 0, 2, 0, 0, 0, 0])),
    msg('d', Buffer.from(rows[0]!)),
    msg('N', Buffer.from('SNOTICE\0\0')),
    msg('d', Buffer.from(rows[1]!)),
    msg('d', Buffer.from(rows[2]!)),
    msg('d', Buffer.from(rows[3]!)),
    msg('c', Buffer.alloc(0)),
  ]);
  const after = Buffer.concat([msg('C', Buffer.from('COPY 4\0')), msg('Z', Buffer.from('I'))]);

  /** A stand-in for pg's Connection: a socket-like stream with pg's one data listener. */
  function fakeConnection() {
    const stream = new PassThrough();
    const handedBack: Buffer[] = [];
    stream.on('data', (b: Buffer) => handedBack.push(Buffer.from(b)));
    return {
      stream,
      handedBack,
      queries: [] as string[],
      query(text: string) {
        this.queries.push(text);
      },
    };
  }

  it.each([1, 2, 3, 5, 6, 7, 64, 4096])(
    'split into %i-byte reads: same rows, same text, the rest goes back to pg',
    async (size) => {
      const con = fakeConnection();
      const copy = new CopyOut('COPY t TO STDOUT', 1024);
      copy.submit(con as never);
      expect(con.queries).toEqual(['COPY t TO STDOUT']);
      const s = sink();
      s.out.keepText = true;
      const done = pipeline(copy, s.writable);
      const all = Buffer.concat([wire, after]);
      for (let i = 0; i < all.length; i += size) {
        con.stream.write(all.subarray(i, i + size));
        await new Promise((r) => setImmediate(r));
      }
      await done;
      expect(s.out.text).toBe(rows.join(''));
      expect(copy.rows).toBe(4);
      expect(copy.bytes).toBe(Buffer.byteLength(rows.join('')));
      expect(Buffer.concat(con.handedBack).equals(after)).toBe(true);
    },
  );

  it('a message with an impossible length fails the stream instead of looping', async () => {
    const con = fakeConnection();
    const copy = new CopyOut('COPY t TO STDOUT', 1024);
    copy.submit(con as never);
    const done = pipeline(copy, sink().writable);
    con.stream.write(
      Buffer.concat([msg('H', Buffer.from([0, 0, 0])), Buffer.from([0x64, 0, 0, 0, 2]), Buffer.from('junk')]),
    );
    await expect(done).rejects.toThrow(/malformed protocol message \(code 0x64\)/);
  });

  it('an ErrorResponse goes back to pg unread, and pg reports it through handleError', async () => {
    const con = fakeConnection();
    const copy = new CopyOut('COPY t TO STDOUT', 1024);
    copy.submit(con as never);
    const error = msg('E', Buffer.from('SERROR\0Mboom\0\0'));
    const done = pipeline(copy, sink().writable);
    con.stream.write(
      Buffer.concat([msg('H', Buffer.from([0, 0, 0])), msg('d', Buffer.from('1\n')), error.subarray(0, 3)]),
    );
    await new Promise((r) => setImmediate(r));
    con.stream.write(error.subarray(3));
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(con.handedBack).equals(error)).toBe(true);
    copy.handleError(new Error('boom'));
    await expect(done).rejects.toThrow('boom');
  });
});
