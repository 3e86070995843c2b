/**
 * Secret scrubbing for every log line and error message.
 * Two layers: values registered as secrets (from the configuration) are replaced wherever they appear,
 * and patterns catch the shapes secrets take (URL passwords, webhook paths, Authorization headers, keys in query strings).
 */
const MASK = '***';
const registered = new Set<string>();
let ordered: string[] = [];

/** Registers a secret value (a password, a webhook URL, a routing key) to be masked everywhere. */
export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < 4) return;
  registered.add(value);
  // As it appears inside a JSON string (the finished log line is scrubbed too).
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) registered.add(escaped);
  try {
    const decoded = decodeURIComponent(value);
    if (decoded !== value && decoded.length >= 4) registered.add(decoded);
    const encoded = encodeURIComponent(value);
    if (encoded !== value) registered.add(encoded);
  } catch {
    // not URI-encoded: nothing more to register
  }
  // as a URL writes it in its query, path, fragment or password (each encodes its own set of characters, none the
  // set encodeURIComponent does): a `${VAR}` in a probe's url shows up that way in the redirects it lists
  const url = new URL('http://h/');
  url.search = value;
  url.pathname = value;
  url.hash = value;
  url.password = value;
  for (const form of [url.search.slice(1), url.pathname.slice(1), url.hash.slice(1), url.password])
    if (form !== value && form.length >= 4) registered.add(form);
}

/**
 * Registers a webhook URL (Slack, ...): the whole URL, and its path and last path segment, which carry the
 * secret and show up on their own in client errors.
 */
export function registerWebhookSecret(url: string | undefined | null): void {
  if (!url) return;
  registerSecret(url);
  try {
    const { pathname } = new URL(url);
    const last = pathname.split('/').filter(Boolean).at(-1);
    if (pathname.length >= 12) registerSecret(pathname);
    if (last && last.length >= 8) registerSecret(last);
  } catch {
    // not a URL: the whole value is registered
  }
}

/** Registers the password of a connection string or any URL with credentials. */
export function registerUrlSecrets(url: string | undefined): void {
  if (!url) return;
  try {
    const parsed = new URL(url);
    if (parsed.password) registerSecret(parsed.password);
  } catch {
    // not a URL: the patterns still apply
  }
}

// Where a key's value starts: `key: value`, `key=value`, `"key": "value"`. Not a comparison: a probe condition's `==`
// (`[BODY].password == x`), or a mistyped `=>` / `=<` quoted in its parse error, is followed by a space (or ends the
// text); `password==s3cret` (a value that starts with "=") is still a value.
const ASSIGN = String.raw`["']?\s*(?::|=(?![=<>](?:\s|$)))\s*["']?`;
// `got` after a key is a failed condition's report (`[BODY].status == token: got "healthy"`), never a value
const NOT_GOT = String.raw`(?!got\s)`;

/**
 * The shapes secrets take. Every pattern runs in time linear in its input (text from outside reaches them: zod's
 * messages quote unknown keys, CLI arguments, message ids): no two adjacent quantifiers can match the same
 * characters, and no pattern begins with a repeated class (a run of letters would be rescanned from each position). test/log/redos.test.ts holds each
 * pattern to this on 1 MB of its worst input. Probe conditions (`[BODY].authorization == nope`) and their failure
 * lines (`...: got "healthy"`) come out as written: only the values in them are masked.
 */
