/**
 * The wiring declared in infra/: which functions exist and their entry points (functions.yaml), which subscription
 * pushes which topic to which entry point (topics.yaml), and which Scheduler job triggers which function
 * (schedules.yaml, through its topic). The local runtime and the tests read it from here; no topic or entry-point
 * name is written in code.
 */
import { z } from 'zod';
import { INFRA, fail, loadSchedules, loadTopics, loadYaml, type ScheduleJob } from './schedules';

export const EntryPointKind = z.enum(['http', 'event']);
export type EntryPointKind = z.infer<typeof EntryPointKind>;

export const FunctionsFileSchema = z
  .object({
    functions: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes'),
            entryPoints: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a JavaScript identifier'), EntryPointKind),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

export interface DeclaredEntryPoint {
  name: string;
  kind: EntryPointKind;
  /** The function it belongs to (functions/<function>/). */
  function: string;
  /** For an event entry point: the topics pushed to it. */
  topics: string[];
}

export interface Wiring {
  entryPoints: DeclaredEntryPoint[];
  /** Each job with the function its topic is pushed to (a job on a topic no function receives has none). */
  jobs: Array<ScheduleJob & { function?: string; entryPoint?: string }>;
}

export interface WiringPaths {
  functions?: string;
  topics?: string;
  schedules?: string;
}

export function loadWiring(paths: WiringPaths = {}): Wiring {
  const functionsPath = paths.functions ?? INFRA('functions.yaml');
  const topicsPath = paths.topics ?? INFRA('topics.yaml');
  const file = loadYaml(functionsPath, FunctionsFileSchema);
  const topics = loadTopics(topicsPath);
  const issues: string[] = [];
  const entryPoints = new Map<string, DeclaredEntryPoint>();
  file.functions.forEach((fn, i) => {
    if (file.functions.findIndex((f) => f.name === fn.name) !== i) issues.push(`functions[${i}].name: duplicate function ${fn.name}`);
    for (const [name, kind] of Object.entries(fn.entryPoints)) {
      if (entryPoints.has(name)) issues.push(`functions[${i}].entryPoints.${name}: already declared by ${entryPoints.get(name)!.function}`);
      else entryPoints.set(name, { name, kind, function: fn.name, topics: [] });
    }
  });
  topics.topics.forEach((topic, i) =>
    topic.subscriptions.forEach((sub, j) => {
      if (!sub.pushTo) return;
      const target = entryPoints.get(sub.pushTo);
      if (!target) issues.push(`${topicsPath}: topics[${i}].subscriptions[${j}].pushTo: ${sub.pushTo} is not an entry point in ${functionsPath}`);
      else if (target.kind !== 'event') issues.push(`${topicsPath}: topics[${i}].subscriptions[${j}].pushTo: ${sub.pushTo} is an ${target.kind} entry point`);
      else target.topics.push(topic.name);
    }),
  );
  for (const ep of entryPoints.values()) {
    if (ep.kind === 'event' && ep.topics.length === 0) issues.push(`entryPoints.${ep.name}: no subscription in ${topicsPath} pushes to it`);
  }
  if (issues.length > 0) fail(functionsPath, issues);
  const jobs = loadSchedules(paths.schedules ?? INFRA('schedules.yaml'), topicsPath).map((job) => {
    const target = [...entryPoints.values()].find((ep) => ep.topics.includes(job.topic));
    return target ? { ...job, function: target.function, entryPoint: target.name } : { ...job };
  });
  return { entryPoints: [...entryPoints.values()], jobs };
}

/**
 * Compares the declared entry points with the registered ones (name -> kind): every problem, one line each.
 * Empty when they agree.
 */
export function entryPointMismatches(declared: ReadonlyArray<Pick<DeclaredEntryPoint, 'name' | 'kind'>>, registered: Record<string, EntryPointKind>): string[] {
  const problems: string[] = [];
  for (const ep of declared) {
    const kind = registered[ep.name];
    if (!kind) problems.push(`entry point ${ep.name} is declared in infra/ but not registered by any function`);
    else if (kind !== ep.kind) problems.push(`entry point ${ep.name} is declared as ${ep.kind} but registered as ${kind}`);
  }
  for (const name of Object.keys(registered)) {
    if (!declared.some((ep) => ep.name === name)) problems.push(`entry point ${name} is registered but not declared in infra/functions.yaml`);
  }
  return problems;
}
