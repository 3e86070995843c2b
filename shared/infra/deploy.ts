/**
 * `mt-ops infra deploy-commands`: the exact gcloud commands that deploy the topology of infra/ into a project, in
 * dependency order (APIs, service accounts, the bucket and its access, topics and who may publish, secrets' access,
 * the functions, who may invoke them, the Cloud Run jobs), each safe to run again (describe-or-create, bindings,
 * deploys). Pure: the same topology gives the same text (the golden test holds it).
 */
import { isAbsolute, posix } from 'node:path';
import type { Topology } from './topology';
import { nodeOptions } from './heap';

export interface DeployTarget {
  project: string;
  region: string;
  /** Where the function bundles are (dist/ of this repository). */
  dist?: string;
  /**
   * The operator file's `status.public`: the status function (its page, JSON and badges; read-only) is the one function
   * that may then be invoked without authentication. Off by default.
   */
  publicStatus?: boolean;
  /**
   * The operator file deployed (the one the CLI resolves as `mt-ops config` does: OPS_CONFIG, else ./ops.config.json,
   * absolute), or undefined when there is none: the functions then run the defaults. Each function gets a copy in its
   * source folder (dist/<name>/, a deployed function has nothing else) and OPS_CONFIG naming it.
   */
  opsConfig?: string;
  /**
   * The probes' CA files (`tls.caFile`), each as shippedCaFile gives it (relative to the operator file's folder, inside
   * it, and not at or under a name the build puts there: buildOwnedClash): each is copied beside every copy of the
   * operator file, at the same relative path. Only with opsConfig.
   */
  caFiles?: string[];
}

/**
 * The operator file's name inside a function's source folder (its extension kept: it says how the file is parsed).
 * A relative OPS_CONFIG is found beside the bundle (see loadConfig's `besideModule`), whatever the working folder.
 */
export function bundledConfigName(path: string): string {
  const ext = /\.(json|ya?ml)$/i.exec(path)?.[0].toLowerCase();
  return `ops.config${ext ?? ''}`;
}
/** Every name bundledConfigName gives: removed from a source folder before a copy, or when the defaults are deployed. */
const BUNDLED_NAMES = ['ops.config', 'ops.config.json', 'ops.config.yaml', 'ops.config.yml'];

/**
 * Where a probe's CA file (`tls.caFile` as written in the operator file) is copied, relative to the operator file's
 * copy: the same path as from the original (normalised: `./certs/../ca.pem` is `ca.pem`), so the copy, the operator's
 * file unchanged, resolves it as loadConfig resolves the original. Undefined for one that cannot be shipped so: an
 * absolute path (the function's machine has no such file), or one that leaves the operator file's folder (`..`: its copy
 * would land outside the function's source folder).
 */
export function shippedCaFile(written: string): string | undefined {
  if (isAbsolute(written)) return undefined;
  const path = posix.normalize(written);
  return path === '..' || path.startsWith('../') ? undefined : path;
}

/**
 * What the build (build.mjs) and these commands put in a deployed folder (dist/<function>/, and dist/cli/ that the Cloud
 * Run jobs run from), by the first segment of a path in it: a probe's CA file copied to one of these, or under one,
 * would overwrite the function's own code or configuration. The one list of them: the functions' and the CLI's names
 * together (an operator file that deploys stays deployable when a Cloud Run job is enabled), names exact (Linux).
 * test/infra/deploy-commands.test.ts holds it against what build.mjs writes and against esbuild's own output names.
 */
export const BUILD_OWNED: readonly { name: string | RegExp; what: string; folder?: true }[] = [
  { name: 'index.js', what: "a function's code, written by the build" },
  { name: 'index.js.map', what: "a function's source map, written by the build" },
  {
    name: 'package.json',
    what: "a function's package.json (the dependencies installed on deploy), written by the build",
  },
  { name: 'infra', what: 'the topology a function reads, copied in by the build', folder: true },
  { name: 'mt-ops.js', what: 'the CLI the Cloud Run jobs run (in dist/cli/), written by the build' },
  { name: 'mt-ops.js.map', what: "the CLI's source map (in dist/cli/), written by the build" },
  // splitting: esbuild's shared chunks (chunk-<hash>.js) and lazily imported modules (gcs-store-<hash>.js), each with
  // its map; the hash is 8 characters of base32
  {
    name: /^[^/]+-[A-Z2-7]{8}\.js(\.map)?$/,
    what: 'a chunk of the bundled code (<name>-<hash>.js), written by the build',
  },
  ...BUNDLED_NAMES.map((name) => ({ name, what: "a name of the operator file's copy, placed by the deploy" })),
];

