/**
 * Evaluating parsed probe conditions (conditions.ts) against what a probe observed: pure, the body parsed as JSON at
 * most once, and every failed condition saying what it saw (`[BODY].status == healthy: got "degraded"`).
 */
import { parseDuration, type Condition, type Operand, type Operator, type PathSegment } from './conditions';
import { maskSecretField, maskSecretFields, redactRegistered, redactThenCut, SECRET_KEY } from '../log/redact';

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
  /** The body was longer than this many bytes and was read only up to it (the http probe reads at most 1 MiB). */
  bodyCutAt?: number;
  /**
   * Why a JSON field is null, by its path as a condition writes it after `[BODY].` (`newestAgeHours`,
   * `verify.ageDays`, `items[0].id`): a failure reading it says `got null (no complete backup in the bucket)`.
   */
  nullReasons?: Record<string, string>;
}

export interface ConditionResult {
  /** The condition as written, a registered secret's value in it masked (`[BODY].status == ***`). */
  condition: string;
  ok: boolean;
  /**
   * What the placeholder side was, as shown in a failure: `"degraded"`, `503`, `missing`; secrets masked before any
   * cut, and a value read under a secret's name (`[BODY].password`, `[HEADER].set-cookie`) only `"***"`.
   */
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

  /** What a `[BODY]` path read when there was no JSON to read. */
  private noJson(): string {
    const o = this.observation;
    if (o.body === undefined) return o.status === undefined ? 'no answer' : 'no body';
    if (o.bodyCutAt !== undefined) return `a body cut at ${bytes(o.bodyCutAt)} (not read as JSON)`;
    return o.body.trim() === '' ? 'an empty body' : 'a body that is not JSON';
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
        // as text, trimmed as Gatus trims it: `[BODY] == OK` holds for a server answering "OK\n"
        if (op.path.length === 0) return o.json !== undefined ? JSON.stringify(o.json) : o.body?.trim();
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
      // len([BODY]) of a JSON array or object counts its elements or keys, as len([BODY].items) does (`[]` is 0, not
      // the 2 characters of its text); any other body, its text's length
      if (op.name === 'BODY' && op.path.length === 0) {
        const json = this.json();
        if (Array.isArray(json)) return json.length;
        if (json !== null && typeof json === 'object') return Object.keys(json).length;
      }
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
    const got = seen === NO_JSON ? this.noJson() : show(seen, placeholderSide, this.observation.nullReasons);
    const ok = compare(
      left,
      condition.operator,
      right,
      placeholderSide.name === 'CERTIFICATE_EXPIRATION' || placeholderSide.name === 'RESPONSE_TIME',
    );
    // stored as the message shows it (state, alert evidence, `mt-ops probe --json`): a literal that is a registered
    // secret's value is masked, the rest as written
    const source = redactRegistered(condition.source);
    return ok ? { condition: source, ok, got } : { condition: source, ok, got, message: `${source}: got ${got}` };
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

function bytes(n: number): string {
  if (n > 0 && n % 1_048_576 === 0) return `${n / 1_048_576} MiB`;
  if (n > 0 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** A path as a condition writes it after `[BODY].`: `verify.ageDays`, `items[0].id`. */
function pathText(path: readonly PathSegment[]): string {
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');
}

function show(
  v: unknown,
  op: Extract<Operand, { kind: 'placeholder' }>,
  nullReasons: Record<string, string> | undefined,
): string {
  if (v === undefined) return 'nothing (missing)';
  if (v === null && !op.fn && op.name === 'BODY' && nullReasons) {
    const reason = nullReasons[pathText(op.path)];
    if (reason !== undefined) return `null (${reason})`;
  }
  // len() and has() say what they counted, a number or true/false, never the value
  if (op.fn) return JSON.stringify(v);
  if (op.name === 'CERTIFICATE_EXPIRATION' && typeof v === 'number') return formatDuration(v);
  if (op.name === 'RESPONSE_TIME' && typeof v === 'number') return `${v} ms`;
  // read under a secret's name (a field on the path, or the header): masked whatever it is, as the excerpt and the
  // logs mask such a field's value; null and "" say so (there is nothing to hide)
  if (v !== null && v !== '' && secretNamed(op)) return JSON.stringify(MASKED);
  // every secret masked first, then cut: a secret cut first was no longer recognised
  if (op.name === 'BODY' && op.path.length === 0 && typeof v === 'string')
    return JSON.stringify(redactThenCut(maskSecretFields(v), 80));
  return redactThenCut(JSON.stringify(v, maskSecretField) ?? String(v), 120);
}

const MASKED = '***';

/** The placeholder reads a field or header named as a secret's (`[BODY].auth.access_token`, `[HEADER].cookie`). */
function secretNamed(op: Extract<Operand, { kind: 'placeholder' }>): boolean {
  if (op.name !== 'BODY' && op.name !== 'HEADER') return false;
  return op.path.some((seg) => typeof seg === 'string' && SECRET_KEY.test(seg));
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

/**
 * `==` as Gatus has it: a value observed as text (a JSON string, a header, the body) is compared as text, so
 * `[BODY].version == 1.1` does not hold for "1.10", nor `[BODY].code == 7` for "007"; numbers (a JSON number, the
 * status, len()) compare as numbers, `[BODY].ratio == 0.50` holding for 0.5.
 */
function equal(a: unknown, b: unknown, durations: boolean): boolean {
  const an = typeof a === 'string' ? undefined : asNumber(a, durations);
  const bn = typeof b === 'string' ? undefined : asNumber(b, durations);
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
      (right.kind === 'pattern'
        ? globMatch(right.glob, text)
        : right.values.some((v) => equal(left, { kind: 'literal', text: v }, durations)));
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
