/** The foreign-key closure (referencingClosure), written once for preflight's truncation and the plan's row probes. */
import { describe, it, expect } from 'vitest';
import { referencingClosure, type TargetForeignKey } from '../../shared/restore/target-schema';

const fk = (from: string, to: string, name = `${from}->${to}`): TargetForeignKey => ({
  name,
  from,
  to,
  deferrable: false,
  columns: ['x'],
  refColumns: ['id'],
  matchFull: false,
});

describe('referencingClosure', () => {
  const cases: Array<{
    name: string;
    keys: string[];
    fks: TargetForeignKey[];
    partitions?: Array<[string, string[]]>;
    reached: string[];
    via: string[];
  }> = [
    { name: 'no keys: only the tables themselves', keys: ['a'], fks: [], reached: ['a'], via: [] },
    {
      name: 'transitive, in discovery order',
      keys: ['teams'],
      fks: [fk('events', 'players'), fk('players', 'teams')],
      reached: ['teams', 'players', 'events'],
      via: ['players->teams', 'events->players'],
    },
    {
      name: 'a table already restored is not reached again',
      keys: ['teams', 'players'],
      fks: [fk('players', 'teams')],
      reached: ['teams', 'players'],
      via: [],
    },
    {
      name: 'keys out of the set are ignored',
      keys: ['teams'],
      fks: [fk('teams', 'clubs')],
      reached: ['teams'],
      via: [],
    },
    {
      name: 'a key to a partitioned table reaches it through its partition; a key declared on one, through each partition',
      keys: ['p1'],
      fks: [fk('audit', 'parted'), fk('parted2', 'audit')],
      partitions: [
        ['parted', ['p1', 'p2']],
        ['parted2', ['q1', 'q2']],
      ],
      reached: ['p1', 'parted', 'audit', 'q1', 'q2'],
      via: ['audit->parted', 'parted2->audit', 'parted2->audit'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = referencingClosure({ foreignKeys: c.fks, partitions: new Map(c.partitions ?? []) }, c.keys);
      expect([...out.reached]).toEqual(c.reached);
      expect(out.via.map((v) => v.name)).toEqual(c.via);
    });
  }
});