/**
 * Why a CA file (as shippedCaFile gives it) cannot be copied into a deployed folder: the name of the build's it would
 * overwrite, or be put under; undefined when it can be.
 */
export function buildOwnedClash(ca: string): string | undefined {
  const [head = '', ...under] = ca.split('/');
  const owned = BUILD_OWNED.find((o) => (typeof o.name === 'string' ? o.name === head : o.name.test(head)));
  if (!owned) return undefined;
  const name = owned.folder ? `the folder ${head}/` : `the file ${head}`;
  const clash = `${under.length === 0 ? 'would overwrite' : owned.folder ? 'would be copied into' : 'would be copied under'} ${name}`;
  return `${ca} ${clash} in each deployed source folder (${owned.what}): give the CA file another path`;
}

/** The environment variable that tells a function or job its time limit (seconds), from the topology. */
export const TIME_LIMIT_ENV = 'MT_OPS_TIME_LIMIT_SECONDS';
/** The custom role that may delete objects and nothing else (retention). */
export const DELETER_ROLE = 'mtOpsObjectDeleter';

const APIS = [
  'cloudfunctions.googleapis.com',
  'run.googleapis.com',
  'cloudbuild.googleapis.com',
  'artifactregistry.googleapis.com',
  'pubsub.googleapis.com',
  'cloudscheduler.googleapis.com',
  'secretmanager.googleapis.com',
  'storage.googleapis.com',
  'iam.googleapis.com',
];

