import { describe, it, expect } from 'vitest';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { openStore } from '../../shared/storage/open';
import { runRetention } from '../../shared/retention/run';

describe('cleanup removes temporary objects left by a killed backup', () => {
  it('file store: .tmp/ files older than the orphan grace period go, younger ones (a write under way) stay', async () => {
    const root = tempDir('mt-tmp-sweep-');
    mkdirSync(join(root, '.tmp'));
    const old = join(root, '.tmp', '1700000000000-aaaaaaaaaaaa');
    writeFileSync(old, Buffer.alloc(100_000)); // a killed backup's partial data object
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
    utimesSync(old, hoursAgo(25), hoursAgo(25));
    writeFileSync(join(root, '.tmp', '1800000000000-bbbbbbbbbbbb'), 'being written');
    const store = openStore(`file://${root}`);
    const dry = await runRetention(store, 'prod', {
      policy: { keepLast: 1 },
      minKeep: 1,
      orphanGraceHours: 24,
      dryRun: true,
    } as Parameters<typeof runRetention>[2]);
    expect(dry.temporaryRemoved).toBe(0);
    expect(readdirSync(join(root, '.tmp'))).toHaveLength(2);
    const result = await runRetention(store, 'prod', {
      policy: { keepLast: 1 },
      minKeep: 1,
      orphanGraceHours: 24,
    } as Parameters<typeof runRetention>[2]);
    expect(result.temporaryRemoved).toBe(1);
    expect(readdirSync(join(root, '.tmp'))).toEqual(['1800000000000-bbbbbbbbbbbb']);
  });
});
