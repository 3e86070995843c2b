/** Loads and checks the whole configuration: environment variables, then the operator file. */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { EnvSchema, OpsFileSchema, SECRET_ENV, URL_ENV, type Env, type OpsFile } from './schema';
import { UsageError, formatIssues, errorMessage } from '../errors';
import { caFileProblem } from './files';
import { SECRET_KEY, redactString, registerSecret, registerUrlSecrets, registerWebhookSecret } from '../log/redact';

/** The largest operator file read (thousands of probes fit in a fraction of it). */
const MAX_FILE_BYTES = 10 * 1024 * 1024;

/**
 * A check of the operator file by its user: problems as `field.path: why`, no value quoted. `file` is undefined when the
 * file did not pass the schema: the check then reads what it can from `raw`, so its problems are listed with the
 * schema's, every problem at once. `caFiles`: the probes' CA files that cannot be read (`field.path: why`), which only
 * what runs the probes refuses (its check returns them): a command that probes nothing (a backup, `alerts status`)
 * is not stopped by a deleted CA file.
 */
export type ConfigCheck = (
  file: OpsFile | undefined,
  raw: unknown,
  environment: NodeJS.ProcessEnv,
  caFiles: readonly string[],
) => string[];

export interface Config {
  env: Env;
  file: OpsFile;
  /** Where the operator file came from, or undefined when the defaults were used. */
  filePath?: string;
  /**
   * Each probe's `tls.caFile` as the operator wrote it (in `file` it is made absolute): deploy-commands copies it beside
   * the operator file's copy, which needs the path as written. None when there is no file.
   */
  caFiles: CaFile[];
  /**
   * The probes' CA files that cannot be read, each as `file: field.path: why`, when no check refused them (see
   * ConfigCheck): deploy-commands refuses them (the file could not be copied, the probe function would refuse to start).
   */
  caFileProblems: string[];
}

/** A probe's CA file: the probe's index in `probes.targets`, the path as written, and where it was found. */
export interface CaFile {
  target: number;
  written: string;
  absolute: string;
}

/** The operator file looked for when OPS_CONFIG is unset: the first that exists (two of them: a problem). */
export const DEFAULT_FILES = ['./ops.config.json', './ops.config.yaml', './ops.config.yml'];

/**
 * Loads the whole suite's configuration: environment variables, then the operator file.
 * Every problem in both is reported at once, each with its path; secret values are never echoed.
 */
export function loadConfig(
  environment: NodeJS.ProcessEnv = process.env,
  options: {
    besideModule?: string | URL;
    /**
     * More checks of the file, by what runs on it (the probes' `${VAR}` references, for what runs the probes): their
     * problems (names only, never a value) are reported with every other, each prefixed with the file's path.
     */
    check?: ConfigCheck;
  } = {},
): Config {
  // Register secrets first, so that even an error about them cannot print them.
  for (const name of SECRET_ENV) registerSecret(environment[name]);
  for (const name of URL_ENV) registerUrlSecrets(environment[name]);
  registerWebhookSecret(environment.SLACK_WEBHOOK_URL);
  registerWebhookSecret(environment.ALERT_WEBHOOK_URL);

  const issues: string[] = [];
  const envResult = EnvSchema.safeParse(pickDefined(environment, Object.keys(EnvSchema.shape)));
  if (!envResult.success) issues.push(...formatIssues(envResult.error));

  // An empty variable counts as unset, as for every other variable. Unset: ./ops.config.json, .yaml or .yml, whichever
  // is there (the name says the format); two of them is a question only the operator can answer
  const explicit = Boolean(environment.OPS_CONFIG);
  let path = environment.OPS_CONFIG || DEFAULT_FILES[0]!;
  if (!explicit) {
    const found = DEFAULT_FILES.filter((p) => existsSync(configPath(p, options.besideModule)));
    if (found.length > 1)
      issues.push(`OPS_CONFIG: ${found.join(' and ')} are both here: set OPS_CONFIG to the one to use`);
    path = found[0] ?? path;
  }
  let file: OpsFile | undefined;
  let filePath: string | undefined;
  const caFiles: CaFile[] = [];
  let caFileProblems: string[] = [];
  const absolute = configPath(path, options.besideModule);
  if (existsSync(absolute)) {
    filePath = absolute;
    let raw: unknown;
    try {
      // a device (/dev/zero) or a huge file named by mistake is refused, never read without end
      const st = statSync(absolute);
      if (!st.isFile()) throw new Error('not a regular file');
      if (st.size > MAX_FILE_BYTES)
        throw new Error(
          `${Math.ceil(st.size / 1024 / 1024)} MB; an operator file is at most ${MAX_FILE_BYTES / 1024 / 1024} MB`,
        );
      raw = parseConfigText(readFileSync(absolute, 'utf8'), absolute);
    } catch (err) {
      // Parser messages quote the text around the problem: scrub it. YAML's add the lines around it, with a caret,
      // after the line and column: the first line is the problem.
      issues.push(`${path}: ${redactString(errorMessage(err).split('\n')[0]!.replace(/:$/, ''))}`);
    }
    if (raw !== undefined) {
      const result = OpsFileSchema.safeParse(raw ?? {});
      // the file's problems, whatever found them, listed in the order of their fields in the file
      const found: string[] = [];
      if (result.success) {
        file = result.data;
        // the CA files are the probes' business: reported by the check of what runs the probes, with its own problems
        const unreadable = resolveCaFiles(file, raw, absolute, caFiles).map((i) => redactString(i));
        if (options.check) found.push(...options.check(file, raw, environment, unreadable).map((i) => `${path}: ${i}`));
        else caFileProblems = unreadable.map((i) => `${path}: ${i}`);
      } else {
        // zod quotes unknown keys, which come from the file: scrubbed here, so the whole message can go out as it is
        found.push(...formatIssues(result.error).map((i) => redactString(`${path}: ${i}`)));
        // the caller's check too, over the file as written, with the CA files as written: its problems (a missing CA
        // file included, for what runs the probes) are not left for a second run to find
        const unreadable = resolveCaFiles(undefined, raw, absolute, caFiles).map((i) => redactString(i));
        if (options.check)
          found.push(...options.check(undefined, raw, environment, unreadable).map((i) => `${path}: ${i}`));
      }
      issues.push(...inFileOrder(found, raw, `${path}: `));
    }
  } else if (explicit) {
    issues.push(`OPS_CONFIG: file not found: ${path}`);
  }
  // every issue holds no value (env) or was scrubbed at its source (the file's)
  if (issues.length > 0) throw new UsageError(`invalid configuration:\n  ${issues.join('\n  ')}`, issues, true);
  return { env: envResult.data!, file: file ?? OpsFileSchema.parse({}), filePath, caFiles, caFileProblems };
}