/** Quotes a shell word when it needs it. */
export function sh(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
const cmd = (...words: string[]) => words.map(sh).join(' ');

export function bucketName(topology: Topology, project: string): string {
  return topology.project.bucket.name.replace(/\{project\}/g, project);
}
export const serviceAccountEmail = (id: string, project: string) => `${id}@${project}.iam.gserviceaccount.com`;
/** The URL Cloud Functions gives a 2nd gen function (what Pub/Sub pushes to, and the OIDC audience). */
export const functionUrl = (name: string, t: DeployTarget) =>
  `https://${t.region}-${t.project}.cloudfunctions.net/${name}`;
export const runJobName = (fn: string) => `mt-ops-${fn}-job`;

function fill(value: string, vars: Record<string, string>): string {
  return value.replace(/\{(project|region|bucket|env)\}/g, (_, k: string) => vars[k]!);
}

/** `--set-env-vars` with a delimiter that no value holds (gcloud's ^DELIM^ escape when a value has a comma). */
function envFlag(flag: string, vars: Record<string, string>): string {
  const pairs = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
  const delimiter = pairs.some((p) => p.includes(',')) ? '|' : ',';
  return `${flag}=${delimiter === ',' ? '' : '^|^'}${pairs.join(delimiter)}`;
}

export function deployCommands(topology: Topology, target: DeployTarget): string {
  const { project, region } = target;
  const dist = target.dist ?? 'dist';
  const bucket = bucketName(topology, project);
  const env = topology.project.env;
  const vars = { project, region, bucket, env };
  const p = `--project=${project}`;
  const out: string[] = [
    '#!/usr/bin/env bash',
    `# missing-table-ops: deploy to project ${project}, region ${region} (generated by mt-ops infra deploy-commands from infra/).`,
    '# Every command is safe to run again. Topics get their subscriptions and Scheduler jobs from `mt-ops infra apply`.',
    target.opsConfig
      ? `# Operator file deployed: ${target.opsConfig} (copied into each function's source folder, OPS_CONFIG names the copy).`
      : '# No operator file: the defaults are deployed (routing, probes, retention, status; see README).',
    'set -euo pipefail',
  ];
  const opsConfig = target.opsConfig;
  const bundledName = opsConfig ? bundledConfigName(opsConfig) : undefined;
  const caFiles = opsConfig ? [...new Set(target.caFiles ?? [])].sort() : [];
  for (const ca of caFiles) {
    if (shippedCaFile(ca) !== ca)
      throw new Error(`caFile ${ca}: not a normalised path inside the operator file's folder`);
    const clash = buildOwnedClash(ca);
    if (clash) throw new Error(`caFile ${clash}`);
  }
  /**
   * Before a deploy from `folder`: the operator file copied in (any earlier copy removed first), or removed; then each
   * probe's CA file beside the copy, at the same relative path as beside the original (its sub-folders made first).
   * The path is kept, not rewritten into a folder of our own: the deployed operator file stays the operator's file,
   * byte for byte, and resolves its caFile unchanged. So an earlier deploy's CA copy that the file no longer names is
   * not removed here (its name is not known any more; removing it would need a record of past copies in the source
   * folder, and a generated `rm` of names read from it). It is left alone: `npm run build`, which comes before every
   * deploy (cloudbuild.yaml), removes dist/ whole; and a stale copy is a public certificate that nothing names.
   */
  const placed = new Set<string>();
  const placeConfig = (folder: string) => {
    if (placed.has(folder)) return;
    placed.add(folder);
    out.push(cmd('rm', '-f', ...BUNDLED_NAMES.map((n) => `${folder}/${n}`)));
    if (!opsConfig) return;
    out.push(cmd('cp', opsConfig, `${folder}/${bundledName}`));
    const made = new Set<string>();
    for (const ca of caFiles) {
      const sub = posix.dirname(ca);
      if (sub !== '.' && !made.has(sub)) {
        made.add(sub);
        out.push(cmd('mkdir', '-p', `${folder}/${sub}`));
      }
      out.push(cmd('cp', posix.join(posix.dirname(opsConfig), ca), `${folder}/${ca}`));
    }
  };
  const section = (title: string) => out.push('', `# ${title}`);

  section('APIs');
  out.push(cmd('gcloud', 'services', 'enable', ...APIS, p));
  out.push(`PROJECT_NUMBER=$(gcloud projects describe ${project} --format='value(projectNumber)')`);

  section('Service accounts: one per function, and the one Pub/Sub pushes with');
  const accounts = [
    ...topology.functions.map((f) => ({ id: f.serviceAccount, what: `mt-ops ${f.name} function` })),
    { id: topology.project.pushServiceAccount, what: 'mt-ops Pub/Sub push' },
  ];
  for (const a of accounts) {
    out.push(
      `${cmd('gcloud', 'iam', 'service-accounts', 'describe', serviceAccountEmail(a.id, project), p)} >/dev/null 2>&1 || ${cmd('gcloud', 'iam', 'service-accounts', 'create', a.id, p, `--display-name=${a.what}`)}`,
    );
  }
  out.push(
    `${cmd('gcloud', 'iam', 'roles', 'describe', DELETER_ROLE, p)} >/dev/null 2>&1 || ${cmd('gcloud', 'iam', 'roles', 'create', DELETER_ROLE, p, '--title=mt-ops object deleter', '--permissions=storage.objects.delete')}`,
  );

  section(`The bucket gs://${bucket}`);
  const b = topology.project.bucket;
  const settings = [
    '--uniform-bucket-level-access',
    '--public-access-prevention',
    `--soft-delete-duration=${b.softDeleteDays}d`,
    `--default-storage-class=${b.storageClass}`,
  ];
  out.push(
    `${cmd('gcloud', 'storage', 'buckets', 'describe', `gs://${bucket}`, p)} >/dev/null 2>&1 || ${cmd('gcloud', 'storage', 'buckets', 'create', `gs://${bucket}`, p, `--location=${b.location}`, ...settings)}`,
  );
  out.push(cmd('gcloud', 'storage', 'buckets', 'update', `gs://${bucket}`, p, ...settings));
  if (b.lifecycle) {
    const rule = JSON.stringify({
      rule: [{ action: { type: 'Delete' }, condition: { age: b.lifecycle.deleteAfterDays } }],
    });
    out.push(`${cmd('printf', '%s', rule)} > /tmp/mt-ops-lifecycle.json`);
    out.push(
      cmd('gcloud', 'storage', 'buckets', 'update', `gs://${bucket}`, p, '--lifecycle-file=/tmp/mt-ops-lifecycle.json'),
    );
  } else out.push(cmd('gcloud', 'storage', 'buckets', 'update', `gs://${bucket}`, p, '--clear-lifecycle'));
  if (b.retentionLock) {
    out.push(
      cmd('gcloud', 'storage', 'buckets', 'update', `gs://${bucket}`, p, `--retention-period=${b.retentionLock.days}d`),
    );
    if (b.retentionLock.locked)
      out.push(
        `# irreversible: the retention period can never be shortened or removed again\n${cmd('gcloud', 'storage', 'buckets', 'update', `gs://${bucket}`, p, '--lock-retention-period')}`,
      );
  }
  const roles: Record<string, string> = {
    read: 'roles/storage.objectViewer',
    create: 'roles/storage.objectCreator',
    delete: `projects/${project}/roles/${DELETER_ROLE}`,
  };
  for (const fn of topology.functions) {
    const member = `--member=serviceAccount:${serviceAccountEmail(fn.serviceAccount, project)}`;
    const bind = (...flags: string[]) =>
      out.push(cmd('gcloud', 'storage', 'buckets', 'add-iam-policy-binding', `gs://${bucket}`, p, member, ...flags));
    for (const access of fn.bucket) bind(`--role=${roles[access]}`);
    for (const path of fn.bucketPaths) {
      const objects = `projects/_/buckets/${bucket}/objects/${env}/`;
      // An object request's resource is the object (resource.name); a list request's is the bucket, so a condition
      // on resource.name never grants storage.objects.list. A list is granted through the request's prefix
      // parameter (the objectListPrefix API attribute): this prefix, or longer, and nothing else. A suffix
      // (`*/verify.json`) has no list form: those objects are read or written by name only.
      const expression = path.startsWith('*/')
        ? `resource.name.startsWith("${objects}") && resource.name.endsWith("${path.slice(1)}")`
        : `resource.name.startsWith("${objects}${path}") || ` +
          `api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("${env}/${path}")`;
      const title = `${fn.name} ${path}`.replace(/[^A-Za-z0-9 ._-]/g, '_');
      // ^;^: gcloud splits the condition on ";" instead of "," (the expression has commas)
      bind('--role=roles/storage.objectUser', `--condition=^;^expression=${expression};title=${title}`);
    }
  }

  section('Topics, and who may publish to each');
  for (const topic of topology.topics) {
    out.push(
      `${cmd('gcloud', 'pubsub', 'topics', 'describe', topic.name, p)} >/dev/null 2>&1 || ${cmd('gcloud', 'pubsub', 'topics', 'create', topic.name, p)}`,
    );
  }
  for (const fn of topology.functions) {
    for (const topic of fn.publishes) {
      out.push(
        cmd(
          'gcloud',
          'pubsub',
          'topics',
          'add-iam-policy-binding',
          topic,
          p,
          `--member=serviceAccount:${serviceAccountEmail(fn.serviceAccount, project)}`,
          '--role=roles/pubsub.publisher',
        ),
      );
    }
  }
  const pubsubAgent = 'serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com';
  const deadLetters = [
    ...new Set(
      topology.topics.flatMap((t) => t.subscriptions.flatMap((s) => (s.deadLetterTopic ? [s.deadLetterTopic] : []))),
    ),
  ];
  for (const topic of deadLetters)
    out.push(
      `${cmd('gcloud', 'pubsub', 'topics', 'add-iam-policy-binding', topic, p)} --member="${pubsubAgent}" --role=roles/pubsub.publisher`,
    );
  if (deadLetters.length > 0)
    out.push(
      `${cmd('gcloud', 'projects', 'add-iam-policy-binding', project)} --member="${pubsubAgent}" --role=roles/pubsub.subscriber --condition=None`,
    );
  const monitoring = topology.topics.find((t) => t.name === 'mt-ops-monitoring');
  if (monitoring) {
    out.push(
      `${cmd('gcloud', 'pubsub', 'topics', 'add-iam-policy-binding', monitoring.name, p)} --member="serviceAccount:service-\${PROJECT_NUMBER}@gcp-sa-monitoring-notification.iam.gserviceaccount.com" --role=roles/pubsub.publisher`,
    );
  }

  section('Secrets (created once by hand, see README): each function reads only its own');
  const secretUsers = new Map<string, Set<string>>();
  for (const fn of topology.functions) {
    for (const ref of Object.values(fn.secrets)) {
      const name = ref.split(':')[0]!;
      secretUsers.set(name, (secretUsers.get(name) ?? new Set()).add(fn.serviceAccount));
    }
  }
  for (const [secret, users] of [...secretUsers].sort(([a], [b]) => a.localeCompare(b))) {
    for (const user of [...users].sort()) {
      out.push(
        cmd(
          'gcloud',
          'secrets',
          'add-iam-policy-binding',
          secret,
          p,
          `--member=serviceAccount:${serviceAccountEmail(user, project)}`,
          '--role=roles/secretmanager.secretAccessor',
        ),
      );
    }
  }

  /**
   * What a function or its Cloud Run job runs with: the environment (its time limit, and the heap's ceiling for its
   * memory: heap.ts) and the secrets.
   */
  const runSettings = (
    fn: (typeof topology.functions)[number],
    timeoutSeconds: number,
    memory: string,
    job = false,
  ) => ({
    envVars: {
      OPS_ENV: env,
      BACKUP_BUCKET: `gs://${bucket}`,
      EVENTS_TOPIC: topology.eventsTopic,
      GOOGLE_CLOUD_PROJECT: project,
      [TIME_LIMIT_ENV]: String(timeoutSeconds),
      ...(bundledName ? { OPS_CONFIG: job ? `dist/cli/${bundledName}` : bundledName } : {}),
      ...Object.fromEntries(Object.entries(fn.env).map(([k, v]) => [k, fill(v, vars)])),
      NODE_OPTIONS: nodeOptions(memory, fn.env.NODE_OPTIONS && fill(fn.env.NODE_OPTIONS, vars)),
    } as Record<string, string>,
    secrets: Object.entries(fn.secrets).map(([k, ref]) => `${k}=${ref.includes(':') ? ref : `${ref}:latest`}`),
  });

  section('Functions (2nd gen); none allows unauthenticated calls; event functions are invoked by Pub/Sub push only');
  const pusher = serviceAccountEmail(topology.project.pushServiceAccount, project);
  for (const d of topology.deployed) {
    const fn = topology.functions.find((f) => f.name === d.function)!;
    const { envVars, secrets } = runSettings(fn, d.timeoutSeconds, fn.memory);
    placeConfig(`${dist}/${d.function}`);
    out.push(
      cmd(
        'gcloud',
        'functions',
        'deploy',
        d.name,
        '--gen2',
        p,
        `--region=${region}`,
        `--runtime=${fn.runtime}`,
        `--source=${dist}/${d.function}`,
        `--entry-point=${d.entryPoint}`,
        '--trigger-http',
        '--no-allow-unauthenticated',
        `--memory=${fn.memory}`,
        `--cpu=${fn.cpu}`,
        `--timeout=${d.timeoutSeconds}s`,
        `--min-instances=${fn.minInstances}`,
        `--max-instances=${fn.maxInstances}`,
        `--concurrency=${fn.concurrency}`,
        `--service-account=${serviceAccountEmail(fn.serviceAccount, project)}`,
        envFlag('--set-env-vars', envVars),
        ...(secrets.length > 0 ? [`--set-secrets=${secrets.join(',')}`] : ['--clear-secrets']),
      ),
    );
    if (target.publicStatus && d.function === 'status' && d.kind === 'http') {
      out.push(
        cmd('gcloud', 'functions', 'add-invoker-policy-binding', d.name, p, `--region=${region}`, '--member=allUsers'),
      );
    }
    if (d.kind === 'event') {
      out.push(
        cmd(
          'gcloud',
          'functions',
          'add-invoker-policy-binding',
          d.name,
          p,
          `--region=${region}`,
          `--member=serviceAccount:${pusher}`,
        ),
      );
    }
  }

  const jobs = topology.functions.filter((f) => f.cloudRunJob?.enabled);
  if (jobs.length > 0) {
    section('Cloud Run jobs (up to 24 h): the bundled CLI, started by the Scheduler job instead of the function');
    for (const fn of jobs) {
      const job = fn.cloudRunJob!;
      // the job runs the CLI from the source root (--source=.): OPS_CONFIG names the copy beside the CLI bundle
      const { envVars, secrets } = runSettings(fn, job.taskTimeoutSeconds, job.memory, true);
      placeConfig(`${dist}/cli`);
      out.push(
        cmd(
          'gcloud',
          'run',
          'jobs',
          'deploy',
          runJobName(fn.name),
          p,
          `--region=${region}`,
          '--source=.',
          '--command=node',
          `--args=${['dist/cli/mt-ops.js', ...job.command].join(',')}`,
          `--memory=${job.memory}`,
          `--cpu=${job.cpu}`,
          `--task-timeout=${job.taskTimeoutSeconds}s`,
          '--max-retries=0',
          '--tasks=1',
          `--service-account=${serviceAccountEmail(fn.serviceAccount, project)}`,
          envFlag('--set-env-vars', envVars),
          ...(secrets.length > 0 ? [`--set-secrets=${secrets.join(',')}`] : []),
        ),
      );
      out.push(
        cmd(
          'gcloud',
          'run',
          'jobs',
          'add-iam-policy-binding',
          runJobName(fn.name),
          p,
          `--region=${region}`,
          `--member=serviceAccount:${pusher}`,
          '--role=roles/run.invoker',
        ),
      );
    }
  }
  return `${out.join('\n')}\n`;
}
