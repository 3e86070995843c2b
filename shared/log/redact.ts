/**
 * Secret scrubbing for every log line and error message.
 * Two layers: values registered as secrets (from the configuration) are replaced wherever they appear,
 * and patterns catch the shapes secrets take (URL passwords, webhook paths, Authorization headers, keys in query strings).
 */
const MASK = '***';
const registered = new Set<string>();

/** Registers a secret value (a password, a webhook URL, a routing key) to be masked everywhere. */
export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < 4) return;
  registered.add(value);
  try {
    const decoded = decodeURIComponent(value);
    if (decoded !== value && decoded.length >= 4) registered.add(decoded);
    const encoded = encodeURIComponent(value);
    if (encoded !== value) registered.add(encoded);
  } catch {
    // not URI-encoded: nothing more to register
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

const PATTERNS: Array<[RegExp, string]> = [
  // scheme://user:password@host
  [/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, `$1${MASK}@`],
  // Slack and other webhook paths
  [/(https?:\/\/hooks\.slack\.com\/)[^\s"'<>]+/gi, `$1${MASK}`],
  [/(https?:\/\/[^\s/]+\/(?:services|hooks|webhooks?)\/)[^\s"'<>]+/gi, `$1${MASK}`],
  // Authorization: Bearer xyz / Basic xyz
  [/((?:authorization|proxy-authorization)["']?\s*[:=]\s*["']?(?:bearer|basic|token)?\s*)[^\s"',}]+/gi, `$1${MASK}`],
  // password=..., routing_key=..., token=... in query strings or key=value text
  [
    /((?:password|passwd|pwd|secret|token|api[_-]?key|routing[_-]?key|access[_-]?token|sig)["']?\s*[=:]\s*["']?)[^\s"'&,;}]+/gi,
    `$1${MASK}`,
  ],
];

export function redactString(text: string): string {
  let out = text;
  for (const secret of registered) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

const SECRET_KEY = /pass(word)?|secret|token|authorization|routing_?key|webhook|api_?key|credential|private_?key/i;

/** Deep copy of a log record with secret-named fields masked and every string scrubbed. */
export function redactValue(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[depth]';
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value;
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: redactString(value.message) };
    if (value.stack) out.stack = redactString(value.stack);
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.cause !== undefined) out.cause = redactValue(value.cause, depth + 1);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && v !== undefined && v !== null && v !== '' ? MASK : redactValue(v, depth + 1);
  }
  return out;
}
