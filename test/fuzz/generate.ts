/**
 * A small seeded PRNG (mulberry32) and generators of hostile input: random JSON, valid documents with mutated fields,
 * huge strings, deep nesting, `__proto__` keys, byte-level mutations. Every input of a run derives from FUZZ_SEED, so a
 * failure names the seed and the input's number and replays exactly (FUZZ_SEED=<seed> npx vitest run test/fuzz).
 */
export const SEED = Number(process.env.FUZZ_SEED ?? 20261129);

export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** mulberry32: 32 bits of state, good enough to spread inputs, fully reproducible. */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** The PRNG of input `index` of `surface`: independent of how many numbers earlier inputs drew. */
export function rngFor(surface: string, index: number): Rng {
  let h = SEED ^ 0x9e3779b9;
  for (const c of `${surface}:${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return new Rng(h);
}

const NASTY_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '',
  ' ',
  '\u0000',
  'a.b',
  '[0]',
  'polluted',
];
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\x1b[31mred\x1b[0m',
  '../../etc/passwd',
  '%s%n',
  'postgres://u:secret-pw@h:1/d',
  'file:///etc',
  'gs://',
  'null',
  '1e309',
  '-1',
  '99999',
  '\ud800',
  '😀',
  'NaN',
  'true',
  '{"a":',
  '=',
  'public.t',
  '<script>',
];

export function randomString(rng: Rng): string {
  const roll = rng.next();
  if (roll < 0.3) return rng.pick(NASTY_STRINGS);
  if (roll < 0.35) return rng.pick(['a', ' ', 'x:', '=', '\t', 'é', '0']).repeat(rng.pick([1_000, 40_000, 200_000]));
  const length = rng.int(rng.chance(0.1) ? 300 : 20);
  let out = '';
  for (let i = 0; i < length; i++) out += String.fromCharCode(rng.chance(0.9) ? 32 + rng.int(95) : rng.int(0x3000));
  return out;
}

export function randomJson(rng: Rng, depth = 0): unknown {
  const roll = rng.next();
  if (depth > 6 || roll < 0.15) return rng.pick([null, true, false, 0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, 99999]);
  if (roll < 0.45) return randomString(rng);
  if (roll < 0.6) return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth + 1));
  if (roll < 0.63) return deepNest(rng.int(200) + 1);
  const out: Record<string, unknown> = {};
  const n = rng.int(6);
  for (let i = 0; i < n; i++)
    out[rng.chance(0.3) ? rng.pick(NASTY_KEYS) : randomString(rng).slice(0, 40)] = randomJson(rng, depth + 1);
  return out;
}

function deepNest(levels: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** `valid` with one field replaced, removed or added (possibly deep). */
export function mutate(rng: Rng, valid: unknown, depth = 0): unknown {
  if (valid === null || typeof valid !== 'object' || depth > 4 || rng.chance(0.15)) return randomJson(rng, 3);
  const copy: Record<string, unknown> | unknown[] = Array.isArray(valid)
    ? [...valid]
    : { ...(valid as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const action = rng.int(3);
  if (action === 0 && keys.length > 0) {
    const key = rng.pick(keys);
    (copy as Record<string, unknown>)[key] = mutate(rng, (copy as Record<string, unknown>)[key], depth + 1);
  } else if (action === 1 && keys.length > 0) delete (copy as Record<string, unknown>)[rng.pick(keys)];
  else
    (copy as Record<string, unknown>)[rng.chance(0.5) ? rng.pick(NASTY_KEYS) : randomString(rng).slice(0, 30)] =
      randomJson(rng, 3);
  return copy;
}

/** JSON text with `__proto__` as an own key (JSON.parse makes it one; an object literal would not). */
export function toJsonText(rng: Rng, value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  return rng.chance(0.1) && text.startsWith('{')
    ? `{"__proto__":{"polluted":1},${text.slice(1)}`.replace(/,}$/, '}')
    : text;
}

/** Bytes of `original` flipped, cut, repeated or spliced. */
export function mutateBytes(rng: Rng, original: Buffer): Buffer {
  let b = Buffer.from(original);
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(Math.max(1, b.length));
    switch (rng.int(5)) {
      case 0:
        if (b.length) b[at] = rng.int(256);
        break;
      case 1:
        b = b.subarray(0, at);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(rng.int(Math.max(1, b.length))), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(toJsonText(rng, randomJson(rng, 4))), b.subarray(at)]);
        break;
      default:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.int(50)))]);
    }
  }
  return b;
}

/** What no answer or message may carry: a stack frame, an HTML page, or a path of the server's code. */
export const LEAK = new RegExp(
  `\\n\\s+at \\S|node_modules|<html|${process.cwd().replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`,
  'i',
);

export function prototypeIntact(): boolean {
  return (
    ({} as Record<string, unknown>).polluted === undefined &&
    Object.getOwnPropertyNames(Object.prototype).sort().join() === PROTO_NAMES
  );
}
const PROTO_NAMES = Object.getOwnPropertyNames(Object.prototype).sort().join();

/** Runs `count` inputs of a surface; a failure names the seed and the input so it replays. Each input must take < 1 s. */
export async function fuzz(
  surface: string,
  count: number,
  one: (rng: Rng, index: number) => Promise<string | undefined> | string | undefined,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const rng = rngFor(surface, i);
    const started = performance.now();
    let problem: string | undefined;
    try {
      problem = await one(rng, i);
    } catch (err) {
      problem = `threw ${(err as Error)?.name}: ${String((err as Error)?.message).slice(0, 300)}`;
    }
    const ms = performance.now() - started;
    if (!problem && ms > 1000) problem = `took ${Math.round(ms)} ms`;
    if (!problem && !prototypeIntact()) problem = 'Object.prototype was modified';
    if (problem) throw new Error(`fuzz ${surface}: input #${i} failed (replay: FUZZ_SEED=${SEED}): ${problem}`);
  }
}
