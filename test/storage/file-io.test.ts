/**
 * How the file store makes its JSON documents' calls (shared/storage/file-io.ts): directly on a local disk, through
 * the thread pool on any other filesystem (a network or FUSE one, where a call can stall), chosen from the real
 * filesystem a bucket folder is on.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { directIo, ioFor, ioModeFor, makeFolder, poolIo } from '../../shared/storage/file-io';
import { FileStore } from '../../shared/storage/file-store';
import { openStore } from '../../shared/storage/open';

describe('file store calls', () => {
  it.each([
    [0xef53, 'ext4', 'direct'],
    [0x58465342, 'xfs', 'direct'],
    [0x9123683e, 'btrfs', 'direct'],
    [0x01021994, 'tmpfs', 'direct'],
    [0x794c7630, 'overlayfs (a container)', 'direct'],
    [0x6969, 'NFS', 'pool'],
    [0x517b, 'SMB', 'pool'],
    [0xff534d42, 'CIFS', 'pool'],
    [0x65735546, 'FUSE (a mounted bucket)', 'pool'],
    [0x01021997, '9p', 'pool'],
    [0x9fa0, 'proc', 'pool'],
    [0, 'unknown', 'pool'],
  ])('statfs type %s (%s): %s', (type, _name, mode) => {
    expect(ioModeFor(type)).toBe(mode);
  });

  it('a folder on this machine’s disk gets direct calls, also one not made yet (its nearest existing parent is asked)', async () => {
    const dir = tempDir();
    expect(ioModeFor(statfsSync(dir).type)).toBe('direct'); // the premise: the temp folder is on a local disk
    expect(await ioFor(dir)).toBe(directIo);
    expect(await ioFor(join(dir, 'not', 'made', 'yet'))).toBe(directIo);
    const store = new FileStore(join(dir, 'bucket'));
    expect(await store.ioModeInUse()).toBe('direct');
    await store.writeJson('a.json', { v: 1 }, { ifGeneration: null });
    expect((await store.readJson('a.json'))?.value).toEqual({ v: 1 });
    expect(await (openStore(`file://${dir}/bucket`) as FileStore).ioModeInUse()).toBe('direct');
  });

  it('a folder on a filesystem that is not a known local disk (here /proc) gets the thread pool', async () => {
    expect(existsSync('/proc/self')).toBe(true);
    expect(await ioFor('/proc/self/not-a-bucket')).toBe(poolIo);
    expect(await new FileStore('/proc/self/not-a-bucket').ioModeInUse()).toBe('pool');
  });

  it('a store told to use the thread pool does, whatever the filesystem', async () => {
    expect(await new FileStore(tempDir(), 'pool').ioModeInUse()).toBe('pool');
  });

  it('makes missing folders (mkdir -p): nested, already there, or refused when a file stands in the way', async () => {
    const dir = tempDir();
    await makeFolder(join(dir, 'a', 'b', 'c'));
    expect(statSync(join(dir, 'a', 'b', 'c')).isDirectory()).toBe(true);
    await makeFolder(join(dir, 'a', 'b', 'c')); // there already
    await Promise.all([1, 2, 3].map(() => makeFolder(join(dir, 'x', 'y')))); // three at once
    expect(statSync(join(dir, 'x', 'y')).isDirectory()).toBe(true);
    writeFileSync(join(dir, 'file'), 'x');
    await expect(makeFolder(join(dir, 'file'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(makeFolder(join(dir, 'file', 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  it('a bucket under /proc (mkdir answers "no such file" under a parent that is there) is refused at once, not retried for ever', async () => {
    // Node's own recursive mkdir spins at full CPU there: every command on such a bucket hung, past the probe run's deadline
    await expect(makeFolder('/proc/mt-not-a-bucket/deeper')).rejects.toThrow(
      'cannot make the folder /proc/mt-not-a-bucket: /proc is there but takes no new folders (not a place for a bucket)',
    );
    const store = new FileStore('/proc/mt-not-a-bucket');
    await expect(store.writeJson('env/a.json', { v: 1 }, { ifGeneration: null })).rejects.toThrow(
      'takes no new folders',
    );
    await expect(store.put('env/b.txt', 'x')).rejects.toThrow('takes no new folders');
  }, 10_000);
});
