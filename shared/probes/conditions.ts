/**
 * The probe condition language, in the manner of Gatus: `[BODY].status == healthy`, `len([BODY].items) > 0`,
 * `[STATUS] == any(200, 204)`, `[CERTIFICATE_EXPIRATION] > 21d`. Parsed once when the config loads (errors quote the
 * condition and point at the bad token); evaluated purely against what a probe observed, and every failed condition
 * says what it saw (`[BODY].status == healthy: got "degraded"`).
 */

export const PLACEHOLDERS = [
  'STATUS',
  'RESPONSE_TIME',
  'BODY',
  'HEADER',
  'CERTIFICATE_EXPIRATION',
  'CONNECTED',
  'DNS_RCODE',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export const OPERATORS = ['==', '!=', '<=', '>=', '<', '>'] as const;
export type Operator = (typeof OPERATORS)[number];

export type PathSegment = string | number;

export type Operand =
  | { kind: 'placeholder'; name: Placeholder; path: PathSegment[]; fn?: 'len' | 'has'; text: string }
  | { kind: 'literal'; text: string }
  | { kind: 'pattern'; glob: string; text: string }
  | { kind: 'any'; values: string[]; text: string };

export interface Condition {
  /** The condition as written. */
  source: string;
  left: Operand;
  operator: Operator;
  right: Operand;
}

/** A condition that could not be parsed: the message quotes it and points at the bad token (column is 1-based). */
export class ConditionError extends Error {
  override readonly name = 'ConditionError';
  constructor(
    readonly source: string,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${JSON.stringify(source)}: ${reason} at column ${column}${pointer(source, column)}`);
  }
}

function pointer(source: string, column: number): string {
  const token = source.slice(column - 1).match(/^\S{1,30}/)?.[0];
  return token ? ` (${JSON.stringify(token)})` : ' (end of condition)';
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `21d` -> ms; a bare number is itself; undefined when not a number or duration. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  const m = DURATION.exec(t);
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
}

function unquote(text: string): string {
  const t = text.trim();
  if (t.length >= 2 && ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))))
    return t.slice(1, -1);
  return t;
}

/** Splits `a, "b, c", d` on commas outside quotes. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let quote = '';
  let current = '';
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = '';
      current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      current += ch;
    } else if (ch === ',') {
      out.push(current);
      current = '';
    } else current += ch;
  }
  out.push(current);
  return out.map(unquote);
}

/** Finds the operator outside brackets, parentheses and quotes: [index, operator]. */
function findOperator(source: string): [number, Operator] | undefined {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (quote) {
      if (ch === quote) quote = '';
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '(') depth++;
    else if (ch === ']' || ch === ')') depth--;
    else if (depth === 0) {
      for (const op of OPERATORS) if (source.startsWith(op, i)) return [i, op];
    }
  }
  return undefined;
}

/** The index of the first bracket or parenthesis left open (or closed without opening), if any. */
function unbalanced(source: string): number | undefined {
  const open: number[] = [];
  let quote = '';
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!;
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '(') open.push(i);
    else if (ch === ']' || ch === ')') {
      if (open.length === 0) return i;
      open.pop();
    }
  }
  return open[0];
}

function parsePath(source: string, text: string, column: number): PathSegment[] {
  const path: PathSegment[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '.') {
      const m = /^\.([^.[\]\s()]+)/.exec(text.slice(i));
      if (!m) throw new ConditionError(source, column + i, 'expected a field name after "."');
      path.push(m[1]!);
      i += m[0].length;
    } else if (text[i] === '[') {
      const m = /^\[(\d+)\]/.exec(text.slice(i));
      if (!m) throw new ConditionError(source, column + i, 'expected an array index like [0]');
      path.push(Number(m[1]));
      i += m[0].length;
    } else {
      throw new ConditionError(source, column + i, 'expected ".field" or "[index]"');
    }
  }
  return path;
}

function parseOperand(source: string, raw: string, column: number): Operand {
  // column: where `raw` starts in `source` (1-based), before trimming
  const lead = raw.length - raw.trimStart().length;
  const text = raw.trim();
  const col = column + lead;
  if (text === '') throw new ConditionError(source, col, 'expected a value');
  const fn = /^(len|has|pat|any)\((.*)\)$/s.exec(text);
  if (fn) {
    const [, name, inner] = fn;
    const innerCol = col + name!.length + 1;
    if (name === 'pat') return { kind: 'pattern', glob: unquote(inner!), text };
    if (name === 'any') {
      const values = splitArgs(inner!);
      if (values.some((v) => v === ''))
        throw new ConditionError(source, innerCol, 'any() needs values separated by commas');
      return { kind: 'any', values, text };
    }
    const arg = parseOperand(source, inner!, innerCol);
    if (arg.kind !== 'placeholder' || arg.fn)
      throw new ConditionError(source, innerCol, `${name}() takes a placeholder such as [BODY].items`);
    return { ...arg, fn: name as 'len' | 'has', text };
  }
  if (/^[a-z]+\(/i.test(text)) throw new ConditionError(source, col, `unknown function (known: len, has, pat, any)`);
  if (text.startsWith('[')) {
    const m = /^\[([A-Z_]+)\]/.exec(text);
    const name = m?.[1];
    if (!m || !(PLACEHOLDERS as readonly string[]).includes(name!)) {
      throw new ConditionError(
        source,
        col,
        `unknown placeholder (known: ${PLACEHOLDERS.map((p) => `[${p}]`).join(', ')})`,
      );
    }
    const path = parsePath(source, text.slice(m[0].length), col + m[0].length);
    const placeholder = name as Placeholder;
    if (placeholder === 'HEADER' && (path.length !== 1 || typeof path[0] !== 'string')) {
      throw new ConditionError(source, col, '[HEADER] needs one header name: [HEADER].content-type');
    }
    if (placeholder !== 'BODY' && placeholder !== 'HEADER' && path.length > 0) {
      throw new ConditionError(source, col + m[0].length, `[${placeholder}] takes no path`);
    }
    return { kind: 'placeholder', name: placeholder, path, text };
  }
  return { kind: 'literal', text: unquote(text) };
}

/** Parses one condition, or throws a ConditionError that quotes it and points at the bad token. */
export function parseCondition(source: string): Condition {
  const found = findOperator(source);
  const unclosed = unbalanced(source);
  if (unclosed !== undefined) throw new ConditionError(source, unclosed + 1, `unclosed "${source[unclosed]}"`);
  if (!found) {
    const col = source.search(/\S/) + 1 || 1;
    throw new ConditionError(source, col, `expected an operator (${OPERATORS.join(' ')})`);
  }
  const [at, operator] = found;
  const left = parseOperand(source, source.slice(0, at), 1);
  const rightCol = at + operator.length + 1;
  const right = parseOperand(source, source.slice(at + operator.length), rightCol);
  const rest = source.slice(at + operator.length);
  // a value that starts with an operator's character is one too many (`[STATUS] === 200` would compare to "= 200")
  if (right.kind === 'literal' && (findOperator(rest) || /^\s*[=<>!]/.test(rest))) {
    throw new ConditionError(
      source,
      rightCol + rest.search(/[<>=!]/),
      'a second operator; quote the value if it contains one',
    );
  }
  if (left.kind !== 'placeholder' && right.kind !== 'placeholder') {
    throw new ConditionError(source, 1, 'compares two constants: one side must be a placeholder such as [STATUS]');
  }
  if (left.kind === 'pattern' || left.kind === 'any')
    throw new ConditionError(source, 1, `${left.kind === 'pattern' ? 'pat' : 'any'}() belongs on the right`);
  if ((right.kind === 'pattern' || right.kind === 'any') && operator !== '==' && operator !== '!=') {
    throw new ConditionError(source, at + 1, `${right.kind === 'pattern' ? 'pat' : 'any'}() works only with == and !=`);
  }
  if (operator !== '==' && operator !== '!=') {
    for (const [side, col] of [
      [left, 1],
      [right, rightCol],
    ] as const) {
      if (side.kind === 'literal' && parseDuration(side.text) === undefined) {
        throw new ConditionError(
          source,
          col + (source.slice(col - 1).length - source.slice(col - 1).trimStart().length),
          `${operator} needs a number or a duration (200, 1.5s, 21d)`,
        );
      }
    }
  }
  return { source, left, operator, right };
}

/** What a probe observed; every field optional (a failed connection has no status). */
export interface Observation {
  status?: number;
  responseTimeMs?: number;
  body?: string;
  /** Parsed JSON body, when the kind produces one directly (postgres, backup-freshness). */
  json?: unknown;
  headers?: Record<string, string | string[] | undefined>;
  /** Milliseconds until the TLS certificate expires. */
  certificateExpiresInMs?: number;
  connected?: boolean;
  dnsRcode?: string;
}

export interface ConditionResult {
  condition: string;
  ok: boolean;
  /** What the placeholder side was, as shown in a failure: `"degraded"`, `503`, `missing`. */
  got: string;
  /** `[BODY].status == healthy: got "degraded"`, on failure. */
  message?: string;
}

const NO_JSON = Symbol('not json');

/** Evaluation context: parses the body as JSON at most once, however many conditions read it. */
export class Evaluation {
  private parsed: unknown = undefined;
  private parsedDone = false;
  constructor(readonly observation: Observation) {}

  private json(): unknown {
    if ('json' in this.observation && this.observation.json !== undefined) return this.observation.json;
    if (!this.parsedDone) {
      this.parsedDone = true;
      try {
        this.parsed = this.observation.body === undefined ? NO_JSON : JSON.parse(this.observation.body);
      } catch {
        this.parsed = NO_JSON;
      }
    }
    return this.parsed;
  }

  /** The value of a placeholder operand (before len/has), or undefined when missing. */
  value(op: Extract<Operand, { kind: 'placeholder' }>): unknown {
    const o = this.observation;
    switch (op.name) {
      case 'STATUS':
        return o.status;
      case 'RESPONSE_TIME':
        return o.responseTimeMs === undefined ? undefined : Math.round(o.responseTimeMs);
      case 'CERTIFICATE_EXPIRATION':
        return o.certificateExpiresInMs;
      case 'CONNECTED':
        return o.connected ?? false;
      case 'DNS_RCODE':
        return o.dnsRcode;
      case 'HEADER': {
        const name = String(op.path[0]).toLowerCase();
        const entry = Object.entries(o.headers ?? {}).find(([k]) => k.toLowerCase() === name)?.[1];
        return Array.isArray(entry) ? entry.join(', ') : entry;
      }
      case 'BODY': {
        if (op.path.length === 0) return o.json !== undefined ? JSON.stringify(o.json) : o.body;
        let v = this.json();
        if (v === NO_JSON) return NO_JSON;
        for (const seg of op.path) {
          if (v === null || typeof v !== 'object') return undefined;
          v = (v as Record<string | number, unknown>)[seg];
          if (v === undefined) return undefined;
        }
        return v;
      }
    }
  }

  operand(op: Operand): unknown {
    if (op.kind !== 'placeholder') return op;
    const v = this.value(op);
    if (op.fn === 'has') return v !== undefined && v !== NO_JSON && v !== null;
    if (op.fn === 'len') {
      if (typeof v === 'string') return v.length;
      if (Array.isArray(v)) return v.length;
      if (v && typeof v === 'object') return Object.keys(v).length;
      return undefined;
    }
    return v;
  }

  evaluate(condition: Condition): ConditionResult {
    const left = this.operand(condition.left);
    const right = this.operand(condition.right);
    const placeholderSide =
      condition.left.kind === 'placeholder'
        ? condition.left
        : (condition.right as Extract<Operand, { kind: 'placeholder' }>);
    const seen = condition.left.kind === 'placeholder' ? left : right;
    const got = show(seen, placeholderSide);
    const ok = compare(
      left,
      condition.operator,
      right,
      placeholderSide.name === 'CERTIFICATE_EXPIRATION' || placeholderSide.name === 'RESPONSE_TIME',
    );
    return ok
      ? { condition: condition.source, ok, got }
      : { condition: condition.source, ok, got, message: `${condition.source}: got ${got}` };
  }
}

/** Evaluates every condition against one observation. */
export function evaluateAll(conditions: readonly Condition[], observation: Observation): ConditionResult[] {
  const e = new Evaluation(observation);
  return conditions.map((c) => e.evaluate(c));
}

function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  const d = Math.floor(rest / 86_400_000);
  rest -= d * 86_400_000;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  if (d > 0) return `${sign}${d}d ${h}h`;
  if (h > 0) return `${sign}${h}h ${m}m`;
  return `${sign}${m}m`;
}

function show(v: unknown, op: Extract<Operand, { kind: 'placeholder' }>): string {
  if (v === NO_JSON) return 'a body that is not JSON';
  if (v === undefined) return 'nothing (missing)';
  if (op.fn) return JSON.stringify(v);
  if (op.name === 'CERTIFICATE_EXPIRATION' && typeof v === 'number') return formatDuration(v);
  if (op.name === 'RESPONSE_TIME' && typeof v === 'number') return `${v} ms`;
  if (op.name === 'BODY' && op.path.length === 0 && typeof v === 'string')
    return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 120 ? `${text.slice(0, 120)}...` : text;
}

/** Glob: `*` any run, `?` one character; the whole value must match. */
export function globMatch(glob: string, value: string): boolean {
  const re = new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    's',
  );
  return re.test(value);
}

function asNumber(v: unknown, durations: boolean): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'boolean') return undefined;
  if (typeof v === 'string')
    return durations ? parseDuration(v) : /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : undefined;
  if (isOperand(v) && v.kind === 'literal') return asNumber(v.text, durations);
  return undefined;
}

function asText(v: unknown): string | undefined {
  if (v === undefined || v === NO_JSON) return undefined;
  if (isOperand(v) && v.kind === 'literal') return v.text;
  if (typeof v === 'string') return v;
  if (v === null) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function equal(a: unknown, b: unknown, durations: boolean): boolean {
  const an = asNumber(a, durations);
  const bn = asNumber(b, durations);
  if (an !== undefined && bn !== undefined) return an === bn;
  const at = asText(a);
  const bt = asText(b);
  return at !== undefined && bt !== undefined && at === bt;
}

function isOperand(v: unknown): v is Operand {
  return Boolean(
    v && typeof v === 'object' && 'kind' in v && typeof (v as { kind: unknown }).kind === 'string' && 'text' in v,
  );
}

function compare(left: unknown, op: Operator, right: unknown, durations: boolean): boolean {
  if (left === NO_JSON || right === NO_JSON) return false;
  if (isOperand(right) && (right.kind === 'pattern' || right.kind === 'any')) {
    const text = asText(left);
    const hit =
      text !== undefined &&
      (right.kind === 'pattern' ? globMatch(right.glob, text) : right.values.some((v) => equal(left, v, durations)));
    return op === '==' ? hit : text !== undefined && !hit;
  }
  if (op === '==') return equal(left, right, durations);
  if (op === '!=') return left !== undefined && right !== undefined && !equal(left, right, durations);
  const a = asNumber(left, durations);
  const b = asNumber(right, durations);
  if (a === undefined || b === undefined) return false;
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}