/**
 * Where the operator file is: a relative path from the working folder, or, for a deployed function (`besideModule`:
 * its bundle's URL), beside the bundle when the file is there: deploy-commands copies the operator file into the
 * function's source folder (dist/<name>/) and sets OPS_CONFIG to its name, found whatever the working folder.
 */
function configPath(path: string, besideModule: string | URL | undefined): string {
  if (besideModule && !isAbsolute(path)) {
    const beside = fileURLToPath(new URL(path, besideModule));
    if (existsSync(beside)) return beside;
  }
  return resolve(path);
}

/**
 * A probe's `tls.caFile`, relative to the operator file's folder (kept beside it, found whatever the working folder),
 * made absolute and checked now: one missing or unreadable (caFileProblem) is a configuration error of what runs the
 * probes (the problems returned go to its check), not a probe that fails (and pages) at run time. Each one found is
 * added to `found`, with the path as written; one with a problem is left as written. `file` is undefined when the file
 * did not pass the schema: the CA files are then read from `raw`, each probe at its index (a probe with errors of its
 * own included), so a missing one is reported beside the schema's problems (nothing is made absolute or found: the file
 * is refused).
 */
function resolveCaFiles(file: OpsFile | undefined, raw: unknown, configPath: string, found: CaFile[]): string[] {
  const issues: string[] = [];
  const at = Array.isArray((raw as { probes?: unknown } | null)?.probes) ? 'probes' : 'probes.targets';
  const caFiles = file ? (file.probes?.targets ?? []).map((t) => t.tls?.caFile) : writtenCaFiles(raw);
  caFiles.forEach((caFile, i) => {
    if (!caFile) return;
    const absolute = resolve(dirname(configPath), caFile);
    const problem = caFileProblem(absolute);
    if (problem) issues.push(`${at}[${i}].tls.caFile: ${problem}: ${absolute}`);
    else if (file) {
      file.probes!.targets![i]!.tls!.caFile = absolute;
      found.push({ target: i, written: caFile, absolute });
    }
  });
  return issues;
}

/**
 * The operator file's problems (each `prefix` then `field.path: why`) in the order of their fields in the file as
 * written (`raw`: its keys in the order they were read), whatever found them (the schema, the caller's check): probes[0]
 * before probes[2], a section before the next. A field the file lacks (a required one) comes after those its object has,
 * a problem with no field path (the schema's count of problems not listed) last; one field's problems keep their order.
 */
function inFileOrder(lines: string[], raw: unknown, prefix: string): string[] {
  const placed = lines.map((line) => ({ line, place: placeInFile(raw, line.slice(prefix.length)) }));
  return placed.sort((a, b) => comparePlaces(a.place, b.place)).map((p) => p.line);
}

