/** `mt-ops config`: the effective configuration, checked, with secrets masked. */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { PROBE_CONCURRENCY, probesOf, resolveProbe, unsetReferences } from '../../probes/config';
import { redactValue } from '../../log/redact';
import { stringify as stringifyYaml } from 'yaml';

export function registerConfigCommand(program: Command): void {
  program
    .command('config')
    .description('Validate the configuration (environment and OPS_CONFIG file) and print it, secrets masked')
    .option('--json', 'print JSON (default: YAML)')
    // with --json, a bad configuration's problems are printed on stdout as JSON too (main.ts, for every command)
    .action(printConfig);
}

/** The configuration, checked, printed with secrets masked: YAML, or JSON with --json. */
async function printConfig(opts: { json?: boolean }): Promise<void> {
  // checked as what runs the probes checks it: a probe naming an unset variable is refused
  const config = loadConfig(process.env, { check: unsetReferences });
  // the schedule overrides are keyed by what infra/ declares: checked as `npm start` checks them
  const { loadWiring, scheduleOverrides } = await import('../../infra/wiring');
  scheduleOverrides(loadWiring().jobs, config.file.schedules);
  // the probes that run: the file's, or (none named there) the defaults, shown as such rather than as nothing; an
  // empty list is none
  const written = config.file.probes?.targets;
  const targets = probesOf(config.file.probes, config.env);
  const probes = {
    concurrency: config.file.probes?.concurrency ?? PROBE_CONCURRENCY.default,
    ...(written === undefined ? { targetsFrom: 'the defaults (the operator file names no probes)' } : {}),
    ...(written?.length === 0 ? { targetsFrom: 'none (the operator file lists no probes)' } : {}),
    targets,
  };
  // resolved as a run resolves them, so that the values their `${VAR}`s name are registered as secrets and masked
  // wherever they appear in what is printed (a condition's literal, say)
  for (const p of targets) resolveProbe(p, process.env);
  const shown = redactValue({
    file: config.filePath ?? '(defaults)',
    env: config.env,
    config: { ...config.file, probes },
  });
  // YAML for people (the operator file's own format), JSON for tools
  process.stdout.write(opts.json ? `${JSON.stringify(shown, null, 2)}\n` : stringifyYaml(shown));
}
