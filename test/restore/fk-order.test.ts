import { describe, it, expect } from 'vitest';
import { orderTables, type FkEdge } from '../../shared/restore/fk-order';

const fk = (from: string, to: string, deferrable = false, name = `${from}_${to}`): FkEdge => ({
  name,
  from,
  to,
  deferrable,
});

describe('orderTables', () => {
  const cases: Array<{
    name: string;
    tables: string[];
    edges: FkEdge[];
    order: string[];
    deferred?: string[];
    cycles?: string[];
  }> = [
    { name: 'no keys: by name', tables: ['c', 'a', 'b'], edges: [], order: ['a', 'b', 'c'] },
    { name: 'chain', tables: ['a', 'b', 'c'], edges: [fk('a', 'b'), fk('b', 'c')], order: ['c', 'b', 'a'] },
    {
      name: 'diamond',
      tables: ['top', 'l', 'r', 'bottom'],
      edges: [fk('l', 'top'), fk('r', 'top'), fk('bottom', 'l'), fk('bottom', 'r')],
      order: ['top', 'l', 'r', 'bottom'],
    },
    { name: 'self reference needs no order', tables: ['t'], edges: [fk('t', 't')], order: ['t'] },
    { name: 'keys to tables outside the set are ignored', tables: ['a'], edges: [fk('a', 'zzz')], order: ['a'] },
    {
      name: 'deferrable cycle: ordered by the hard key, the deferrable one deferred',
      tables: ['players', 'matches', 'teams'],
      edges: [
        fk('players', 'teams'),
        fk('players', 'matches', true, 'players_match_fk'),
        fk('matches', 'players', true, 'matches_mvp_fk'),
      ],
      order: ['teams', 'matches', 'players'],
      deferred: ['matches_mvp_fk'],
    },
    {
      name: 'mixed cycle: the non-deferrable key decides',
      tables: ['a', 'b'],
      edges: [fk('a', 'b', true, 'a_b'), fk('b', 'a', false, 'b_a')],
      order: ['a', 'b'],
      deferred: ['a_b'],
    },
    {
      name: 'cycle of non-deferrable keys is named',
      tables: ['x', 'y', 'z', 'after'],
      edges: [fk('x', 'y', false, 'x_y'), fk('y', 'z', false, 'y_z'), fk('z', 'x', false, 'z_x'), fk('after', 'x')],
      order: ['x', 'y', 'z', 'after'],
      cycles: ['x -[x_y]-> y -[y_z]-> z -[z_x]-> x'],
    },
    {
      name: 'a dependant of a cycle still comes after it',
      tables: ['dep', 'p', 'q'],
      edges: [fk('p', 'q'), fk('q', 'p'), fk('dep', 'q')],
      order: ['p', 'q', 'dep'],
      cycles: ['p -[p_q]-> q -[q_p]-> p'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = orderTables(c.tables, c.edges);
      expect(result.order).toEqual(c.order);
      expect(result.deferred).toEqual(c.deferred ?? []);
      expect(result.cycles.map((x) => x.text)).toEqual(c.cycles ?? []);
      expect(new Set(result.order)).toEqual(new Set(c.tables));
    });
  }
});
