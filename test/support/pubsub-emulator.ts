import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { freePort } from './postgres-server';

const JAR_DIR = '/usr/lib/google-cloud-sdk/platform/pubsub-emulator/lib';

/** The official Pub/Sub emulator jar, when installed. */
export function emulatorJar(): string | undefined {
  if (!existsSync(JAR_DIR)) return undefined;
  const jar = readdirSync(JAR_DIR).find((f) => /^cloud-pubsub-emulator-.*-all\.jar$/.test(f));
  return jar ? join(JAR_DIR, jar) : undefined;
}

export interface PubSubEmulator {
  /** host:port for PUBSUB_EMULATOR_HOST / apiEndpoint */
  host: string;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts the emulator on a free port and waits until it accepts connections. */
export async function startPubSubEmulator(): Promise<PubSubEmulator> {
  const jar = emulatorJar();
  if (!jar) throw new Error(`the Pub/Sub emulator jar is not installed (${JAR_DIR})`);
  const port = await freePort();
  const child: ChildProcess = spawn('java', ['-jar', jar, '--host=127.0.0.1', `--port=${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 30_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the Pub/Sub emulator did not start: ${stderr.slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(t);
          r(null);
        });
      });
    },
  };
}
