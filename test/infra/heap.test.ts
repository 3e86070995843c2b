// The heap's ceiling each deployment gets from its memory (shared/infra/heap.ts).
import { describe, it, expect } from 'vitest';
import { heapCeilingMiB, memoryMiB, nodeOptions } from '../../shared/infra/heap';

describe('heap ceiling', () => {
  it.each([
    ['128Mi', 128, 96],
    ['256Mi', 256, 192],
    ['512Mi', 512, 384],
    ['1Gi', 1024, 768],
    ['2Gi', 2048, 1536],
    ['1Mi', 1, 1],
  ])('%s is %i MiB, with a ceiling of %i MiB', (memory, mib, ceiling) => {
    expect(memoryMiB(memory)).toBe(mib);
    expect(heapCeilingMiB(memory)).toBe(ceiling);
  });

  it.each(['512', '512M', '1.5Gi', '', 'Gi'])('refuses %j', (memory) => {
    expect(() => memoryMiB(memory)).toThrow(/not a memory size/);
  });

  it.each<[string | undefined, string]>([
    [undefined, '--max-old-space-size=384'],
    ['', '--max-old-space-size=384'],
    ['--enable-source-maps', '--max-old-space-size=384 --enable-source-maps'],
    ['  --trace-warnings  ', '--max-old-space-size=384 --trace-warnings'],
    // the operator's own ceiling wins, in any spelling node accepts
    ['--max-old-space-size=200', '--max-old-space-size=200'],
    ['--enable-source-maps --max_old_space_size=300', '--enable-source-maps --max_old_space_size=300'],
    ['--max-old-space-size 250', '--max-old-space-size 250'],
    // other heap flags are not a ceiling of the old generation
    ['--max-semi-space-size=16', '--max-old-space-size=384 --max-semi-space-size=16'],
    ['--max-old-space-sizes=1', '--max-old-space-size=384 --max-old-space-sizes=1'],
  ])('NODE_OPTIONS %j becomes %j for 512Mi', (own, expected) => {
    expect(nodeOptions('512Mi', own)).toBe(expected);
  });
});
