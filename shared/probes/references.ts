/**
 * What the probes' `${VAR}` references must be, checked at load by whatever runs the probes (unsetReferences): set,
 * written as references, and, once replaced, a header Node can send and a URL. resolveProbe (config.ts) replaces them
 * at run time with the same rules.
 */
import type { ProbeConfig } from './config';

export const REF = /\$\{([A-Z_][A-Z0-9_]*)\}/g;
/** What an operator meant as a reference: `${` and a name of any case, spaces or `-` in it, closed or not. */
const LOOKS_LIKE_REF = /\$\{\s*[\w.-]*\s*\}?/g;
const WHOLE_REF = new RegExp(`^${REF.source}$`);
export const NOT_A_URL = 'is not a valid URL once its variables are replaced';
/** Whether a text names a `${VAR}` (search() leaves REF's lastIndex alone, as test() on a global pattern does not). */
export const namesVariable = (text: string) => text.search(REF) !== -1;

/** A postgres probe with no url probes DATABASE_URL: when that is not set, the same configuration error as a `${VAR}`. */
export const NO_DATABASE = 'not given, so the postgres probe uses ${DATABASE_URL}, which is not set';

export function lacksDatabase(probe: { kind: string; url?: string }, environment: NodeJS.ProcessEnv): boolean {
  return probe.kind === 'postgres' && probe.url === undefined && !environment.DATABASE_URL;
}

/** What Node refuses in a header's value (its own rule): a control character but tab, or one beyond Latin-1. */
export const NOT_IN_HEADER = /[^\t\x20-\x7e\x80-\xff]/;
export const NOT_IN_HEADER_WHY = 'a character not allowed in a header (a control character, or one beyond Latin-1)';

/**
 * The `${VAR}` references of the operator file's probes (url, headers, body) that name a variable not set (or empty) in
 * `environment`: each `path: names ${VAR}, which is not set`; likewise a postgres probe with no url when DATABASE_URL,
 * which it probes then, is not set. A configuration error, refused at load by whatever runs the probes (the probe
 * function, `mt-ops probe`, `npm start`, `mt-ops config`), never a probe that fails and pages. `caFiles`: the probes' CA
 * files loadConfig could not read (`path: why`), refused with them, so by the same commands only (a backup runs).
 */
export function unsetReferences(
  file: { probes?: { targets?: readonly ProbeConfig[] } } | undefined,
  raw: unknown,
  environment: NodeJS.ProcessEnv,
  caFiles: readonly string[] = [],
): string[] {
  // the path as the operator wrote it: `probes: [...]` or `probes: { targets: [...] }`
  const at = Array.isArray((raw as { probes?: unknown } | null)?.probes) ? 'probes' : 'probes.targets';
  const issues: string[] = [];
  // a file that did not pass the schema (its problems are reported beside these): its probes as written, each at its
  // index, a probe with errors of its own included
  const targets: readonly ReferenceFields[] = file ? (file.probes?.targets ?? []) : writtenProbes(raw);
  targets.forEach((t, i) => {
    if (lacksDatabase(t, environment)) issues.push(`${at}[${i}].url: ${NO_DATABASE}`);
    const fields: Array<[string, string | undefined]> = [
      ['url', t.url],
      ...Object.entries(t.headers).map(([k, v]): [string, string] => [`headers.${k}`, v]),
      ['body', t.body],
    ];
    for (const [field, text] of fields) {
      // `${api_token}`, `${ API_TOKEN }`, `${API_TOKEN` (unclosed) would be sent as written, failing at every run
      for (const [written] of (text ?? '').matchAll(LOOKS_LIKE_REF))
        if (!WHOLE_REF.test(written))
          issues.push(
            `${at}[${i}].${field}: ${JSON.stringify(written)} is not a reference to an environment variable (\${NAME}, NAME of capitals, digits and _): it would be sent as written`,
          );
      for (const m of (text ?? '').matchAll(REF)) {
        const value = environment[m[1]!];
        if (value === undefined || value === '')
          issues.push(`${at}[${i}].${field}: names \${${m[1]}}, which is not set`);
        // a header cannot hold a line break (the request would fail at every run, and page), nor any character
        // Node refuses in one
        else if (field.startsWith('headers.') && /[\r\n]/.test(value))
          issues.push(
            `${at}[${i}].${field}: names \${${m[1]}}, whose value holds a line break (not allowed in a header)`,
          );
        else if (field.startsWith('headers.') && NOT_IN_HEADER.test(value))
          issues.push(`${at}[${i}].${field}: names \${${m[1]}}, whose value holds ${NOT_IN_HEADER_WHY}`);
      }
    }
    // a url built from variables: a valid URL once they are replaced (else refused at every run instead)
    if (t.url && namesVariable(t.url) && [...t.url.matchAll(REF)].every((m) => environment[m[1]!])) {
      const url = t.url.replace(REF, (_m, name: string) => environment[name]!);
      const http = t.kind === 'http' && !/^https?:\/\//i.test(url);
      if (http || !URL.canParse(url))
        issues.push(`${at}[${i}].url: ${NOT_A_URL}${http ? ' (http:// or https://)' : ''}`);
    }
  });
  return [...caFiles, ...issues];
}

/** What unsetReferences reads of a probe. */
type ReferenceFields = { kind: string; url?: string; headers: Record<string, string>; body?: string };

/**
 * The probes of an operator file as written (not parsed), for unsetReferences: each entry at its index, with its text
 * fields (a field of another type reads as empty text, an entry that is no object as one with no fields). The schema
 * reports what is wrong with them.
 */
function writtenProbes(raw: unknown): ReferenceFields[] {
  const section = (raw as { probes?: unknown } | null)?.probes;
  const list = Array.isArray(section) ? section : (section as { targets?: unknown } | null)?.targets;
  if (!Array.isArray(list)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  return list.map((entry: unknown) => {
    const p = isObject(entry) ? entry : {};
    const text = (v: unknown) => (v === undefined ? undefined : typeof v === 'string' ? v : '');
    return {
      kind: typeof p.kind === 'string' ? p.kind : 'http',
      url: text(p.url),
      headers: isObject(p.headers)
        ? Object.fromEntries(Object.entries(p.headers).filter((e): e is [string, string] => typeof e[1] === 'string'))
        : {},
      body: text(p.body),
    };
  });
}