/** Where a problem's field is in `raw`: the position of each key or item on its path; Infinity for one not there. */
function placeInFile(raw: unknown, issue: string): number[] {
  const end = issue.indexOf(': ');
  if (end < 0) return [Infinity];
  const place: number[] = [];
  let at = raw;
  for (const [, item, key] of issue.slice(0, end).matchAll(/\[(\d+)\]|([^.[]+)/g)) {
    let i = -1;
    if (item !== undefined) i = Array.isArray(at) && Number(item) < at.length ? Number(item) : -1;
    else if (at !== null && typeof at === 'object' && !Array.isArray(at)) i = Object.keys(at).indexOf(key!);
    if (i < 0) return [...place, Infinity];
    place.push(i);
    at = item !== undefined ? (at as unknown[])[i] : (at as Record<string, unknown>)[key!];
  }
  return place;
}

/** Places in the file's order: position by position, an object before its fields. */
function comparePlaces(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return a.length - b.length;
}

/**
 * Each probe's `tls.caFile` in the operator file as written (not parsed), at the probe's index: `probes: [...]` or
 * `probes: { targets: [...] }`; undefined where it is not text (the schema says what is wrong there).
 */
function writtenCaFiles(raw: unknown): Array<string | undefined> {
  const section = (raw as { probes?: unknown } | null)?.probes;
  const list = Array.isArray(section) ? section : (section as { targets?: unknown } | null)?.targets;
  if (!Array.isArray(list)) return [];
  return list.map((entry: unknown) => {
    const caFile = (entry as { tls?: { caFile?: unknown } } | null)?.tls?.caFile;
    return typeof caFile === 'string' ? caFile : undefined;
  });
}

/**
 * Where the operator file holds a secret written out (a value the masks would hide, or a secret-named field, once its
 * `${VAR}` references are taken out): each as `path: why`. deploy-commands refuses them: the file is copied into every
 * function's source, where a secret has no business (secrets are `${VAR}` references, from env or Secret Manager).
 */
export function literalSecrets(value: unknown, path = ''): string[] {
  if (typeof value === 'string') {
    const literal = value.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*\}/g, '');
    const key = path.slice(path.lastIndexOf('.') + 1);
    return redactString(literal) !== literal ||
      (SECRET_KEY.test(key) && literal.trim() !== '' && !/^(bearer|basic|token)\s*$/i.test(literal.trim()))
      ? [`${path} (a secret written out: use a \${VAR} reference, the file is deployed with the functions)`]
      : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => literalSecrets(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => literalSecrets(v, path ? `${path}.${k}` : k));
  return [];
}

function parseConfigText(text: string, path: string): unknown {
  if (/\.ya?ml$/i.test(path)) return parseYaml(text);
  try {
    return JSON.parse(text);
  } catch (err) {
    if (/\.json$/i.test(path)) throw new Error(`not valid JSON: ${jsonProblem(text, errorMessage(err))}`);
    return parseYaml(text);
  }
}

/**
 * JSON.parse's reason in one line, with a line and column: V8 quotes the file's text for an unexpected token (cut at
 * its first newline, that said only `Unexpected token 'p', "probes`) and gives other errors as a character offset.
 * A file that does not start as JSON does (YAML in a `.json` file) says so: the name decides the format.
 */
function jsonProblem(text: string, message: string): string {
  const at = (offset: number) => {
    const before = text.slice(0, offset).split('\n');
    return `line ${before.length}, column ${before.at(-1)!.length + 1}`;
  };
  const start = text.search(/\S/);
  const notJson = start >= 0 && !/[{["\d\-tfn]/.test(text[start]!);
  const hint = notJson ? ' (YAML? an operator file named .json must be JSON: name it .yaml or .yml)' : '';
  const token = /^(Unexpected token '.*?'), ".*" is not valid JSON$/s.exec(message);
  if (token) return `${token[1]}${notJson ? ` at ${at(start)}` : ''}${hint}`;
  const position = / in JSON at position (\d+)/.exec(message);
  if (position) return `${message.slice(0, position.index)} at ${at(Number(position[1]))}${hint}`;
  return `${message.split('\n')[0]}${hint}`;
}

function pickDefined(environment: NodeJS.ProcessEnv, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of keys) {
    const value = environment[key];
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
}

/**
 * Throws a UsageError unless DATABASE_URL (or an override) is set. `flag`: the CLI flag that overrides it, named in the
 * message; none (a function, `npm start`: no flags) names the environment the variable belongs to.
 */
export function requireDatabaseUrl(config: Config, override?: string, flag?: string): string {
  const url = override ?? config.env.DATABASE_URL;
  if (!url)
    throw new UsageError(
      flag
        ? `no database: set DATABASE_URL or pass ${flag}`
        : `no database: DATABASE_URL is not set in this function's environment (deployed: its secret in infra/functions.yaml)`,
    );
  return url;
}
