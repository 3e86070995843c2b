import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { acquireLease, LeaseHeldError, newLeaseHolder, processScope, readLease } from '../../shared/storage/lease';

/** The pid of a process that has exited (the kernel does not hand it out again this soon). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

async function leaseOf(holder: string, scope: string) {
  const store = openStore(`file://${tempDir('mt-lease-')}`);
  const key = 'prod/.lease/backup.json';
  const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
  await store.writeJson(
    key,
    { holder, acquiredAt: new Date().toISOString(), expiresAt, scope },
    { ifGeneration: null },
  );
  return { store, key };
}

describe('a live lease whose holder is a dead process of this machine', () => {
  it('is taken over at once', async () => {
    const dead = `${hostname()}:${await deadPid()}:abcdef`;
    const { store, key } = await leaseOf(dead, processScope());
    const lease = await acquireLease(store, key, { ttlMs: 60_000, holder: newLeaseHolder() });
    expect(lease.takenOverFrom).toBe(dead);
    expect((await readLease(store, key))?.holder).toBe(lease.holder);
  });

  it('is not taken over while the holder lives, nor from another host, nor from another PID namespace or boot', async () => {
    const pid = await deadPid();
    const cases = [
      { holder: `${hostname()}:${process.ppid}:abcdef`, scope: processScope() }, // alive: our parent
      { holder: `another-${hostname()}:${pid}:abcdef`, scope: processScope() },
      { holder: `${hostname()}:${pid}:abcdef`, scope: 'another-boot/pid:[1]' },
      { holder: `${hostname()}:${pid}:abcdef`, scope: undefined as unknown as string }, // written before scopes existed
      { holder: 'killed-run', scope: processScope() },
    ];
    for (const c of cases) {
      const { store, key } = await leaseOf(c.holder, c.scope);
      const err = await acquireLease(store, key, { ttlMs: 60_000, holder: newLeaseHolder() }).catch((e: unknown) => e);
      expect(err, JSON.stringify(c)).toBeInstanceOf(LeaseHeldError);
      expect((err as LeaseHeldError).holder).toBe(c.holder);
    }
  });
});
