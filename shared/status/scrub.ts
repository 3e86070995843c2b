/**
 * What the status page may say about the outside world: free text (a probe's error, a failed condition's message,
 * an alert's title, a silence's reason) passes through one scrubber before it reaches the model, so that nothing on
 * the page, in its JSON or in a badge reveals a secret, a URL (a database URL above all), an IP address, a database
 * host, or a host name the operator marked internal. Pure.
 */
import { redactString } from '../log/redact';

export interface ScrubOptions {
  /** Patterns from the `status.internalHosts` setting: `*.internal` (one or more labels), or an exact name. */
  internalHosts: readonly string[];
  /** Exact host names never shown (the database URLs' hosts). */
  hiddenHosts: readonly string[];
}

const MAX = 300;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// A host name starts where a run of name characters starts and ends where it ends (so `db.internal.example.com` is
// not cut at `.internal`); starting only at a run's start keeps every pattern linear in its input.
const BEFORE = '(?<![\\w.-])';
const AFTER = '(?![\\w-]|\\.[\\w-])';

/** The host-name patterns as one expression, or undefined when there are none. */
function hostPattern(options: ScrubOptions): RegExp | undefined {
  const parts: string[] = [];
  for (const p of options.internalHosts) {
    if (p.startsWith('*.')) parts.push(`(?:[a-z0-9-]+\\.)+${escape(p.slice(2))}`);
    else parts.push(escape(p));
  }
  for (const h of options.hiddenHosts) if (h) parts.push(escape(h.replace(/^\[|\]$/g, '')));
  if (parts.length === 0) return undefined;
  return new RegExp(`${BEFORE}(?:${parts.join('|')})${AFTER}`, 'gi');
}

const URL_PATTERN = /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:\/\/[^\s"'<>]*/gi;
const IPV4 = /(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)/g;
// full IPv6, or any compressed form (with `::`); bracketed or not
const IPV6 =
  /(?<![\w:])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){0,6}[0-9a-f]{0,4}::[0-9a-f]{0,4}(?::[0-9a-f]{1,4}){0,6})(?![\w:])/gi;

/** A scrubber for the status page's free text: one line, at most 300 characters. */
export function scrubber(options: ScrubOptions): (text: string | undefined) => string {
  const hosts = hostPattern(options);
  return (text) => {
    if (!text) return '';
    let out = redactString(text.slice(0, 4 * MAX));
    out = out.replace(URL_PATTERN, '<url>');
    if (hosts) out = out.replace(hosts, '<host>');
    out = out.replace(IPV4, '<ip>').replace(IPV6, '<ip>');
    out = out.replace(/\s+/g, ' ').trim();
    return out.length > MAX ? `${out.slice(0, MAX - 1)}…` : out;
  };
}

/** The host of a connection URL (a database URL), for `hiddenHosts`; undefined when it has none or is not a URL. */
export function hostOf(url: string | undefined): string[] {
  if (!url) return [];
  let hostname = '';
  try {
    hostname = new URL(url).hostname;
  } catch {
    // `postgres://user@/db?host=...` is no WHATWG URL; its host parameter still names hosts
  }
  const param = /[?&]host=([^&#]*)/.exec(url)?.[1];
  const hosts = [hostname, ...(param ? safeDecode(param).split(',') : [])].filter((h) => h && !h.startsWith('/'));
  return hosts.map((h) => h.replace(/^\[|\]$/g, ''));
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
