/**
 * The official Pub/Sub emulator (a Java jar shipped with the Cloud SDK) for tests against the real protocol.
 *
 *   const skip = emulatorSkipReason();
 *   if (skip) console.warn(`skipping ...: ${skip}`);
 *   describe.skipIf(!emulatorJar())('...', () => { const emulator = await startPubSubEmulator(); ... emulator.host ... });
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { freePort } from './postgres-server';

const JAR_DIR = '/usr/lib/google-cloud-sdk/platform/pubsub-emulator/lib';
const JAR = /^cloud-pubsub-emulator-(.*)-all\.jar$/;

function findJar(): string | undefined {
  if (process.env.PUBSUB_EMULATOR_JAR)
    return existsSync(process.env.PUBSUB_EMULATOR_JAR) ? process.env.PUBSUB_EMULATOR_JAR : undefined;
  if (!existsSync(JAR_DIR)) return undefined;
  // The newest version when several are installed.
  const jars = readdirSync(JAR_DIR)
    .filter((f) => JAR.test(f))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const jar = jars.at(-1);
  return jar ? join(JAR_DIR, jar) : undefined;
}

let javaChecked: boolean | undefined;
function haveJava(): boolean {
  javaChecked ??= spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0;
  return javaChecked;
}

/** Why the emulator cannot run here, or undefined when it can. */
export function emulatorSkipReason(): string | undefined {
  if (!findJar())
    return `the Pub/Sub emulator jar is not installed (${JAR_DIR}/cloud-pubsub-emulator-*-all.jar; gcloud components install pubsub-emulator, or set PUBSUB_EMULATOR_JAR)`;
  if (!haveJava()) return 'java is not on PATH (the Pub/Sub emulator needs a JRE)';
  return undefined;
}

/** The emulator jar, when it is installed and java can run it; suites use `describe.skipIf(!emulatorJar())`. */
export function emulatorJar(): string | undefined {
  return emulatorSkipReason() ? undefined : findJar();
}

export interface PubSubEmulator {
  /** `127.0.0.1:PORT`, for PUBSUB_EMULATOR_HOST or the client's `apiEndpoint` (with `emulatorMode: true`). */
  host: string;
  /** Stops the emulator (SIGTERM, then SIGKILL after 3 s); safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Resolves true once the emulator answers HTTP on the port (it serves REST and gRPC there), else why not (`ECONNREFUSED`,
 * `no answer within 1 s`), for the error when it never does.
 */
function answers(port: number): Promise<true | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    let why: string | undefined;
    req.once('timeout', () => {
      why = 'no answer within 1 s';
      req.destroy();
    });
    req.once('error', (err: NodeJS.ErrnoException) => resolve(why ?? err.code ?? err.message));
    req.end();
  });
}

const running = new Set<ChildProcess>();
let exitHook = false;

/** Starts the emulator on a free port and waits until it answers; killed when the test process exits, at the latest. */
export async function startPubSubEmulator(options: { timeoutMs?: number } = {}): Promise<PubSubEmulator> {
  const reason = emulatorSkipReason();
  if (reason) throw new Error(`cannot start the Pub/Sub emulator: ${reason}`);
  const port = await freePort();
  const child = spawn('java', ['-jar', findJar()!, '--host=127.0.0.1', `--port=${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  // what it printed first (why it failed, when it did: a bind error, an exception's message) and last
  let head = '';
  let output = '';
  const collect = (d: Buffer) => {
    if (head.length < 1500) head = (head + String(d)).slice(0, 1500);
    output = (output + String(d)).slice(-4000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };

  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 30_000);
  for (let answer = await answers(port); answer !== true; answer = await answers(port)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const exited = child.exitCode !== null ? `it exited (${child.exitCode})` : `still running`;
      await stop();
      throw new Error(
        `the Pub/Sub emulator did not start on port ${port} in ${Date.now() - started} ms (${exited}; the last try: ${answer}); ` +
          `it printed first: ${head.slice(0, 1500)}\n... and last: ${output.slice(-1000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return { host: `127.0.0.1:${port}`, stop };
}
