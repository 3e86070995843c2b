// `mt-ops infra plan | apply | deploy-commands`: the topology of infra/ against a Google Cloud project.
import { InvalidArgumentError, type Command } from 'commander';
import { join } from 'node:path';
import { loadTopology, type Topology } from '../../infra/topology';
import { TIME_LIMIT_ENV, buildOwnedClash, deployCommands, shippedCaFile } from '../../infra/deploy';
import { unsetReferences } from '../../probes/config';
import { literalSecrets, loadConfig } from '../../config/load';
import { UsageError } from '../../errors';
import { openBus } from '../../bus/open';
import { applyInfra, formatPlan, planInfra, type Change } from '../../infra/reconcile';
import { openCloudClients } from '../../infra/clients';

interface TargetFlags {
  project: string;
  region: string;
  infra?: string;
}

const projectId = (value: string) => {
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(value))
    throw new InvalidArgumentError('must be a project id (6-30 lowercase letters, digits and dashes)');
  return value;
};
const regionName = (value: string) => {
  if (!/^[a-z]+-[a-z]+\d+$/.test(value)) throw new InvalidArgumentError('must be a region such as us-east1');
  return value;
};

/** The topology of infra/ (or of --infra DIR), checked against the operator's retention policy. */
export function topologyFor(flags: { infra?: string }): Topology {
  const retention = loadConfig().file.retention;
  if (!flags.infra) return loadTopology({}, retention);
  const at = (name: string) => join(flags.infra!, `${name}.yaml`);
  return loadTopology(
    { functions: at('functions'), topics: at('topics'), schedules: at('schedules'), project: at('project') },
    retention,
  );
}

/** The configuration, or its problems on one line (the field paths, `;` between them): exit 2, nothing printed. */
function oneLineConfig() {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof UsageError && err.issues.length > 0)
      throw new UsageError(`invalid configuration: ${err.issues.join('; ')}`, err.issues, err.scrubbed);
    throw err;
  }
}

function targetOptions(command: Command): Command {
  return command
    .requiredOption('--project <id>', 'the Google Cloud project', projectId)
    .requiredOption('--region <region>', 'the region of the functions and Scheduler jobs (us-east1)', regionName)
    .option('--infra <dir>', 'the folder of the topology (default: infra/ of this repository)');
}

