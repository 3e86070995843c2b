/** `npm start` as operators run it: a second one on a busy port, and stopping it through npm's own pid. */
import { describe, it, expect } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../support/temp';
import { freePort } from '../support/postgres-server';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function npmStart(
  port: number,
  extraEnv: Record<string, string> = {},
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  // Its own process group (detached), so a signal reaches npm only unless npm passes it on.
  const child = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      PORT: String(port),
      BACKUP_BUCKET: `file://${tempDir()}`,
      OPS_CONFIG: '',
      DATABASE_URL: '',
      LOG_LEVEL: 'info',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code, signal) => r(code ?? (signal ? -1 : null))),
  );
  return { child, output: () => out, exited };
}

async function listening(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: () => boolean | Promise<boolean>, ms: number, why: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error(why());
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('npm start', () => {
  it('a second one on the same port says so in one line and exits 2', async () => {
    const port = await freePort();
    const first = npmStart(port);
    try {
      await waitFor(
        () => first.output().includes('listening on'),
        60_000,
        () => `did not start: ${first.output()}`,
      );
      const second = npmStart(port);
      const code = await second.exited;
      expect(second.output()).toContain(`mt-ops: port ${port} is in use; set PORT`);
      expect(second.output()).not.toMatch(/\n\s+at |EADDRINUSE/);
      expect(code).toBe(2);
    } finally {
      try {
        process.kill(-first.child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });

  it('PUBSUB_EMULATOR_HOST left set with no emulator there: one line saying so, exit 2 (it hung, printing nothing)', async () => {
    const [port, dead] = [await freePort(), await freePort()];
    const run = npmStart(port, { PUBSUB_EMULATOR_HOST: `127.0.0.1:${dead}` });
    try {
      const code = await Promise.race([run.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
      expect(code, run.output()).toBe(2);
      expect(run.output()).toContain(
        `mt-ops: PUBSUB_EMULATOR_HOST: nothing answers at 127.0.0.1:${dead} (is the emulator running? unset it for the in-process bus)`,
      );
      expect(run.output()).not.toMatch(/\n\s+at /);
    } finally {
      try {
        process.kill(-run.child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });

  it('a bad SMTP_URL is refused at start in one line, exit 2, nothing left listening or running', async () => {
    // It was only checked when the fan-out first ran: the server listened and ran its schedules, printed no banner,
    // and the refusal ("mt-ops: SMTP_URL: ...") came out while it went on running, never exiting.
    const port = await freePort();
    const run = npmStart(port, {
      SMTP_URL: 'mail.example.com:25',
      ALERT_EMAIL_FROM: 'ops@example.com',
      ALERT_EMAIL_TO: 'oncall@example.com',
    });
    try {
      const code = await Promise.race([run.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
      expect(code, run.output()).toBe(2);
      expect(run.output()).toContain('SMTP_URL: must be smtp://[user:pass@]host[:port] or smtps://...');
      expect(run.output()).not.toContain('listening on');
      expect(run.output()).not.toMatch(/\n\s+at /);
      expect(await listening(port)).toBe(false);
    } finally {
      try {
        process.kill(-run.child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });

  it('a probe naming a ${VAR} that is not set is refused at start: exit 2, the field path, nothing listening', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'ops.json'),
      JSON.stringify({
        probes: [{ name: 'api', url: 'http://127.0.0.1:9/h', headers: { 'X-Key': '${MT_NO_SUCH_VAR}' } }],
      }),
    );
    const port = await freePort();
    const run = npmStart(port, { OPS_CONFIG: join(dir, 'ops.json') });
    try {
      const code = await Promise.race([run.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
      expect(code, run.output()).toBe(2);
      expect(run.output()).toContain('probes[0].headers.X-Key: names ${MT_NO_SUCH_VAR}, which is not set');
      expect(run.output()).not.toContain('listening on');
      expect(await listening(port)).toBe(false);
    } finally {
      try {
        process.kill(-run.child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });

  // npm passes SIGINT and SIGTERM on to its script's process; the script `exec`s node, so no shell sits between them
  // that would swallow the signal (with `sh -c node ...`, SIGINT to npm left both running).
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s to npm alone stops the server too (nothing left listening)',
    async (signal) => {
      const port = await freePort();
      const run = npmStart(port);
      try {
        await waitFor(
          () => run.output().includes('listening on'),
          60_000,
          () => `did not start: ${run.output()}`,
        );
        expect(await listening(port)).toBe(true);
        process.kill(run.child.pid!, signal);
        await run.exited;
        await waitFor(
          async () => !(await listening(port)),
          10_000,
          () => `still listening on ${port} after npm exited: ${run.output()}`,
        );
      } finally {
        try {
          process.kill(-run.child.pid!, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
  );
});
