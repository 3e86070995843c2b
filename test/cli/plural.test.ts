/** Counts in output read as English: `1 table`, `2 tables`, `1 index`, `0 indexes`. */
import { describe, it, expect } from 'vitest';
import { count, table } from '../../shared/format';

describe('count', () => {
  it.each<[number, string, string | undefined, string]>([
    [0, 'table', undefined, '0 tables'],
    [1, 'table', undefined, '1 table'],
    [2, 'table', undefined, '2 tables'],
    [1, 'index', 'indexes', '1 index'],
    [3, 'index', 'indexes', '3 indexes'],
    [1, 'large object', undefined, '1 large object'],
    [1_000_000, 'row', undefined, '1000000 rows'],
  ])('%d %s', (n, singular, plural, shown) => expect(count(n, singular, plural)).toBe(shown));
});

describe('table', () => {
  it('keeps each row on one line: a cell with line breaks or tabs (an error message) shows them as spaces', () => {
    const out = table(
      ['NAME', 'WHY'],
      [
        ['a', 'first line\nsecond\tpart\n'],
        ['b', 'ok'],
      ],
    );
    expect(out.split('\n')).toEqual(['NAME  WHY', 'a     first line second part', 'b     ok']);
  });
});
