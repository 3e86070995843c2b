/** Runs the real CLI as a child process for tests. */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp';

export const CLI = fileURLToPath(new URL('../../bin/mt-ops.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process (as an operator would), from source. */
export function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      env: { ...process.env, LOG_LEVEL: 'warn', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** Whether the CLI can be run as an unprivileged user here (root reads and writes whatever the modes say). */
export const canDropPrivileges =
  process.getuid?.() === 0 &&
  spawnSync('setpriv', [...NOBODY, process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(CLI)})`])
    .status === 0;

/** The real CLI run as nobody (setpriv), from source. */
export function runAsNobody(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', [...NOBODY, process.execPath, CLI, ...args], {
      env: { ...process.env, LOG_LEVEL: 'warn', HOME: '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * The CLI's variables for an operator file (written as JSON in a folder of its own, the bucket beside it), with no
 * Google project and no Pub/Sub emulator: what a run by hand on an operator's machine sees.
 */
export function operatorFileEnv(file: object, prefix = 'mt-cli-') {
  const dir = tempDir(prefix);
  const path = join(dir, 'ops.json');
  writeFileSync(path, JSON.stringify(file));
  return {
    OPS_CONFIG: path,
    BACKUP_BUCKET: `file://${dir}/bucket`,
    OPS_ENV: 'prod',
    GOOGLE_CLOUD_PROJECT: '',
    PUBSUB_EMULATOR_HOST: '',
  };
}
