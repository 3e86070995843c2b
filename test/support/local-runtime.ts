/** The local runtime (`bin/start.js`, what `npm start` execs) as a child process in a folder of its own, started and awaited by its banner. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './postgres-server';

const START = fileURLToPath(new URL('../../bin/start.js', import.meta.url));

export interface LocalRuntime {
  child: ChildProcess;
  port: number;
  /** From the banner's `listening on` line. */
  url: string;
  /** stdout and stderr as they arrived. */
  output: () => string;
  /** The banner and what else goes to stdout. */
  stdout: () => string;
  /** The log records (stderr). */
  logs: () => string;
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

export async function startLocalRuntime(cwd: string, env: Record<string, string>): Promise<LocalRuntime> {
  const port = await freePort();
  const child = spawn(process.execPath, [START], {
    cwd,
    env: {
      ...process.env,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      BACKUP_BUCKET: '',
      OPS_CONFIG: '',
      OPS_API_TOKEN: '',
      HOST: '',
      DATABASE_URL: '',
      METADATA_SERVER_DETECTION: 'none',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  let logs = '';
  child.stdout!.on('data', (d) => ((output += d), (stdout += d)));
  child.stderr!.on('data', (d) => ((output += d), (logs += d)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (stdout.includes('listening on')) resolve();
      else if (child.exitCode !== null) reject(new Error(`did not start: ${output}`));
    };
    child.stdout!.on('data', check);
    child.once('exit', check);
    check();
  });
  return {
    child,
    port,
    url: /listening on (http:\/\/\S+)/.exec(stdout)![1]!,
    output: () => output,
    stdout: () => stdout,
    logs: () => logs,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
