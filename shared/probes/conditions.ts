/**
 * The probe condition language, in the manner of Gatus: `[BODY].status == healthy`, `len([BODY].items) > 0`,
 * `[STATUS] == any(200, 204)`, `[CERTIFICATE_EXPIRATION] > 21d`. Parsed once when the config loads (errors quote the
 * condition and point at the bad token); evaluated purely against what a probe observed (evaluate.ts), and every failed
 * condition says what it saw (`[BODY].status == healthy: got "degraded"`). This file: the language and its parser.
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
const NUMBER = /^-?\d+(\.\d+)?$/;

export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (NUMBER.test(t)) return Number(t);
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
      // pointed at the token, past any space before it (a space is no token to quote)
      const token = i + (text.slice(i).length - text.slice(i).trimStart().length);
      throw new ConditionError(source, column + token, 'expected ".field" or "[index]"');
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

/** Where a single "=" stands outside quotes (not part of == != <= >=), if anywhere. */
function loneEquals(source: string): number | undefined {
  let quote: string | undefined;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '=' && !'=!<>'.includes(source[i - 1] ?? ' ') && source[i + 1] !== '=') return i;
  }
  return undefined;
}

/** Parses one condition, or throws a ConditionError that quotes it and points at the bad token. */
export function parseCondition(source: string): Condition {
  const found = findOperator(source);
  const unclosed = unbalanced(source);
  if (unclosed !== undefined) throw new ConditionError(source, unclosed + 1, `unclosed "${source[unclosed]}"`);
  if (!found) {
    // a single "=" (the usual slip: `[STATUS] = 200`) is pointed at, rather than the start of the condition
    const equals = loneEquals(source);
    if (equals !== undefined)
      throw new ConditionError(source, equals + 1, `"=" is not an operator, use "==" (${OPERATORS.join(' ')})`);
    const col = source.search(/\S/) + 1 || 1;
    throw new ConditionError(source, col, `expected an operator (${OPERATORS.join(' ')})`);
  }
  const [at, operator] = found;
  // `=>` and `=<` (>= and <= the wrong way round) find `>` or `<`, leaving a stray "=" at the end of the left side
  if ((operator === '>' || operator === '<') && source[at - 1] === '=' && !'=!<>'.includes(source[at - 2] ?? ' ')) {
    throw new ConditionError(
      source,
      at,
      `"=${operator}" is not an operator, use "${operator}=" (${OPERATORS.join(' ')})`,
    );
  }
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
    // a duration is a time only to the placeholders that are times; to any other (`[BODY].uptime > 5m`) it would never
    // compare, and the condition would fail at every probe
    const placeholder = left.kind === 'placeholder' ? left : (right as Extract<Operand, { kind: 'placeholder' }>);
    const timed =
      !placeholder.fn && (placeholder.name === 'RESPONSE_TIME' || placeholder.name === 'CERTIFICATE_EXPIRATION');
    for (const [side, col] of [
      [left, 1],
      [right, rightCol],
    ] as const) {
      if (side.kind !== 'literal') continue;
      const at = col + (source.slice(col - 1).length - source.slice(col - 1).trimStart().length);
      if (parseDuration(side.text) === undefined)
        throw new ConditionError(source, at, `${operator} needs a number or a duration (200, 1.5s, 21d)`);
      if (!timed && !NUMBER.test(side.text))
        throw new ConditionError(
          source,
          at,
          `${operator} needs a number here: durations (1.5s, 21d) compare only with [RESPONSE_TIME] and [CERTIFICATE_EXPIRATION]`,
        );
    }
  }
  return { source, left, operator, right };
}
