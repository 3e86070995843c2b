/**
 * Restore order from foreign keys (pure). Tables are keyed `schema.table`.
 *
 * Referenced tables load before the tables that reference them. A self-reference needs no order (one COPY
 * statement checks its own rows at the end). Tables in a cycle of foreign keys are ordered by their
 * non-deferrable keys only; the deferrable ones are deferred to COMMIT (SET CONSTRAINTS ALL DEFERRED).
 * A cycle made only of non-deferrable keys cannot be loaded in any order: it is reported, named, so the caller
 * can use session_replication_role = replica (and check those keys itself) or refuse.
 */
export interface FkEdge {
  /** Constraint name. */
  name: string;
  /** The referencing table. */
  from: string;
  /** The referenced table. */
  to: string;
  deferrable: boolean;
}

export interface FkCycle {
  tables: string[];
  /** The constraints on the cycle, in order, e.g. `a.x -[x_y_fk]-> a.y -[y_x_fk]-> a.x`. */
  constraints: string[];
  /** Human-readable: `a.x -[x_y_fk]-> a.y -[y_x_fk]-> a.x`. */
  text: string;
}

export interface FkOrder {
  order: string[];
  /** Deferrable constraints that point "forward" in the order: they are satisfied only at COMMIT. */
  deferred: string[];
  /** Cycles of non-deferrable constraints (empty when the tables can be ordered). */
  cycles: FkCycle[];
}

export function orderTables(tables: readonly string[], edges: readonly FkEdge[]): FkOrder {
  const set = new Set(tables);
  const inside = edges.filter((e) => set.has(e.from) && set.has(e.to) && e.from !== e.to);
  const hard = inside.filter((e) => !e.deferrable);
  const sorted = [...set].sort();

  // Kahn's algorithm on the strongly connected components of all edges, then inside each component on the
  // non-deferrable edges; ties by name, so the order is deterministic.
  const components = stronglyConnected(sorted, inside);
  const componentOf = new Map<string, number>();
  components.forEach((c, i) => c.forEach((t) => componentOf.set(t, i)));
  const compDeps = components.map(() => new Set<number>());
  for (const e of inside) {
    const a = componentOf.get(e.from)!;
    const b = componentOf.get(e.to)!;
    if (a !== b) compDeps[a]!.add(b);
  }
  const compOrder = kahn(
    components.map((_, i) => i),
    (i) => compDeps[i]!,
    (a, b) => cmp(components[a]![0]!, components[b]![0]!),
  );

  const order: string[] = [];
  const cycles: FkCycle[] = [];
  for (const ci of compOrder.order) {
    const members = components[ci]!;
    if (members.length === 1) {
      order.push(members[0]!);
      continue;
    }
    const memberSet = new Set(members);
    const local = hard.filter((e) => memberSet.has(e.from) && memberSet.has(e.to));
    const deps = new Map<string, Set<string>>(members.map((m) => [m, new Set<string>()]));
    for (const e of local) deps.get(e.from)!.add(e.to);
    const inner = kahn(members, (m) => deps.get(m)!, cmp);
    order.push(...inner.order, ...inner.stuck);
    if (inner.stuck.length > 0) cycles.push(...findCycles(inner.stuck, local));
  }

  const position = new Map(order.map((t, i) => [t, i]));
  const deferred = inside
    .filter((e) => e.deferrable && position.get(e.to)! > position.get(e.from)!)
    .map((e) => e.name)
    .sort();
  return { order, deferred, cycles };
}

/** Kahn's algorithm; `deps(n)` are the nodes that must come before n. Nodes left on a cycle are returned as `stuck`. */
function kahn<T>(
  nodes: readonly T[],
  deps: (n: T) => Set<T>,
  compare: (a: T, b: T) => number,
): { order: T[]; stuck: T[] } {
  const remaining = new Map(nodes.map((n) => [n, new Set([...deps(n)].filter((d) => d !== n))]));
  const order: T[] = [];
  for (;;) {
    const ready = [...remaining.entries()]
      .filter(([, d]) => d.size === 0)
      .map(([n]) => n)
      .sort(compare);
    if (ready.length === 0) break;
    const next = ready[0]!;
    order.push(next);
    remaining.delete(next);
    for (const d of remaining.values()) d.delete(next);
  }
  return { order, stuck: [...remaining.keys()].sort(compare) };
}

/** Tarjan's strongly connected components; each component's members sorted, components in discovery order. */
function stronglyConnected(nodes: readonly string[], edges: readonly FkEdge[]): string[][] {
  const adjacent = new Map<string, string[]>(nodes.map((n) => [n, []]));
  for (const e of edges) adjacent.get(e.from)!.push(e.to);
  for (const list of adjacent.values()) list.sort();
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of adjacent.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      out.push(component.sort());
    }
  };
  for (const n of nodes) if (!index.has(n)) visit(n);
  return out;
}

/** Names one cycle per non-trivial component of the non-deferrable edges among `stuck`. */
function findCycles(stuck: readonly string[], edges: readonly FkEdge[]): FkCycle[] {
  const set = new Set(stuck);
  const local = edges.filter((e) => set.has(e.from) && set.has(e.to));
  const cycles: FkCycle[] = [];
  for (const component of stronglyConnected([...set].sort(), local)) {
    if (component.length < 2) continue;
    const members = new Set(component);
    const out = new Map<string, FkEdge[]>();
    for (const e of local) {
      if (members.has(e.from) && members.has(e.to))
        out.set(
          e.from,
          [...(out.get(e.from) ?? []), e].sort((a, b) => cmp(a.to, b.to) || cmp(a.name, b.name)),
        );
    }
    // Walk from the first member until a table repeats: that closes a cycle.
    const start = component[0]!;
    const path: FkEdge[] = [];
    const seen = new Map<string, number>([[start, 0]]);
    let at = start;
    for (;;) {
      const edge = out.get(at)![0]!;
      path.push(edge);
      at = edge.to;
      if (seen.has(at)) {
        const loop = path.slice(seen.get(at));
        const tables = loop.map((e) => e.from);
        const text = `${loop.map((e) => `${e.from} -[${e.name}]-> `).join('')}${loop[0]!.from}`;
        cycles.push({ tables, constraints: loop.map((e) => e.name), text });
        break;
      }
      seen.set(at, path.length);
    }
  }
  return cycles;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