export function registerInfraCommands(program: Command): void {
  const infra = program.command('infra').description('Deploy the topology declared in infra/ to Google Cloud');

  targetOptions(infra.command('deploy-commands'))
    .description(
      'Print the gcloud commands that deploy the functions, the bucket, the service accounts and their access (idempotent, in dependency order)',
    )
    .option('--dist <dir>', 'where the function bundles are', 'dist')
    .action((flags: TargetFlags & { dist: string }) => {
      // the operator file as `mt-ops config` resolves it, checked first (a bad one: exit 2, nothing printed)
      const config = oneLineConfig();
      const secrets = config.filePath ? literalSecrets(config.file).map((i) => `${config.filePath}: ${i}`) : [];
      // a CA file that cannot be read cannot be copied, and the probe function would refuse to start without it
      secrets.push(...config.caFileProblems);
      // a probe's CA file is copied beside each copy of the operator file, at the path the file gives it (as written:
      // in config.file it is absolute); one that cannot be placed so would leave the deployed functions refusing to start
      const caFiles: string[] = [];
      for (const ca of config.caFiles) {
        const shipped = shippedCaFile(ca.written);
        const at = `${config.filePath}: probes.targets[${ca.target}].tls.caFile`;
        const clash = shipped === undefined ? undefined : buildOwnedClash(shipped);
        if (shipped === undefined)
          secrets.push(
            `${at}: give it relative to the operator file's folder, inside it (it is copied beside the operator file's copy)`,
          );
        // copied where the build's own files are, it would overwrite the function's code or configuration
        else if (clash) secrets.push(`${at}: ${clash}`);
        else caFiles.push(shipped);
      }
      const topology = topologyFor(flags);
      // a probe's ${VAR} the deployed probe function is not given: it would refuse to start, so refused here
      const probe = topology.functions.find((f) => f.name === 'probe');
      if (config.filePath && probe) {
        const given = [
          'OPS_ENV',
          'BACKUP_BUCKET',
          'EVENTS_TOPIC',
          'GOOGLE_CLOUD_PROJECT',
          'OPS_CONFIG',
          TIME_LIMIT_ENV,
        ];
        given.push(...Object.keys(probe.env), ...Object.keys(probe.secrets));
        const environment = Object.fromEntries(given.map((name) => [name, 'set']));
        for (const issue of unsetReferences(config.file, undefined, environment))
          secrets.push(
            `${config.filePath}: ${issue.replace(/, which is not set$/, ', which the probe function is not given (its env or secrets in infra/functions.yaml)')}`,
          );
      }
      if (secrets.length > 0)
        // names and field paths only, never a value: printed as they are (the masks would take `Authorization: names`)
        throw new UsageError(`cannot deploy the operator file: ${secrets.join('; ')}`, secrets, true);
      const script = deployCommands(topology, {
        project: flags.project,
        region: flags.region,
        dist: flags.dist,
        publicStatus: config.file.status.public,
        ...(config.filePath ? { opsConfig: config.filePath, caFiles } : {}),
      });
      process.stdout.write(script);
    });

  targetOptions(infra.command('plan'))
    .description(
      'Compare the topics, subscriptions and Scheduler jobs of infra/ with the project: what apply would create, update (field by field) or find undeclared',
    )
    .option('--prune', 'show undeclared mt-ops-* resources as deletions')
    .option('--json', 'print JSON')
    .action(async (flags: TargetFlags & { prune?: boolean; json?: boolean }) => {
      const topology = topologyFor(flags);
      const clients = await openCloudClients(flags.project);
      try {
        const plan = await planInfra(topology, clients, flags);
        process.stdout.write(
          flags.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan, { prune: Boolean(flags.prune) }),
        );
      } finally {
        await clients.close();
      }
    });

  targetOptions(infra.command('apply'))
    .description(
      'Create and update the topics, subscriptions and Scheduler jobs of infra/ in the project (safe to interrupt and run again); undeclared mt-ops-* resources are only reported, deleted with --prune',
    )
    .option('--prune', 'delete mt-ops-* topics, subscriptions and jobs that infra/ does not declare')
    .action(async (flags: TargetFlags & { prune?: boolean }) => {
      const topology = topologyFor(flags);
      const clients = await openCloudClients(flags.project);
      try {
        const done: Change[] = [];
        const plan = await applyInfra(topology, clients, flags, {
          prune: Boolean(flags.prune),
          onChange: (c) => {
            done.push(c);
            process.stderr.write(
              `${c.action === 'create' ? 'created' : c.action === 'delete' ? 'deleted' : c.action === 'replace' ? 'replaced' : 'updated'} ${c.kind} ${c.name}\n`,
            );
          },
        });
        process.stdout.write(formatPlan(plan, { prune: Boolean(flags.prune), applied: true }));
      } finally {
        await clients.close();
      }
    });

  targetOptions(infra.command('notify'))
    .description(
      'Publish deployment.succeeded (info) or deployment.failed (warning) to the events topic (the last step of cloudbuild.yaml)',
    )
    .requiredOption('--status <status>', 'succeeded or failed', (v: string) => {
      if (v !== 'succeeded' && v !== 'failed') throw new InvalidArgumentError('must be succeeded or failed');
      return v;
    })
    .option('--step <name>', 'the step that failed')
    .option('--reason <text>', 'why it failed', 'the step failed')
    .option('--commit <sha>', 'the commit deployed')
    .option('--build <id>', 'the Cloud Build id')
    .action(
      async (
        flags: TargetFlags & {
          status: 'succeeded' | 'failed';
          step?: string;
          reason: string;
          commit?: string;
          build?: string;
        },
      ) => {
        const topology = topologyFor(flags);
        const config = loadConfig();
        const bus = openBus(
          {
            env: { ...config.env, GOOGLE_CLOUD_PROJECT: flags.project, OPS_EVENTS: config.env.OPS_EVENTS ?? 'pubsub' },
          },
          { topic: topology.eventsTopic },
        );
        const common = {
          env: topology.project.env,
          time: new Date().toISOString(),
          project: flags.project,
          region: flags.region,
          ...(flags.commit ? { commit: flags.commit } : {}),
          ...(flags.build ? { build: flags.build } : {}),
        };
        try {
          const id =
            flags.status === 'succeeded'
              ? await bus.deliver({ type: 'deployment.succeeded', severity: 'info', ...common })
              : await bus.deliver({
                  type: 'deployment.failed',
                  severity: 'warning',
                  ...common,
                  step: flags.step ?? 'unknown',
                  reason: flags.reason,
                });
          process.stdout.write(`published deployment.${flags.status} to ${topology.eventsTopic} (message ${id})\n`);
        } finally {
          await bus.close();
        }
      },
    );
}