export const PATTERNS: Array<[RegExp, string]> = [
  // scheme://user:password@host: the match starts at `://` (found by a fast scan), the scheme before it is checked
  // by a bounded lookbehind (1 to 32 scheme characters, starting where their run starts)
  [/(:\/\/(?<=(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:\/\/)[^\s:/@"'<>]*:)[^\s@/"'<>]+@/gi, `$1${MASK}@`],
  // Slack and other webhook paths
  [/(https?:\/\/hooks\.slack\.com\/)[^\s"'<>]+/gi, `$1${MASK}`],
  [/(https?:\/\/[^\s/]+\/(?:services|hooks|webhooks?)\/)[^\s"'<>]+/gi, `$1${MASK}`],
  // Authorization: Bearer xyz / Basic xyz (the scheme word needs the space after it: one run of spaces, one way to match it)
  [
    new RegExp(
      String.raw`((?:authorization|proxy-authorization)${ASSIGN}(?:(?:bearer|basic|token)\s+)?)${NOT_GOT}[^\s"',}]+`,
      'gi',
    ),
    `$1${MASK}`,
  ],
  // a bearer token on its own (`Bearer eyJ...`)
  [/(bearer(?<=\bbearer)\s+)[A-Za-z0-9._~+/-]{8,}=*/gi, `$1${MASK}`],
  // password=..., routing_key=..., token=... in query strings or key=value text; not a path's last segment
  // (`/etc/passwd: is a file`), and not a `${VAR}` reference (`token=${API_TOKEN}`: a name, shown as written)
  [
    new RegExp(
      String.raw`((?<![/\\])(?:password|passwd|pwd|secret|token|api[_-]?key|routing[_-]?key|access[_-]?token|sig)${ASSIGN})(?!\$\{)${NOT_GOT}[^\s"'&,;}]+`,
      'gi',
    ),
    `$1${MASK}`,
  ],
  // Cookie: a=1; b=2 and Set-Cookie: sid=x; Path=/; HttpOnly: the whole value, to the end of its line or quotes
  [new RegExp(String.raw`(cookie${ASSIGN})${NOT_GOT}[^\s"'\\][^"'\r\n\\]*`, 'gi'), `$1${MASK}`],
];

/** Masks the registered secret values only (safe on finished JSON: it never changes the structure). */
export function redactRegistered(text: string): string {
  let out = text;
  // Longest first, so a secret that contains another is masked whole.
  if (ordered.length !== registered.size) ordered = [...registered].sort((a, b) => b.length - a.length);
  for (const secret of ordered) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}

/**
 * Text shown or stored cut to `max` characters (and `ellipsis` after it, when cut): every secret masked first, then
 * cut, so a cut never leaves part of a secret the masks no longer recognise. A cut text's last characters that begin a
 * registered secret (4 or more of them: the text held a piece of one) are masked as well. `prepare` runs on the text
 * before the masks (the excerpt's whitespace folding).
 *
 * A body can be 1 MiB, and only its start is shown: the masks (and `prepare`) run on a start well past the cut, so a
 * secret or key=value across the cut is whole in it, and a secret across that start's own end is left past the cut or
 * caught as a piece at its end; on a longer start (to the whole text) when the masks left no more than the cut.
 */
export function redactThenCut(
  text: string,
  max: number,
  { ellipsis = '...', prepare }: { ellipsis?: string; prepare?: (text: string) => string } = {},
): string {
  for (let size = max * 4 + 4096; ; size *= 16) {
    const whole = size >= text.length;
    const part = whole ? text : text.slice(0, size);
    const masked = redactString(prepare ? prepare(part) : part);
    if (masked.length > max) return maskSecretPrefixAtEnd(masked.slice(0, max)) + ellipsis;
    if (whole) return masked;
  }
}

/** `text` with its end masked when that end is the first 4 or more characters of a registered secret. */
export function maskSecretPrefixAtEnd(text: string): string {
  let longest = 0;
  for (const secret of registered) {
    for (let n = Math.min(secret.length, text.length); n > longest && n >= 4; n--) {
      if (text.endsWith(secret.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest === 0 ? text : text.slice(0, text.length - longest) + MASK;
}

/**
 * A probe condition's placeholder path (`[BODY].headers.authorization`, `[HEADER].set-cookie`): its last field names
 * what to read, it is no key with a secret after it (`"[BODY].password = x": "=" is not an operator`).
 */
const CONDITION_PATH = /\[(?:BODY|HEADER)\][\w.[\]-]*/gi;

export function redactString(text: string): string {
  const out = redactRegistered(text);
  // condition paths are set aside while the patterns run (each replaced by a NUL, no key character), then put back
  // in order; should a pattern's mask have taken one in, the patterns run on the text as it is (masking more)
  if (out.includes('\0') || !/\[(?:BODY|HEADER)\]/i.test(out)) return applyPatterns(out);
  const paths = out.match(CONDITION_PATH)!;
  const parts = applyPatterns(out.replace(CONDITION_PATH, '\0')).split('\0');
  if (parts.length !== paths.length + 1) return applyPatterns(out);
  let joined = parts[0]!;
  for (let i = 0; i < paths.length; i++) joined += paths[i]! + parts[i + 1]!;
  return joined;
}

function applyPatterns(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

// `pass`, `password`, `passwd`, `dbPass`, but not `passed` (a count of passed probes is no secret).
export const SECRET_KEY =
  /pass(?:w(?:or)?d|phrase)?(?![a-z])|secret|token|authorization|routing[_-]?key|webhook|api[_-]?key|credential|private[_-]?key|cookie/i;

/** A field named as a secret's (SECRET_KEY) that holds something: null, undefined and "" have nothing to hide. */
function isSecretField(key: string, value: unknown): boolean {
  return value !== null && value !== undefined && value !== '' && SECRET_KEY.test(key);
}

/** JSON.stringify's replacer: a field named as a secret's holds "***" (isSecretField; the root, key "", never). */
export function maskSecretField(key: string, value: unknown): unknown {
  return key !== '' && isSecretField(key, value) ? MASK : value;
}

/**
 * A JSON text (a probe target's body) with the value of every field named as a secret's masked, as redactValue masks
 * a log record's: the key=value masks know only some names (password, token, ...; not credentials, private_key,
 * passphrase, dbPass, webhook), and none a nested object. Compact when it masked something; otherwise, or when the text
 * is no JSON (a body cut at its read limit), the text as it was.
 */
export function maskSecretFields(text: string): string {
  if (!SECRET_KEY.test(text) || !/^\s*[[{]/.test(text)) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  let masked = false;
  const out = JSON.stringify(parsed, (key: string, value: unknown) => {
    const v = maskSecretField(key, value);
    if (v !== value) masked = true;
    return v;
  });
  return masked ? out : text;
}

/** Deep copy of a log record with secret-named fields masked and every string scrubbed; errors keep their stacks only when `stacks`. */
export function redactValue(value: unknown, depth = 0, stacks = true): unknown {
  if (depth > 8) return '[depth]';
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value;
  if (value instanceof Error) return redactError(value, depth, stacks);
  if (value instanceof URL) return redactString(value.href);
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value))
    return `[${value.constructor.name} ${value.byteLength} bytes]`;
  if (value instanceof Map)
    return redactValue(Object.fromEntries([...value].map(([k, v]) => [String(k), v])), depth, stacks);
  if (value instanceof Set) return redactValue([...value], depth, stacks);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1, stacks));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = isSecretField(key, v) ? MASK : redactValue(v, depth + 1, stacks);
  }
  return out;
}

/** An error as a plain record: name, message, stack, cause, nested errors and its own fields (pg's detail, hint, ...), all scrubbed. */
function redactError(error: Error, depth: number, stacks: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { name: error.name, message: redactString(error.message) };
  if (stacks && error.stack) out.stack = redactString(error.stack);
  for (const [key, v] of Object.entries(error)) {
    if (key in out || v === undefined || typeof v === 'function') continue;
    out[key] = SECRET_KEY.test(key) && v !== null && v !== '' ? MASK : redactValue(v, depth + 1, stacks);
  }
  if (error.cause !== undefined) out.cause = redactValue(error.cause, depth + 1, stacks);
  if (error instanceof AggregateError) out.errors = redactValue(error.errors, depth + 1, stacks);
  return out;
}
