/** The layout README's Code map promises, checked on the sources themselves. */
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CAPABILITIES = ['backup', 'restore', 'retention', 'probes', 'alerts', 'maintenance', 'status'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs|cjs|js)$/.test(e.name))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .sort();
}

describe('shared/config only composes', () => {
  it.each(sources('shared/config'))(
    '%s re-exports nothing and takes only section schemas from the capabilities',
    (file) => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      expect(text).not.toMatch(/^export\s+(type\s+)?(\*|\{[^}]*\})\s+from\s/m);
      for (const m of text.matchAll(/^import\s+(type\s+)?\{([^}]*)\}\s+from\s+'\.\.\/([a-z-]+)\//gm)) {
        if (!CAPABILITIES.includes(m[3]!)) continue;
        const names = m[2]!
          .split(',')
          .map((n) => n.trim())
          .filter(Boolean);
        for (const name of names) expect(name, `${file} imports ${name} from shared/${m[3]}`).toMatch(/Schema$/);
      }
    },
  );
});

describe('every source file says first what it is for', () => {
  const files = ['shared', 'functions', 'bin', 'bench', 'test/support'].flatMap(sources);
  it('finds the sources', () => expect(files.length).toBeGreaterThan(100));
  it.each(files)('%s opens with a comment', (file) => {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    const first = lines[0]!.startsWith('#!') ? lines[1]! : lines[0]!;
    expect(first).toMatch(/^(\/\*|\/\/)/);
  });
});
